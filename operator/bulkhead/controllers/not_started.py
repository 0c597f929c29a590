"""Reads why a run with no ready pod is not running, for the one-shot and the scheduled
reconcile alike: its pods (or, while it never had one, the Job's FailedCreate Events), once per
RECHECK, starting GRACE seconds after its Job was made. What was found is remembered in
between, so the reconciles other events cause keep it and cost no reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from bulkhead.api.constants import Key
from bulkhead.api.times import parse_time
from bulkhead.api.views import JobView
from bulkhead.kube.client import JOB_NAME_LABEL, Kube
from bulkhead.policy.not_started import GRACE, NotStarted, diagnose, recheck_after
from bulkhead.runtime.workqueue import WorkQueue


class NotStartedReader:
    def __init__(
        self,
        kube: Kube,
        queue: WorkQueue[Key],
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._queue = queue
        self._clock = clock
        self._monotonic = monotonic
        # key -> Job uid -> (next look on the monotonic clock, what the last look found, looks
        # in a row that found nothing)
        self._seen: dict[Key, dict[str, tuple[float, NotStarted | None, int]]] = {}

    async def why(self, key: Key, namespace: str, job: JobView) -> NotStarted | None:
        """Why `job`'s run is not running (None: it is, or nothing says it cannot start).
        Queues `key` again for the next look while the run has no ready pod."""
        seen = self._seen.get(key, {})
        if job.ready or job.finished:
            if seen.pop(job.uid, None) is not None and not seen:
                del self._seen[key]
            return None
        now = self._monotonic()
        if job.uid in seen and now < seen[job.uid][0]:
            return seen[job.uid][1]
        age = (self._clock() - parse_time(job.created)).total_seconds() if job.created else 0.0
        if age < GRACE:
            self._queue.wake_after(key, GRACE - age)
            return None
        quiet = seen[job.uid][2] if job.uid in seen else 0
        pods, events = [], []
        if job.active:
            pods = await self._kube.list_pods(namespace, f"{JOB_NAME_LABEL}={job.name}")
        elif not job.succeeded and not job.failed:  # never had a pod: the Job controller says why
            events = await self._kube.list_failed_creates(namespace, job.uid)
        found = diagnose(job.name, pods, events)
        wait = recheck_after(found, quiet)
        self._seen.setdefault(key, {})[job.uid] = (now + wait, found, 0 if found else quiet + 1)
        self._queue.wake_after(key, wait)
        return found

    def forget(self, key: Key) -> None:
        self._seen.pop(key, None)
