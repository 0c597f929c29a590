"""The composition of the controllers over one store and one work queue, the watches that fill
the store, and what each watch event means for the controllers.

The watches are the operator's own (client-go's reflector: list, then watch from the listing's
version, list again after 410 Gone), not kopf's: kopf spends on every event a deep copy of the
object for change detection no handler here uses, and its handler machinery; profiled at
N=1,000 BatchJobs, 8,035 events cost 77 s of 113 s of operator CPU in kopf, 7 s in the
controllers (cProfile, bench/run.py with BENCH_PROFILE)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bulkhead.api.constants import GROUP, LABEL_BATCHJOB, NAMESPACE_NOT_ALLOWED, VERSION, Key
from bulkhead.api.views import JobView, Malformed, job_owner
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.batchjob import BatchJobController
from bulkhead.controllers.dependency import DependencyController
from bulkhead.controllers.health import HealthController
from bulkhead.kube import Gone, Kube
from bulkhead.metrics import Metrics
from bulkhead.monitoring import Monitoring
from bulkhead.policy import alerting
from bulkhead.runtime.leader import LeaderElector
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.settings import (
    NAMESPACE,
    RESYNC_PERIOD,
    WATCH_CLIENT_TIMEOUT,
    WATCH_SERVER_TIMEOUT,
    WORKERS,
)
from bulkhead.state.store import Store, fill, once, put_body

log = logging.getLogger(__name__)

# What the store lists and watches: kind -> path, label selector.
LISTED = {
    "batchjobs": (f"/apis/{GROUP}/{VERSION}/batchjobs", ""),
    "jobs": ("/apis/batch/v1/jobs", LABEL_BATCHJOB),
    "dependencies": (f"/apis/{GROUP}/{VERSION}/dependencies", ""),
    "namespaces": ("/api/v1/namespaces", ""),
}

# Seconds between tries of a watch that fails (the API server restarting): at most 2 s apart,
# so watches resume within 2 s of it coming back.
WATCH_BACKOFF = (0.5, 1.0, 2.0)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Manager:
    def __init__(
        self, kube: Kube, metrics: Metrics, clock: Callable[[], datetime] = wall_clock
    ) -> None:
        self.kube = kube
        self.store = Store()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.monitoring = Monitoring()
        self.health = HealthController(
            kube,
            self.monitoring,
            self.store,
            metrics,
            clock,
            NAMESPACE,
            in_use=lambda name: self.admission.in_use(name),
            changed=lambda: self.admission.poke(),
        )
        self.dependencies = DependencyController(kube, self.store, metrics, self.health, clock)
        self.admission = AdmissionController(
            self.store, self.queue, self.dependencies, self.health, clock
        )
        self.batchjobs = BatchJobController(
            kube, metrics, self.store, self.queue, self.admission, clock
        )
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []
        self._heard: set[str] = set()  # kinds with a watch event since their last resync
        self._silent_drift: Counter[str] = Counter()  # resyncs in a row: see stuck_watches
        self._listing = {kind: asyncio.Lock() for kind in LISTED}
        self._listed = {kind: asyncio.Event() for kind in LISTED}  # listed once
        metrics.read_store(
            phases=self._count_phases, failed=self._failed, deadline_missed=self._deadline_missed
        )
        metrics.read_watches(LISTED, self.stuck_watches)

    # --- lifecycle -----------------------------------------------------------------------

    def start(
        self, elector: LeaderElector | None = None, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        """Watch, and decide from now on (one process); or, given `elector`, stand by (the
        watches keep the store warm) until it wins the lease, decide while it holds it, and
        call `on_lost()` once it no longer does (its writes are refused from that instant on,
        see Kube)."""
        self._tasks = [asyncio.create_task(self._reflect(kind)) for kind in LISTED]
        if elector is None:
            self._tasks.append(asyncio.create_task(self._lead(fresh=False)))
        else:
            self._tasks.append(asyncio.create_task(self._elect(elector, on_lost)))

    async def _elect(self, elector: LeaderElector, on_lost: Callable[[], None]) -> None:
        self._metrics.leader.set(0)
        await elector.run(lambda: self._lead(fresh=True))
        self._metrics.leader.set(0)
        log.error("%s lost the lease; it stops deciding", elector.identity)
        on_lost()

    async def _lead(self, fresh: bool) -> None:
        """Decide until cancelled: once the store is complete (`_fill`), the workers and
        admission, and the listings of every resync period."""
        self._metrics.leader.set(1)
        await asyncio.gather(
            self._fill(fresh),
            self.admission.run(),
            self.health.run(),
            self._resync(),
            *(self._worker() for _ in range(WORKERS)),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.monitoring.close()

    def _count_phases(self) -> Counter[str]:
        return Counter(bj.phase or "Pending" for bj in self.store.all_batchjobs())

    def _failed(self) -> list[tuple[Key, str]]:
        return [
            (bj.key, reason)
            for bj in self.store.all_batchjobs()
            if (reason := alerting.failed_reason(bj)) is not None
        ]

    def _deadline_missed(self) -> list[Key]:
        return [bj.key for bj in self.store.all_batchjobs() if alerting.deadline_missed(bj)]

    async def _list(self, kind: str) -> tuple[int, str]:
        """One paginated LIST of `kind` into the store; what it no longer shows is deleted
        (Store.end_listing), with what a DELETED event of it would do. Returns how many
        changes it found that no watch event had told, and the listing's resourceVersion."""
        path, selector = LISTED[kind]
        async with self._listing[kind]:
            self.store.begin_listing(kind)
            # a failed listing stays open, deleting nothing, until the next one begins it again
            listed: set[Any] = set()
            version = ""
            async for page, at in self.kube.list_pages(path, selector):
                listed |= fill(self.store, kind, page)
                version = at
            listing = self.store.end_listing(kind, listed)
        self._listed[kind].set()
        for key, view in listing.gone:
            self._react(kind, True, key, view)
        if self.store.ready.is_set():  # at startup every BatchJob is enqueued anyway
            for key, view in listing.changed:
                self._react(kind, False, key, view)
        return listing.drift, version

    async def _reflect(self, kind: str) -> None:
        """client-go's reflector for `kind`, until cancelled: list, then watch from the
        listing's version; a watch the server ends resumes from the last version it told
        (bookmarks keep that fresh); 410 Gone lists again, and that listing deletes what
        vanished unseen; a failed one is tried again WATCH_BACKOFF apart."""
        path, selector = LISTED[kind]
        version, failures = "", 0
        while True:
            try:
                if not version:
                    _, version = await self._list(kind)
                async for type_, body in self.kube.watch(
                    path, selector, version, WATCH_SERVER_TIMEOUT, WATCH_CLIENT_TIMEOUT
                ):
                    failures = 0
                    version = _resource_version(body) or version
                    if type_ != "BOOKMARK":
                        self.event(kind, type_, body)
            except Gone:
                log.info("the watch of %s resumed too late (410 Gone); listing it again", kind)
                version = ""
            except Exception as error:
                delay = WATCH_BACKOFF[min(failures, len(WATCH_BACKOFF) - 1)]
                failures += 1
                log.warning("watch of %s failed: %s; trying again in %.1fs", kind, error, delay)
                await asyncio.sleep(delay)

    async def _fill(self, fresh: bool) -> None:
        """The store complete before any decision: each kind's first listing (by its
        reflector), or given `fresh` (a standby that now leads: its watches may lag the last
        writes of the leader before it) a listing of each kind now."""
        while fresh:
            try:
                for kind in LISTED:
                    await self._list(kind)
                break
            except Exception:
                log.exception("listing to lead failed; retrying in 2s")
                await asyncio.sleep(2)
        for listed in self._listed.values():
            await listed.wait()
        self.store.mark_ready()
        for bj in self.store.all_batchjobs():
            self.queue.add(bj.key)
        self.admission.poke()

    async def _resync(self) -> None:
        """Every RESYNC_PERIOD seconds, each kind is listed again: what a watch missed, by a
        bug or a watch that hangs, is repaired within one period, and `stuck_watches`
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
                drift, _ = await self._list(kind)
            except Exception:
                log.exception("listing %s to resync failed; next try in one period", kind)
                continue
            if drift:
                log.warning("resync of %s found %d changes no watch event told", kind, drift)
                self._metrics.missed_changes.labels(kind).inc(drift)
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

    def event(self, kind: str, type_: str, body: Any) -> None:
        """A watch event of `kind` ("batchjobs", "jobs", "dependencies", "namespaces"):
        type_ ADDED, MODIFIED or DELETED."""
        self._heard.add(kind)
        self._metrics.watch_events.labels(kind).inc()
        deleted = type_ == "DELETED"
        before = self._job_before(body) if kind == "jobs" else None
        if put := self._put(kind, deleted, body):
            self._react(kind, deleted, *put, before=before)

    def _job_before(self, body: Any) -> JobView | None:
        """The store's view of the Job a watch event tells of, before the event."""
        try:
            return self.store.job(job_owner(body), body["metadata"]["name"])
        except (KeyError, TypeError):  # malformed: _put logs it
            return None

    def _react(
        self, kind: str, deleted: bool, key: Any, view: Any, before: JobView | None = None
    ) -> None:
        """What a change of an object, already in the store, means for the controllers
        (`before`: a Job's view before the change, when known)."""
        if kind == "batchjobs":
            self.queue.add(key)
        elif kind == "jobs":
            self._job_changed(deleted, key, view, before)
        elif kind == "dependencies":
            self._dependency_changed(deleted, key, view)
        else:
            self._namespace_changed(key)

    def _job_changed(self, deleted: bool, key: Key, view: Any, before: JobView | None) -> None:
        """Its BatchJob is reconciled; admission looks again only when what it counts moved
        (a Job appeared, finished, went, or changed its uses or owner): a run's Job changes
        about six times, and with 5,000 waiting a pass costs about 3 ms."""
        if deleted:
            self.batchjobs.job_gone(key, view)
        self.queue.add(key)
        if deleted or before is None or _admission_sees(before) != _admission_sees(view):
            self.admission.poke()

    def _dependency_changed(self, deleted: bool, name: str, view: Any) -> None:
        """A Dependency appeared, changed or went: its users may start, or wait for other
        reasons. Its own status writes (generation unchanged) need no look at the users."""
        self.admission.poke()
        self.health.poke()
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


def _admission_sees(job: JobView) -> tuple[bool, str, str, str]:
    """What of a Job admission counts: whether it holds units (unfinished), which and whose."""
    return job.finished, job.uses, job.owner_uid, job.created


def _resource_version(body: dict[str, Any]) -> str:
    """The resourceVersion a watch event tells ("" when it tells none)."""
    try:
        return str(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError):
        return ""
