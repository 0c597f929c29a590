"""The composition of the controllers over one store and one work queue, and what each watch
event means for them. The kopf handlers in bulkhead.operator call these methods and nothing
else."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bulkhead.api.constants import GROUP, LABEL_BATCHJOB, NAMESPACE_NOT_ALLOWED, VERSION, Key
from bulkhead.api.views import Malformed
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.batchjob import BatchJobController
from bulkhead.controllers.dependency import DependencyController
from bulkhead.kube import Kube
from bulkhead.metrics import Metrics
from bulkhead.runtime.leader import LeaderElector
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.settings import WORKERS
from bulkhead.state.store import Store, fill, once, put_body

log = logging.getLogger(__name__)

# What the store is filled with at startup: kind, path, label selector.
LISTED = (
    ("batchjobs", f"/apis/{GROUP}/{VERSION}/batchjobs", ""),
    ("jobs", "/apis/batch/v1/jobs", LABEL_BATCHJOB),
    ("dependencies", f"/apis/{GROUP}/{VERSION}/dependencies", ""),
    ("namespaces", "/api/v1/namespaces", ""),
)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Manager:
    def __init__(
        self, kube: Kube, metrics: Metrics, clock: Callable[[], datetime] = wall_clock
    ) -> None:
        self.kube = kube
        self.store = Store()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.dependencies = DependencyController(kube, self.store, metrics, clock)
        self.admission = AdmissionController(self.store, self.queue, self.dependencies, clock)
        self.batchjobs = BatchJobController(
            kube, metrics, self.store, self.queue, self.admission, clock
        )
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------

    def start(
        self, elector: LeaderElector | None = None, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        """Decide from now on (one process); or, given `elector`, stand by (the watches keep
        the store warm) until it wins the lease, decide while it holds it, and call `on_lost()`
        once it no longer does (its writes are refused from that instant on, see Kube)."""
        self._metrics.count_phases(self._count_phases)
        if elector is None:
            self._tasks = [asyncio.create_task(self._lead())]
        else:
            self._tasks = [asyncio.create_task(self._elect(elector, on_lost))]

    async def _elect(self, elector: LeaderElector, on_lost: Callable[[], None]) -> None:
        self._metrics.leader.set(0)
        await elector.run(self._lead)
        self._metrics.leader.set(0)
        log.error("%s lost the lease; it stops deciding", elector.identity)
        on_lost()

    async def _lead(self) -> None:
        """Decide until cancelled: the store filled from a fresh listing (a standby's watches
        may lag the last writes of the leader before it), then the workers and admission."""
        self._metrics.leader.set(1)
        await asyncio.gather(
            self._fill(), self.admission.run(), *(self._worker() for _ in range(WORKERS))
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _count_phases(self) -> Counter[str]:
        return Counter(bj.phase or "Pending" for bj in self.store.all_batchjobs())

    async def _fill(self) -> None:
        """One paginated LIST per resource, so the store is complete before any decision."""
        while True:
            try:
                for kind, path, selector in LISTED:
                    fill(self.store, kind, await self.kube.list_items(path, selector))
                break
            except Exception:
                log.exception("listing at startup failed; retrying in 2s")
                await asyncio.sleep(2)
        self.store.mark_ready()
        for bj in self.store.all_batchjobs():
            self.queue.add(bj.key)
        self.admission.poke()

    async def _worker(self) -> None:
        await self.store.ready.wait()
        while True:
            key = await self.queue.get()
            try:
                self._metrics.reconciles.inc()
                await self.batchjobs.reconcile(key)
            except Exception:
                log.exception("reconcile of %s/%s failed; retrying in 5s", *key)
                self.queue.add_after(key, 5.0)
            finally:
                self.queue.done(key)

    # --- what the watches saw --------------------------------------------------------------

    def _put(self, kind: str, deleted: bool, body: Any) -> tuple[Any, Any] | None:
        """Into the store; None (logged once) for an object that is malformed."""
        try:
            return put_body(self.store, kind, body, deleted=deleted)
        except Malformed as error:
            meta = body.get("metadata") if isinstance(body, Mapping) else None
            name = meta.get("uid") or meta.get("name") if isinstance(meta, Mapping) else None
            once.warning((kind, name), "%s", error)
            return None

    def batchjob_event(self, deleted: bool, body: Any) -> None:
        if put := self._put("batchjobs", deleted, body):
            self.queue.add(put[0])

    def job_event(self, deleted: bool, body: Any) -> None:
        if (put := self._put("jobs", deleted, body)) is None:
            return
        key, view = put
        if deleted:
            self.batchjobs.job_gone(key, view)
        self.queue.add(key)
        self.admission.poke()

    def dependency_event(self, deleted: bool, body: Any) -> None:
        """A Dependency appeared, changed or went: its users may start, or wait for other
        reasons. Its own status writes (generation unchanged) need no look at the users."""
        if (put := self._put("dependencies", deleted, body)) is None:
            return
        name, view = put
        self.admission.poke()
        if not self.dependencies.generation_changed(name, None if deleted else view.generation):
            return
        for bj in self.store.all_batchjobs():
            if any(u.get("dependency") == name for u in bj.spec.get("uses") or []):
                self.queue.add(bj.key)

    def namespace_event(self, deleted: bool, body: Any) -> None:
        """Namespace labels decide allowedNamespaces: look again at the ones refused."""
        if (put := self._put("namespaces", deleted, body)) is None:
            return
        for bj in self.store.all_batchjobs():
            if bj.namespace == put[0] and bj.reason == NAMESPACE_NOT_ALLOWED:
                self.queue.add(bj.key)
