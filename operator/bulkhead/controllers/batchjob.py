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

from pydantic import ValidationError

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus
from bulkhead.api.constants import Key
from bulkhead.api.times import format_time
from bulkhead.api.views import BatchJobView, JobView, explain
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.egress import ensure_egress
from bulkhead.controllers.not_started import NotStartedReader
from bulkhead.controllers.schedule import ScheduleController
from bulkhead.kube.client import JOB_NAME_LABEL, Kube
from bulkhead.kube.errors import Conflict, Invalid
from bulkhead.kube.rest import replacing
from bulkhead.metrics import Metrics
from bulkhead.policy import oneshot, runs, status
from bulkhead.policy.build import build_job
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
        current, spec = None, None
        if bj is None or bj.deleting:
            decision: oneshot.Final = oneshot.Forget()
        elif self._settled(bj):
            # What the full reconcile below concludes too, without parsing spec and status: a
            # restart reconciles every BatchJob at rest (10,000 finished: 1.3 of its 3.1 CPU-s
            # under cProfile, bench/offline_restart.py; the parses and the status rebuilt).
            decision = oneshot.Keep()
        else:
            current = self._current(bj)
            try:
                spec = parse_spec(bj.spec_json)
            except ValidationError as error:
                decision = oneshot.unreadable(explain(error))
            else:
                if spec.repeats:
                    await self._schedules.reconcile(bj, spec, current, gone)
                    return
                decision = await self._decide(bj, spec, current, gone)
        # The one place a one-shot BatchJob lets go of admission bookkeeping: before the write,
        # so that no admission pass admits, while the write is under way, a run that no longer
        # waits.
        if decision.release is oneshot.Release.ALL:
            self._admission.release(key)
        elif decision.release is oneshot.Release.WAIT:
            self._admission.book.forget(key)
        match decision:
            case oneshot.Forget():
                self._written.pop(key, None)
                self._last_write.pop(key, None)
                self._not_started.forget(key)
                self._schedules.forget(key)
            case oneshot.LookAgain():
                self._queue.add(key)
            case oneshot.Keep():
                pass
            case _:
                assert bj is not None  # only a Forget has no BatchJob
                await self._carry_out(bj, spec, current, decision)

    async def _decide(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec,
        current: BatchJobStatus | None,
        gone: dict[str, JobView],
    ) -> oneshot.Final:
        """Returns how the reconcile of the one-shot `bj` ends, given its readable `spec`, its
        `current` status and the last state of its Jobs deleted since (`gone`): asks
        policy/oneshot.py, doing the look-ups and the start it asks for on the way."""
        facts = oneshot.Facts(
            bj=bj,
            spec=spec,
            current=current,
            jobs=tuple(self._store.jobs(bj.key)),
            gone=gone,
            admitted_run=None,
        )
        while True:
            # Read at each step: a pass may admit the run while a look-up is under way.
            admitted = self._admission.book.admitted.get(bj.key)
            facts = replace(facts, admitted_run=admitted.run if admitted else None)
            match oneshot.decide(facts):
                case oneshot.LookUpJob(name):
                    body = await self.kube.get_job(bj.namespace, name)
                    found = JobView.from_job(body) if body is not None else None
                    facts = replace(facts, found={**facts.found, name: found})
                case oneshot.LookUpServiceAccount(name):
                    exists = bool(await self.kube.get_service_account(bj.namespace, name))
                    facts = replace(facts, service_account=exists)
                case oneshot.Start(run_now):
                    facts = replace(facts, started=await self._start(bj, spec, run_now))
                case final:
                    return final

    async def _carry_out(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec | None,
        current: BatchJobStatus | None,
        decision: oneshot.Write,
    ) -> None:
        """Writes what `decision` says about `bj`, given its `spec` (None: unreadable) and
        `current` status."""
        match decision:
            case oneshot.WriteOutcome(outcome, _, run_now):
                await self.write(bj, current, outcome, run_now=run_now)
            case oneshot.RecordStart(outcome, run_now):
                self._metrics.observe_start(bj.created, self._clock())
                await self.write(bj, current, outcome, run_now=run_now)
            case oneshot.ReportJob(job, run_now):
                assert spec is not None  # a Job is reported only from a readable spec
                outcome = await self._job_outcome(bj, job, spec)
                await self.write(bj, current, outcome, run_now=run_now)
            case oneshot.WaitForAdmission(run, run_now):
                assert spec is not None  # a run waits only from a readable spec
                waiting = self._admission.request(bj, spec, run)
                if waiting is not None:
                    await self.write(bj, current, waiting, run_now=run_now)

    def _settled(self, bj: BatchJobView) -> bool:
        """Whether `bj` is a one-shot BatchJob whose status reports, at its generation, that
        the run it names finished (BatchJobView.settled), that run being the one its run-now
        value names (a copied status, or one of a re-created BatchJob, names another), with
        no status write of ours still unseen."""
        job, run_now = bj.settled
        return bool(job) and bj.key not in self._written and job == oneshot.run_name(bj, run_now)

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
        self, bj: BatchJobView, spec: BatchJobSpec, run_now: str | None
    ) -> oneshot.Started:
        """Returns what starting `bj`'s run (of `run_now`, if set) came to: its egress
        NetworkPolicy made, then its Job created (or found under its name)."""
        blocked = await ensure_egress(self.kube, self._store, bj, spec)
        if blocked is not None:
            return oneshot.Blocked(*blocked)
        body = build_job(
            name=bj.name, namespace=bj.namespace, uid=bj.uid, spec=spec, run_now=run_now or ""
        )
        try:
            return oneshot.Exists(JobView.from_job(await self.kube.create_job(body)))
        except Conflict:
            found = await self.kube.get_job(bj.namespace, body["metadata"]["name"])
            return oneshot.Exists(JobView.from_job(found)) if found else oneshot.Vanished()
        except Invalid as error:
            return oneshot.Refused(str(error))

    async def write(
        self,
        bj: BatchJobView,
        current: BatchJobStatus | None,
        outcome: status.Outcome,
        events: list[runs.Event] | None = None,
        run_now: str | None = None,
        prompt: bool = False,
    ) -> bool:
        """Patch the status to what `outcome` says, if that differs from `current`, then post
        `events`, or (one-shot) a Warning Event for a new phase or reason that is a warning.
        `run_now`: the run-now value a one-shot BatchJob has handled, echoed in its status;
        `prompt`: written now even if only progress moved (someone waits for it). Returns
        whether the API server holds the new status (False: the write was put off or refused).
        """
        if run_now:
            outcome = replace(outcome, extra={**outcome.extra, "runNow": run_now})
        new = status.to_status(
            outcome, generation=bj.generation, previous=current, now=format_time(self._clock())
        )
        if new == current:
            return True
        if not prompt and status.progress_only(current, new):
            wait = self._last_write.get(bj.key, 0.0) + PROGRESS_INTERVAL - self._monotonic()
            if wait > 0:
                self._queue.add_after(bj.key, wait)
                return False
        patch = replacing(current.wire() if current else {}, new.wire())
        if not await self.kube.patch_batchjob_status(bj.namespace, bj.name, patch):
            return False
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
        return True
