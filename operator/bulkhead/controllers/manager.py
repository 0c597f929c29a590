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
from bulkhead.settings import RESYNC_PERIOD, WORKERS
from bulkhead.state.store import Store, fill, once, put_body

log = logging.getLogger(__name__)

# What the store lists (at startup, in this order, and again after a watch's 410 Gone):
# kind -> path, label selector.
LISTED = {
    "batchjobs": (f"/apis/{GROUP}/{VERSION}/batchjobs", ""),
    "jobs": ("/apis/batch/v1/jobs", LABEL_BATCHJOB),
    "dependencies": (f"/apis/{GROUP}/{VERSION}/dependencies", ""),
    "namespaces": ("/api/v1/namespaces", ""),
}


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
        self._watched: set[str] = set()  # kinds whose watch has streamed an event
        self._heard: set[str] = set()  # kinds with a watch event since their last resync
        self._silent_drift: Counter[str] = Counter()  # resyncs in a row: see stuck_watches
        self._listing = {kind: asyncio.Lock() for kind in LISTED}
        self._relist: set[str] = set()  # kinds to list again
        self._relist_wanted = asyncio.Event()

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
        may lag the last writes of the leader before it), then the workers and admission, and
        the listings again after a 410 Gone and every resync period."""
        self._metrics.leader.set(1)
        await asyncio.gather(
            self._fill(),
            self.admission.run(),
            self._relister(),
            self._resync(),
            *(self._worker() for _ in range(WORKERS)),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _count_phases(self) -> Counter[str]:
        return Counter(bj.phase or "Pending" for bj in self.store.all_batchjobs())

    async def _list(self, kind: str) -> int:
        """One paginated LIST of `kind` into the store; what it no longer shows is deleted
        (Store.end_listing), with what a DELETED event of it would do. Returns how many
        changes it found that no watch event had told."""
        path, selector = LISTED[kind]
        async with self._listing[kind]:
            self.store.begin_listing(kind)
            # a failed listing stays open, deleting nothing, until the next one begins it again
            listed = fill(self.store, kind, await self.kube.list_items(path, selector))
            listing = self.store.end_listing(kind, listed)
        for key, view in listing.gone:
            self._react(kind, True, key, view)
        if self.store.ready.is_set():  # at startup every BatchJob is enqueued anyway
            for key, view in listing.changed:
                self._react(kind, False, key, view)
        return listing.drift

    async def _fill(self) -> None:
        """One paginated LIST per resource, so the store is complete before any decision."""
        while True:
            try:
                for kind in LISTED:
                    await self._list(kind)
                break
            except Exception:
                log.exception("listing at startup failed; retrying in 2s")
                await asyncio.sleep(2)
        self.store.mark_ready()
        for bj in self.store.all_batchjobs():
            self.queue.add(bj.key)
        self.admission.poke()

    def relisted(self, kind: str) -> None:
        """kopf listed `kind` again: its watch resumed with 410 Gone (resourceVersion too old),
        and kopf's listing tells what exists, never what was deleted in the gap. So the store
        lists that kind again itself. The first listing of each watch (at start) needs none:
        the startup listing covers it."""
        if kind not in self._watched:
            return
        self._relist.add(kind)
        self._relist_wanted.set()

    async def _relister(self) -> None:
        await self.store.ready.wait()
        while True:
            await self._relist_wanted.wait()
            self._relist_wanted.clear()
            kinds, self._relist = self._relist, set()
            for kind in kinds:
                try:
                    await self._list(kind)
                    log.info("listed %s again after its watch resumed with 410 Gone", kind)
                except Exception:
                    log.exception("listing %s again failed; retrying in 2s", kind)
                    self._relist.add(kind)
                    self._relist_wanted.set()
                    await asyncio.sleep(2)

    async def _resync(self) -> None:
        """Every RESYNC_PERIOD seconds, each kind is listed again: what a watch missed, by a
        kopf bug or a watch that hangs, is repaired within one period, and `stuck_watches`
        learns which watch misses changes."""
        await self.store.ready.wait()
        while True:
            await asyncio.sleep(RESYNC_PERIOD)
            await self.resync()

    async def resync(self) -> None:
        """Lists each kind again; a kind whose listing fails is tried next time."""
        for kind in LISTED:
            heard = kind in self._heard
            self._heard.discard(kind)
            try:
                drift = await self._list(kind)
            except Exception:
                log.exception("listing %s to resync failed; next try in one period", kind)
                continue
            if drift:
                log.warning("resync of %s found %d changes no watch event told", kind, drift)
            self._silent_drift[kind] = self._silent_drift[kind] + 1 if drift and not heard else 0

    def stuck_watches(self) -> list[str]:
        """The kinds whose watch looks stuck: two resyncs in a row found changes it had not
        told, and it told nothing at all in between. (A watch that lags under load still
        tells something; one change listed a moment before its event arrives happens once.)"""
        return sorted(kind for kind, count in self._silent_drift.items() if count >= 2)

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

    def event(self, kind: str, type_: str | None, body: Any) -> None:
        """A watch event of `kind` ("batchjobs", "jobs", "dependencies", "namespaces"):
        type_ ADDED, MODIFIED, DELETED, or None for an object kopf listed."""
        self._heard.add(kind)
        if type_ is None:
            self.relisted(kind)
        else:
            self._watched.add(kind)
        deleted = type_ == "DELETED"
        if put := self._put(kind, deleted, body):
            self._react(kind, deleted, *put)

    def _react(self, kind: str, deleted: bool, key: Any, view: Any) -> None:
        """What a change of an object, already in the store, means for the controllers."""
        if kind == "batchjobs":
            self.queue.add(key)
        elif kind == "jobs":
            self._job_changed(deleted, key, view)
        elif kind == "dependencies":
            self._dependency_changed(deleted, key, view)
        else:
            self._namespace_changed(key)

    def _job_changed(self, deleted: bool, key: Key, view: Any) -> None:
        if deleted:
            self.batchjobs.job_gone(key, view)
        self.queue.add(key)
        self.admission.poke()

    def _dependency_changed(self, deleted: bool, name: str, view: Any) -> None:
        """A Dependency appeared, changed or went: its users may start, or wait for other
        reasons. Its own status writes (generation unchanged) need no look at the users."""
        self.admission.poke()
        if not self.dependencies.generation_changed(name, None if deleted else view.generation):
            return
        for bj in self.store.all_batchjobs():
            if any(u.get("dependency") == name for u in bj.spec.get("uses") or []):
                self.queue.add(bj.key)

    def _namespace_changed(self, name: str) -> None:
        """Namespace labels decide allowedNamespaces: look again at the ones refused."""
        for bj in self.store.all_batchjobs():
            if bj.namespace == name and bj.reason == NAMESPACE_NOT_ALLOWED:
                self.queue.add(bj.key)
