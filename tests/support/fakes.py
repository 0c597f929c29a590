"""Fakes of the API server for the unit tier: what the operator's controllers write (FakeKube),
and what its listings and watches are told (ListingKube)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bulkhead.api.views import BatchJobView, JobView
from bulkhead.kube.errors import Conflict, Gone
from bulkhead.operator import LISTED

from tests.support.factories import make_operator

# A BatchJob as the API server stores it: the one FakeKube's reconciles are about.
METADATA = {
    "namespace": "billing",
    "name": "nightly-invoices",
    "uid": "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21",
    "generation": 1,
    "creationTimestamp": "2026-11-18T01:00:00Z",
}


class FakeKube:
    """Records what the controller writes; the API server side of a reconcile."""

    def __init__(self) -> None:
        self.status_patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []
        self.created: list[dict[str, Any]] = []
        self.network_policies: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []  # "<verb> <Kind>", in order
        # (namespace, name) -> the Secret's keys and their text, for signals' credentials
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.secret_reads: list[str] = []  # "<namespace>/<name> <key>", in order

    async def patch_batchjob_status(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.status_patches.append(patch)
        return True

    def may_write(self) -> bool:  # the leader elector's, in the real client
        return True

    async def post_event(self, involved: dict[str, Any], kind: str, reason: str, msg: str) -> None:
        self.events.append((kind, reason))

    async def create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        self.created.append(job)
        self.writes.append("create Job")
        return job

    async def create_network_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        name = policy["metadata"]["name"]
        if name in self.network_policies:
            raise Conflict(name)
        stored = {**policy, "metadata": {**policy["metadata"], "uid": "np", "resourceVersion": "1"}}
        self.network_policies[name] = stored
        self.writes.append("create NetworkPolicy")
        return stored

    async def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.network_policies.get(name)

    async def replace_network_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        stored = {**policy, "metadata": {**policy["metadata"], "uid": "np"}}
        self.network_policies[policy["metadata"]["name"]] = stored
        self.writes.append("replace NetworkPolicy")
        return stored

    async def delete_network_policy(self, namespace: str, name: str, uid: str) -> None:
        del self.network_policies[name]
        self.writes.append("delete NetworkPolicy")

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        self.secret_reads.append(f"{namespace}/{name} {key}")
        return self.secrets.get((namespace, name), {}).get(key)


def reconcile_view(view: BatchJobView, jobs: Sequence[JobView] = ()) -> FakeKube:
    """One reconcile of `view` by a fresh operator whose store holds it and `jobs`: what it
    wrote."""
    kube = FakeKube()
    operator = make_operator(kube)
    operator.deps.store.put_batchjob(view.key, view)
    for job in jobs:
        operator.deps.store.put_job(view.key, job.name, job)
    asyncio.run(operator.batchjobs.reconcile(view.key))
    return kube


# The BatchJob ListingKube lists, and the units each of its Jobs holds (job()).
OWNER = {"namespace": "billing", "name": "a", "uid": "u1"}
USES = '[{"dependency":"orders-db","units":1}]'


def job(name: str) -> dict[str, Any]:
    """An unfinished Job that BatchJob billing/a controls, holding 1 unit of orders-db."""
    return {
        "metadata": {
            "namespace": "billing",
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"bulkhead.dev/batchjob": "a"},
            "annotations": {"bulkhead.dev/uses": USES},
            "creationTimestamp": "2026-11-23T02:00:00Z",
            "ownerReferences": [{"kind": "BatchJob", "name": "a", "uid": "u1", "controller": True}],
        },
        "status": {"active": 1},
    }


class ListingKube:
    """The API server's side of listings and watches: what each path lists now (at version
    "v<n>", n counting listings), and for each path the watches to hand out in turn, each a
    list of events or Gone; past the last, a watch waits for `plan` to add one."""

    def __init__(self) -> None:
        self.items: dict[str, list[dict[str, Any]]] = {path: [] for path, _ in LISTED.values()}
        self.items[LISTED["batchjobs"][0]] = [{"metadata": OWNER, "spec": {"image": "x"}}]
        self.watches: dict[str, list[list[tuple[str, dict[str, Any]]] | type[Gone]]] = {}
        self.listings = 0
        self.watched_from: list[tuple[str, str]] = []  # (path, version) of each watch
        self._planned = asyncio.Event()

    def plan(self, path: str, *watches: list[tuple[str, dict[str, Any]]] | type[Gone]) -> None:
        self.watches.setdefault(path, []).extend(watches)
        self._planned.set()

    async def list_pages(
        self, path: str, label_selector: str = ""
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        await asyncio.sleep(0)  # a real listing lets watch events in meanwhile
        self.listings += 1
        yield list(self.items[path]), f"v{self.listings}"

    async def watch(
        self, path: str, label_selector: str, version: str, timeout: float, client_timeout: float
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.watched_from.append((path, version))
        while not self.watches.get(path):
            self._planned.clear()
            await self._planned.wait()
        events = self.watches[path].pop(0)
        if events is Gone:
            raise Gone(path)
        for event in events:
            yield event
