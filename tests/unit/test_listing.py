"""The operator's own listings: after kopf re-lists a kind (its watch resumed with 410 Gone)
and in the periodic resync, what vanished unseen is deleted, and a watch that tells nothing
while the listings keep finding changes is reported stuck (the liveness check)."""

from __future__ import annotations

import asyncio
from typing import Any

from bulkhead.controllers.manager import LISTED, Manager
from bulkhead.metrics import Metrics

OWNER = {"namespace": "billing", "name": "a", "uid": "u1"}
USES = '[{"dependency":"orders-db","units":1}]'
JOBS, BATCHJOBS = LISTED["jobs"][0], LISTED["batchjobs"][0]


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
    """The API server's side of listings: what each path lists now."""

    def __init__(self) -> None:
        self.items: dict[str, list[dict[str, Any]]] = {path: [] for path, _ in LISTED.values()}
        self.items[BATCHJOBS] = [{"metadata": OWNER, "spec": {"image": "x"}}]

    async def list_items(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        await asyncio.sleep(0)  # a real listing lets watch events in meanwhile
        return list(self.items[path])


def holders(manager: Manager) -> list[str]:
    return sorted(h.job for h in manager.store.holders("orders-db"))


def test_a_job_deleted_while_the_watch_was_gone_frees_its_units_when_kopf_relists() -> None:
    kube = ListingKube()
    kube.items[JOBS] = [job("a-1"), job("a-2")]
    manager = Manager(kube, Metrics())  # type: ignore[arg-type]

    async def scenario() -> list[str]:
        await manager._fill()
        relister = asyncio.create_task(manager._relister())
        manager.event("jobs", "MODIFIED", job("a-2"))  # the watch streams
        kube.items[JOBS] = [job("a-2")]  # a-1 deleted while the watch was away: no DELETED
        manager.event("jobs", None, job("a-2"))  # kopf's listing after 410 Gone
        for _ in range(10):
            await asyncio.sleep(0)
        relister.cancel()
        return holders(manager)

    assert asyncio.run(scenario()) == ["a-2"]


def test_kopf_s_first_listing_of_a_watch_lists_nothing_again() -> None:
    kube = ListingKube()
    manager = Manager(kube, Metrics())  # type: ignore[arg-type]

    async def scenario() -> list[str]:
        await manager._fill()
        kube.items[JOBS] = [job("a-1")]  # only kopf's listing shows it, no watch event yet
        manager.event("jobs", None, job("a-1"))
        manager.event("jobs", None, job("a-1"))
        return holders(manager)

    assert asyncio.run(scenario()) == ["a-1"]
    assert not manager._relist_wanted.is_set()


def test_a_watch_that_tells_nothing_while_two_resyncs_find_changes_is_stuck() -> None:
    kube = ListingKube()
    manager = Manager(kube, Metrics())  # type: ignore[arg-type]

    async def scenario() -> list[list[str]]:
        await manager._fill()
        seen = []
        kube.items[JOBS] = [job("a-1")]  # created; the watch tells nothing
        await manager.resync()
        seen.append(manager.stuck_watches())
        kube.items[JOBS] = []  # deleted; the watch tells nothing again
        await manager.resync()
        seen.append(manager.stuck_watches())
        manager.event("jobs", "ADDED", job("a-2"))  # it streams again
        kube.items[JOBS] = [job("a-2"), job("a-3")]
        await manager.resync()
        seen.append(manager.stuck_watches())
        return seen

    assert asyncio.run(scenario()) == [[], ["jobs"], []]


def test_changes_a_resync_finds_while_the_watch_streams_are_lag_not_a_stuck_watch() -> None:
    kube = ListingKube()
    manager = Manager(kube, Metrics())  # type: ignore[arg-type]

    async def scenario() -> list[str]:
        await manager._fill()
        for name in ("a-1", "a-2", "a-3"):
            kube.items[JOBS].append(job(name))  # listed before the watch's event arrives
            await manager.resync()
            manager.event("jobs", "ADDED", job(name))
        return manager.stuck_watches()

    assert asyncio.run(scenario()) == []


def test_a_change_the_watch_missed_is_stored_and_its_batchjob_reconciled_after_a_resync() -> None:
    kube = ListingKube()
    manager = Manager(kube, Metrics())  # type: ignore[arg-type]

    async def scenario() -> tuple[list[tuple[str, str]], str]:
        await manager._fill()
        key = await manager.queue.get()  # the startup enqueues every BatchJob
        manager.queue.done(key)
        kube.items[BATCHJOBS] = [{**kube.items[BATCHJOBS][0], "status": {"phase": "Running"}}]
        await manager.resync()
        queued = [await asyncio.wait_for(manager.queue.get(), 1)]
        view = manager.store.batchjob(("billing", "a"))
        return queued, view.phase if view else ""

    assert asyncio.run(scenario()) == ([("billing", "a")], "Running")
