"""What a change the watches saw means for the controllers, one callback per watched kind
(each kind's reflector calls its own, runtime/reflector.py): which BatchJobs are reconciled
again, and whether admission and the health loops look again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bulkhead.api.constants import NAMESPACE_NOT_ALLOWED, Key
from bulkhead.api.views import BatchJobView, DependencyView, JobView
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.batchjob import BatchJobController
from bulkhead.controllers.dependency import DependencyController
from bulkhead.controllers.health import HealthController
from bulkhead.runtime.reflector import Change, Relisted
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.store import Store

K = TypeVar("K")
V = TypeVar("V")


class EventRouter:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue[Key],
        admission: AdmissionController,
        dependencies: DependencyController,
        health: HealthController,
        batchjobs: BatchJobController,
    ) -> None:
        self._store = store
        self._queue = queue
        self._admission = admission
        self._dependencies = dependencies
        self._health = health
        self._batchjobs = batchjobs
        # After triggers, both ways: a BatchJob -> the names it follows in its namespace, and
        # a BatchJob -> the BatchJobs that follow it.
        self._follows: dict[Key, tuple[str, ...]] = {}
        self._followers: dict[Key, set[Key]] = {}

    def relisted(self, changed: Callable[[Change[K, V]], None], found: Relisted[K, V]) -> None:
        """What a listing found that no watch event had told, told to `changed` (its kind's
        callback): what is gone always, what changed once the store is ready (at startup
        every BatchJob is enqueued anyway)."""
        for change in found.gone:
            changed(change)
        if self._store.ready.is_set():
            for change in found.changed:
                changed(change)

    def batchjob_changed(self, change: Change[Key, BatchJobView]) -> None:
        """It is reconciled, and so are the BatchJobs that follow it (a run of it may have
        ended, or it appeared or went)."""
        self._queue.add(change.key)
        namespace = change.key[0]
        before = set(self._follows.pop(change.key, ()))
        now = set() if change.deleted else set(change.view.after)
        if now:
            self._follows[change.key] = tuple(now)
        for name in before - now:
            followers = self._followers.get((namespace, name))
            if followers is not None:
                followers.discard(change.key)
                if not followers:
                    del self._followers[(namespace, name)]
        for name in now - before:
            self._followers.setdefault((namespace, name), set()).add(change.key)
        for follower in self._followers.get(change.key, ()):
            self._queue.add(follower)

    def job_changed(self, change: Change[Key, JobView]) -> None:
        """Its BatchJob is reconciled; admission looks again only when what it counts moved
        (a Job appeared, finished, went, or changed its uses or owner): a run's Job changes
        about six times, and with 5,000 waiting a pass costs about 3 ms."""
        if change.deleted:
            self._batchjobs.job_gone(change.key, change.view)
        self._queue.add(change.key)
        before = change.before
        if (
            change.deleted
            or before is None
            or _admission_sees(before) != _admission_sees(change.view)
        ):
            self._admission.poke()

    def dependency_changed(self, change: Change[str, DependencyView]) -> None:
        """A Dependency appeared, changed or went: its users may start, or wait for other
        reasons. Its own status writes (generation unchanged) need no look at the users."""
        self._admission.poke()
        self._health.poke()
        name = change.key
        generation = None if change.deleted else change.view.generation
        if not self._dependencies.generation_changed(name, generation):
            return
        for bj in self._store.all_batchjobs():
            if any(u.get("dependency") == name for u in bj.spec.get("uses") or []):
                self._queue.add(bj.key)

    def namespace_changed(self, change: Change[str, dict[str, str]]) -> None:
        """Namespace labels decide allowedNamespaces: look again at the ones refused."""
        for bj in self._store.all_batchjobs():
            if bj.namespace == change.key and bj.reason == NAMESPACE_NOT_ALLOWED:
                self._queue.add(bj.key)


def _admission_sees(job: JobView) -> tuple[bool, str, str, str]:
    """What of a Job admission counts: whether it holds units (unfinished), which and whose."""
    return job.finished, job.uses, job.owner_uid, job.created
