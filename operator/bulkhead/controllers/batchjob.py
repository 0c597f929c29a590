"""The BatchJob reconcile: level-triggered, one key at a time, everything read from the store.

A worker takes a key, recomputes what should be true with the pure policies, and writes the
difference: a Job create (deterministic name, so a repeat is a harmless 409) or one status
patch. Nothing here must survive a restart: the caches below only remember our own writes
until the watch shows them back.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial

from pydantic import ValidationError

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus
from bulkhead.api.constants import Key
from bulkhead.api.times import format_time
from bulkhead.api.views import BatchJobView, JobView, explain
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.egress import ensure_egress
from bulkhead.controllers.not_started import NotStartedReader
from bulkhead.controllers.schedule import ScheduleController
from bulkhead.kube import JOB_NAME_LABEL, Conflict, Invalid, Kube, replacing
from bulkhead.metrics import Metrics
from bulkhead.policy import runs, status
from bulkhead.policy.build import build_job, job_name, run_token
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.store import Store, once

log = logging.getLogger(__name__)

# Count-only changes (pods started, shards done) are written at most this often per BatchJob;
# phase and reason changes are written at once.
PROGRESS_INTERVAL = 5.0

# A BatchJob is reconciled on each event of it and its Job (about eight per run), nearly always
# with the spec and often the status it had the time before: both are parsed once per text.
# The models are frozen, so a parsed one is safely shared.
PARSED_CACHE = 512
parse_spec = functools.lru_cache(maxsize=PARSED_CACHE)(BatchJobSpec.model_validate_json)
parse_status = functools.lru_cache(maxsize=PARSED_CACHE)(BatchJobStatus.model_validate_json)


class BatchJobController:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        queue: WorkQueue[Key],
        metrics: Metrics,
        clock: Callable[[], datetime],
        admission: AdmissionController,
        schedules: ScheduleController,
        not_started: NotStartedReader,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`schedules` reconciles the scheduled BatchJobs, writing their status through this
        controller; `not_started` reads why a run's pods do not start."""
        self.kube = kube
        self._store = store
        self._queue = queue
        self._metrics = metrics
        self._clock = clock
        self._admission = admission
        self._schedules = schedules
        self._not_started = not_started
        self._monotonic = monotonic
        # Our own writes, until the watch shows them back (then the store is the truth again).
        self._written: dict[Key, tuple[str, BatchJobStatus]] = {}  # key -> (uid, status)
        self._last_write: dict[Key, float] = {}
        # The last state of deleted Jobs, until their BatchJob's next reconcile.
        self._gone: dict[Key, dict[str, JobView]] = {}

    def _current(self, bj: BatchJobView) -> BatchJobStatus | None:
        try:
            seen = parse_status(bj.status_json) if bj.status_json else None
        except ValidationError as error:  # not written by us: ours replaces it
            once.warning(
                ("status", bj.uid),
                "%s/%s: status ignored, it is malformed: %s",
                bj.namespace,
                bj.name,
                error,
            )
            seen = None
        uid, written = self._written.get(bj.key, ("", None))
        if written is None or uid != bj.uid:
            return seen
        if seen == written:
            del self._written[bj.key]
        return written

    def job_gone(self, key: Key, job: JobView) -> None:
        """The last state of a deleted Job, kept until its BatchJob is reconciled once."""
        self._gone.setdefault(key, {})[job.name] = job

    async def reconcile(self, key: Key) -> None:
        bj = self._store.batchjob(key)
        gone = self._gone.pop(key, {})  # used by this reconcile or never: nothing piles up
        if bj is None or bj.deleting:
            self._admission.release(key)
            self._written.pop(key, None)
            self._last_write.pop(key, None)
            self._not_started.forget(key)
            return
        if self._settled(bj):
            # What the full reconcile below concludes too, without parsing spec and status: a
            # restart reconciles every BatchJob at rest (10,000 finished: 1.3 of its 3.1 CPU-s
            # under cProfile, bench/offline_restart.py; the parses and the status rebuilt).
            self._admission.book.forget(key)
            return
        current = self._current(bj)
        try:
            spec = parse_spec(bj.spec_json)
        except ValidationError as error:
            self._admission.book.forget(key)
            await self._write(bj, current, status.invalid_outcome(explain(error)))
            return
        if spec.schedule:
            await self._schedules.reconcile(bj, spec, current, gone)
            return
        # run-now on a one-shot BatchJob: a new value starts one more run once the current one
        # has finished; the value handled names the run (and its Job) from then on.
        run_now = current.run_now if current else None
        if bj.run_now and bj.run_now != run_now and status.is_terminal(current):
            run_now = bj.run_now
        name = _run_name(bj, run_now)
        write = partial(self._write, run_now=run_now)
        if status.is_terminal(current) and current and current.job_name == name:
            # A finished run keeps its result (its Job may be gone after the TTL).
            self._admission.book.forget(key)
            await write(bj, current, _unchanged(current))
            return
        job = next((j for j in self._store.jobs(key) if j.name == name), None)
        if job is None and current and current.job_name == name:
            found = await self.kube.get_job(bj.namespace, name)  # the watch may lag a create
            if found is not None and JobView.from_job(found).owner_uid != bj.uid:
                found = None  # someone else's Job under our name is not our run
            last_seen = gone.get(name)
            if found is None and last_seen and last_seen.name == name and last_seen.finished:
                # Finished, then removed (ttlSecondsAfterFinished: 0) before we wrote it down.
                job = last_seen
            elif found is None:
                self._admission.book.forget(key)
                await write(bj, current, status.job_deleted_outcome(name))
                return
            else:
                job = JobView.from_job(found)
        if job is not None:
            self._admission.book.forget(key)
            await write(bj, current, await self._job_outcome(bj, job, spec))
            return
        if spec.service_account_name and not await self.kube.get_service_account(
            bj.namespace, spec.service_account_name
        ):
            await write(
                bj,
                current,
                status.invalid_outcome(
                    f"serviceAccountName {spec.service_account_name} does not exist in namespace "
                    f"{bj.namespace}"
                ),
            )
            return
        if spec.uses and not self._admission.admitted(key, name):
            waiting = self._admission.request(bj, spec, name)
            if waiting is not None:
                await write(bj, current, waiting)
            return
        await self._start(bj, spec, current, run_now)

    def _settled(self, bj: BatchJobView) -> bool:
        """Whether `bj` is a one-shot BatchJob whose status reports, at its generation, that
        the run it names finished (BatchJobView.settled), that run being the one its run-now
        value names (a copied status, or one of a re-created BatchJob, names another), with
        no status write of ours still unseen."""
        job, run_now = bj.settled
        return bool(job) and bj.key not in self._written and job == _run_name(bj, run_now)

    async def _job_outcome(
        self, bj: BatchJobView, job: JobView, spec: BatchJobSpec
    ) -> status.Outcome:
        exit_code = None
        failed = job.condition("Failed")
        if failed and failed[2] == status.BACKOFF_LIMIT:
            exit_code = await self.kube.last_exit_code(bj.namespace, f"{JOB_NAME_LABEL}={job.name}")
        outcome = status.job_outcome(job, spec, exit_code)
        why = await self._not_started.why(bj.key, bj.namespace, job)
        return status.not_started_outcome(outcome, why) if why else outcome

    async def _start(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec,
        current: BatchJobStatus | None,
        run_now: str | None,
    ) -> None:
        write = partial(self._write, run_now=run_now)
        blocked = await ensure_egress(self.kube, self._store, bj, spec)
        if blocked is not None:
            self._admission.release(bj.key)
            await write(bj, current, status.Outcome("Pending", *blocked))
            return
        body = build_job(
            name=bj.name, namespace=bj.namespace, uid=bj.uid, spec=spec, run_now=run_now or ""
        )
        try:
            created = await self.kube.create_job(body)
        except Conflict:
            found = await self.kube.get_job(bj.namespace, body["metadata"]["name"])
            if found is None:  # deleted between the two calls: look again from the top
                self._queue.add(bj.key)
                return
            if JobView.from_job(found).owner_uid != bj.uid:  # never adopt a Job not ours
                self._admission.release(bj.key)
                await write(bj, current, status.job_name_taken_outcome(found["metadata"]["name"]))
                return
            created = found
        except Invalid as error:
            self._admission.release(bj.key)
            await write(
                bj, current, status.invalid_outcome(f"the API server refused the Job: {error}")
            )
            return
        self._metrics.observe_start(bj.created, self._clock())
        await write(bj, current, status.job_outcome(JobView.from_job(created), spec))

    async def _write(
        self,
        bj: BatchJobView,
        current: BatchJobStatus | None,
        outcome: status.Outcome,
        events: list[runs.Event] | None = None,
        run_now: str | None = None,
    ) -> None:
        """Patch the status to what `outcome` says, if that differs from `current`, then post
        `events`, or (one-shot) a Warning Event for a new phase or reason that is a warning.
        `run_now`: the run-now value
        a one-shot BatchJob has handled, echoed in its status."""
        if run_now:
            outcome = replace(outcome, extra={**outcome.extra, "runNow": run_now})
        new = status.to_status(
            outcome, generation=bj.generation, previous=current, now=format_time(self._clock())
        )
        if new == current:
            return
        if status.progress_only(current, new):
            wait = self._last_write.get(bj.key, 0.0) + PROGRESS_INTERVAL - self._monotonic()
            if wait > 0:
                self._queue.add_after(bj.key, wait)
                return
        patch = replacing(current.wire() if current else {}, new.wire())
        if not await self.kube.patch_batchjob_status(bj.namespace, bj.name, patch):
            return
        self._written[bj.key] = (bj.uid, new)
        self._last_write[bj.key] = self._monotonic()
        self._metrics.ended(runs.ended(current, new))
        if events is None and (
            current is None or (current.phase, current.reason) != (new.phase, new.reason)
        ):
            warning = (
                new.phase == "Failed"
                or outcome.reason in status.STALLED_REASONS
                or outcome.reason in status.NOT_STARTED_REASONS
            )
            # Warnings only: a start, a wait or a success is in the status (phase, reason,
            # conditions with their times) and on the run's Job (the Job controller's Events),
            # and an Event for each would double a run's writes (kstatus and Argo CD read the
            # status, never Events).
            if warning:
                events = [runs.Event(warning, outcome.reason, outcome.message)]
        for event in events or []:
            await self.kube.post_event(
                bj.ref(), "Warning" if event.warning else "Normal", event.reason, event.message
            )


def _run_name(bj: BatchJobView, run_now: str | None) -> str:
    """The Job of a one-shot `bj`'s run: its only one, or the one run-now value `run_now`
    asked for."""
    return job_name(bj.name, bj.uid, run_token("", run_now) if run_now else "")


def _unchanged(current: BatchJobStatus) -> status.Outcome:
    """A finished BatchJob keeps its result; only observedGeneration follows the spec."""
    kept = current.wire()
    for k in ("observedGeneration", "phase", "conditions", "reason", "message"):
        kept.pop(k, None)
    return status.Outcome(
        current.phase or "Pending", current.reason or "", current.message or "", kept
    )
