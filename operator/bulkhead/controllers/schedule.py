"""The reconcile of a scheduled or triggered BatchJob: read the ledger and the Jobs (and, with
triggers, the CloudEvents waiting in the intake, the runs of after triggers' BatchJobs and the
backlog readings), let policy/runs.py decide, then write: delete Jobs (replaced, past the
history limits), start at most one run (through Dependency admission), and one status patch
with an Event per run transition. Runs triggers add are written before any of them starts, and
a CloudEvent is answered only once the status holding it is stored. The next look is a timer
at the instant the plan names (the next run, a jittered start, a deadline)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus, Run
from bulkhead.api.constants import BACKOFF_LIMIT, INVALID_SPEC, JOB_NAME_TAKEN, Key
from bulkhead.api.times import parse_time
from bulkhead.api.triggers import BacklogTrigger
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.egress import ensure_egress
from bulkhead.controllers.not_started import NotStartedReader
from bulkhead.kube.client import JOB_NAME_LABEL, Kube
from bulkhead.kube.errors import ApiError, Conflict, Invalid
from bulkhead.metrics import Metrics
from bulkhead.policy import runs, status, triggers
from bulkhead.policy import schedule as cron
from bulkhead.policy.build import build_job, job_name, run_token
from bulkhead.policy.cloudevent import event_key
from bulkhead.policy.ledger import token, trigger_run
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.intake import EventIntake, Pending, answer
from bulkhead.state.store import Store

log = logging.getLogger(__name__)

# A run whose admission the next pass decides (it queues the BatchJob again).
DECIDING = Run(scheduled_time="", result="Deferred")

Write = Callable[
    [BatchJobView, BatchJobStatus | None, status.Outcome, list[runs.Event] | None, bool],
    Awaitable[bool],
]


class Backlogs(Protocol):
    """The backlog triggers' readings (controllers/backlog.py)."""

    def ensure(
        self, key: Key, triggers: dict[str, BacklogTrigger], fresh_after: datetime | None = None
    ) -> None: ...

    def reading(self, key: Key, trigger: str) -> triggers.Reading | None: ...

    def forget(self, key: Key) -> None: ...


class ScheduleController:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        queue: WorkQueue[Key],
        metrics: Metrics,
        clock: Callable[[], datetime],
        admission: AdmissionController,
        not_started: NotStartedReader,
        write: Write,
        intake: EventIntake,
        backlogs: Backlogs,
    ) -> None:
        """`write`: the BatchJob controller's status write (one record of our own writes for
        one-shot and scheduled BatchJobs alike), True once the status is stored; `intake`: the
        CloudEvents waiting for their BatchJob; `backlogs`: the backlog triggers' readings."""
        self._kube = kube
        self._store = store
        self._queue = queue
        self._metrics = metrics
        self._clock = clock
        self._admission = admission
        self._not_started = not_started
        self._write = write
        self._intake = intake
        self._backlogs = backlogs

    def forget(self, key: Key) -> None:
        """`key` is gone: its waiting events and backlog loops go too."""
        self._intake.forget(key)
        self._backlogs.forget(key)

    async def reconcile(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec,
        current: BatchJobStatus | None,
        gone: dict[str, JobView],
    ) -> None:
        """`gone`: the last state of this BatchJob's Jobs deleted since its last reconcile."""
        arrivals = self._intake.take(bj.key)
        try:
            await self._reconcile(bj, spec, current, gone, arrivals)
        finally:
            for pending in arrivals:  # not recorded: the sender sends it again
                answer(pending, "Unavailable")

    async def _reconcile(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec,
        current: BatchJobStatus | None,
        gone: dict[str, JobView],
        arrivals: list[Pending],
    ) -> None:
        schedule = None
        unreadable: status.Outcome | None = None
        if spec.schedule:
            try:
                schedule = cron.parse(
                    spec.schedule, spec.time_zone, seed=bj.uid, anchor=parse_time(bj.created)
                )
            except cron.ScheduleError as error:
                unreadable = status.invalid_outcome(str(error))
        ledger = list(current.runs or []) if current else []
        jobs: list[JobView] = []
        plan = None
        release = True  # no run starts (nor can), or its start failed
        must_write = False
        if unreadable is None:
            now = self._clock()
            jobs = [
                j
                for j in self._store.jobs(bj.key)
                if j.owner_uid == bj.uid and (j.scheduled or j.run_now or j.trigger_run)
            ]
            jobs += await self._unseen_jobs(bj, ledger, jobs, gone)
            plan = runs.plan(
                spec=spec,
                schedule=schedule,
                seed=bj.uid,
                created=parse_time(bj.created),
                ledger=ledger,
                jobs=jobs,
                run_now=bj.run_now,
                handled_run_now=current.run_now if current else None,
                suspended_since=None if spec.suspend else _suspended_since(current),
                now=now,
                trigger_statuses=current.triggers if current else None,
                triggered=self._triggered(bj, spec, ledger, arrivals) if spec.triggers else None,
            )
            await self._delete(bj, plan.delete, jobs)
            # Runs triggers add are in the ledger before any Job of theirs exists, and an event
            # is answered once the status holding it is stored: this pass writes, whatever it
            # starts, and a run added now starts from the next pass.
            must_write = plan.added or bool(arrivals)
            if must_write:
                self._queue.add(bj.key)
                if plan.start is not None and token(plan.start) not in {token(r) for r in ledger}:
                    plan.start, release = None, False
            if plan.start is not None:
                started, release = await self._start(bj, spec, plan.start)
                if started is None:
                    return  # the Job vanished between create and get: look again from the top
                if started is DECIDING:
                    # The admission pass, milliseconds away, starts the run or shows why it
                    # waits, and queues this BatchJob again: one status write then, not two
                    # (unless this pass has to write).
                    self._wake(bj.key, plan.wake, now)
                    if not must_write:
                        return
                else:
                    if isinstance(started, JobView):
                        jobs.append(started)
                        started = runs.run_of(started, spec, plan.start)
                    plan.runs = [started if token(r) == token(started) else r for r in plan.runs]
        # The one place a scheduled BatchJob lets go of admission bookkeeping: before the reads
        # and the write below, so no admission pass admits a run that no longer waits meanwhile.
        if release:
            self._admission.release(bj.key)
        if plan is None:
            assert unreadable is not None  # only an unreadable schedule makes no plan
            await self._write(bj, current, unreadable, None, False)
            return
        plan.runs = await self._with_exit_codes(bj, spec, ledger, plan.runs, jobs)
        plan.runs = await self._not_started_runs(bj, plan.runs, jobs)
        outcome = runs.outcome(
            spec, plan.runs, jobs, plan.next_time, plan.run_now, current, plan.triggers
        )
        events = runs.events(ledger, plan.runs) + runs.trigger_events(
            current.triggers if current else None, plan.triggers
        )
        # New runs and events waiting for their answer are written at once, not at the bounded
        # rate of progress.
        stored = await self._write(bj, current, outcome, events, must_write)
        if stored:
            for pending, verdict in zip(arrivals, plan.verdicts, strict=True):
                answer(pending, verdict)
        self._wake(bj.key, plan.wake, now)

    def _triggered(
        self, bj: BatchJobView, spec: BatchJobSpec, ledger: list[Run], arrivals: list[Pending]
    ) -> triggers.Inputs:
        """What `bj`'s triggers saw: the events that arrived, the ended runs of each after
        trigger's BatchJob and the cycles after triggers make, the backlog readings (and the
        backlog loops are kept to the spec's triggers, asked for a reading that began after
        the newest of their runs ended)."""
        backlogs = {t.name: t.backlog for t in spec.triggers or [] if t.backlog is not None}
        ended = [r.completion_time for r in ledger if r.trigger in backlogs and r.completion_time]
        self._backlogs.ensure(
            bj.key, backlogs, fresh_after=parse_time(max(ended)) if ended else None
        )
        sources: dict[str, tuple[triggers.SourceRun, ...] | None] = {}
        cycles: dict[str, tuple[str, ...]] = {}
        for trigger in spec.triggers or []:
            if trigger.after is None:
                continue
            source = self._store.batchjob((bj.namespace, trigger.after.batch_job))
            sources[trigger.name] = None if source is None else triggers.ended_runs(source.status)
            cycles[trigger.name] = triggers.find_cycle(bj.name, self._after_of(bj.namespace))
        return triggers.Inputs(
            created=bj.created,
            arrivals=tuple(
                triggers.Arrival(p.trigger, p.event, event_key(p.event.source, p.event.id))
                for p in arrivals
            ),
            sources=sources,
            cycles=cycles,
            readings={name: self._backlogs.reading(bj.key, name) for name in backlogs},
        )

    def _after_of(self, namespace: str) -> Callable[[str], tuple[str, ...]]:
        """The names each BatchJob of `namespace` follows by its after triggers."""

        def after_of(name: str) -> tuple[str, ...]:
            found = self._store.batchjob((namespace, name))
            return found.after if found is not None else ()

        return after_of

    async def _delete(self, bj: BatchJobView, names: list[str], jobs: list[JobView]) -> None:
        """Deletes `bj`'s Jobs named `names` (of `jobs`, by uid); one that cannot be is tried
        again at the next look (runs go on meanwhile)."""
        uids = {j.name: j.uid for j in jobs}
        for name in names:
            try:
                await self._kube.delete_job(bj.namespace, name, uids.get(name, ""))
            except ApiError as error:
                log.warning("could not delete Job %s/%s: %s", bj.namespace, name, error)

    def _wake(self, key: Key, wake: datetime | None, now: datetime) -> None:
        if wake is not None:
            self._queue.wake_after(key, (wake - now).total_seconds())

    async def _with_exit_codes(
        self,
        bj: BatchJobView,
        spec: BatchJobSpec,
        ledger: list[Run],
        new: list[Run],
        jobs: list[JobView],
    ) -> list[Run]:
        """A run that just ran out of retries names its last exit code, read once from its pods
        (the Job's condition does not carry it)."""
        before = {token(r): r.result for r in ledger}
        views = {j.name: j for j in jobs}
        found = []
        for run in new:
            job = views.get(run.job_name or "")
            if (
                job is not None
                and run.reason == BACKOFF_LIMIT
                and before.get(token(run)) != "Failed"
            ):
                selector = f"{JOB_NAME_LABEL}={job.name}"
                code = await self._kube.last_exit_code(bj.namespace, selector)
                run = runs.run_of(job, spec, run, code)
            found.append(run)
        return found

    async def _not_started_runs(
        self, bj: BatchJobView, new: list[Run], jobs: list[JobView]
    ) -> list[Run]:
        """A running run whose pods cannot be made or started carries the reason and message
        of it (policy/not_started.py) instead of Running."""
        views = {j.name: j for j in jobs}
        found = []
        for run in new:
            job = views.get(run.job_name or "")
            if run.result == "Running" and job is not None:
                why = await self._not_started.why(bj.key, bj.namespace, job)
                if why is not None:
                    run = run.model_copy(update={"reason": why.reason, "message": why.message})
            found.append(run)
        return found

    async def _unseen_jobs(
        self, bj: BatchJobView, ledger: list[Run], jobs: list[JobView], gone: dict[str, JobView]
    ) -> list[JobView]:
        """Jobs the ledger says are running that the watch does not show: created a moment
        ago (the watch lags), or finished and removed (its last state was kept)."""
        seen = {j.name for j in jobs}
        found = []
        for run in ledger:
            if run.result != "Running" or not run.job_name or run.job_name in seen:
                continue
            body = await self._kube.get_job(bj.namespace, run.job_name)
            view = JobView.from_job(body) if body else gone.get(run.job_name)
            if view is not None and view.owner_uid == bj.uid:
                found.append(view)
        return found

    async def _start(
        self, bj: BatchJobView, spec: BatchJobSpec, run: Run
    ) -> tuple[JobView | Run | None, bool]:
        """Start `run`. Returns its Job (created, or found under its name), the run as it is now
        (waiting for admission, or failed to start), DECIDING while admission has not decided
        yet, or None to look again; and whether it lets go of its admission (a start that
        failed after admission)."""
        name = job_name(bj.name, bj.uid, token(run))
        if spec.uses and not self._admission.admitted(bj.key, name):
            wait = self._admission.request(bj, spec, name, run.scheduled_time)
            if wait is None:
                return DECIDING, False
            return run.model_copy(update={"reason": wait.reason, "message": wait.message}), False
        if spec.service_account_name and not await self._kube.get_service_account(
            bj.namespace, spec.service_account_name
        ):
            failed = run.model_copy(
                update={
                    "result": "Failed",
                    "reason": INVALID_SPEC,
                    "message": f"serviceAccountName {spec.service_account_name} does not exist in "
                    f"namespace {bj.namespace}; no Job was created",
                }
            )
            return failed, False
        blocked = await ensure_egress(self._kube, self._store, bj, spec)
        if blocked is not None:
            reason, message = blocked
            failed = run.model_copy(
                update={"result": "Failed", "reason": reason, "message": message}
            )
            return failed, True
        body = build_job(
            name=bj.name,
            namespace=bj.namespace,
            uid=bj.uid,
            spec=spec,
            scheduled=run.scheduled_time,
            run_now=run.run_now or "",
            trigger_run=trigger_run(run),
            event=run.event,
        )
        try:
            created = await self._kube.create_job(body)
        except Conflict:
            found = await self._kube.get_job(bj.namespace, name)
            if found is None:
                self._queue.add(bj.key)
                return None, False
            created = found
        except Invalid as error:
            failed = run.model_copy(
                update={
                    "result": "Failed",
                    "reason": INVALID_SPEC,
                    "message": f"the API server refused the Job: {error}",
                }
            )
            return failed, True
        job = JobView.from_job(created)
        # Never adopt a Job this BatchJob does not control, nor one of its other runs (names are
        # a hash of the run: two runs of 10,000 may share one).
        if job.owner_uid != bj.uid or runs_token(job) != token(run):
            whose = "controlled by this BatchJob" if job.owner_uid != bj.uid else "this run's"
            taken = run.model_copy(
                update={
                    "result": "Failed",
                    "reason": JOB_NAME_TAKEN,
                    "message": f"a Job named {name} exists and is not {whose}; it was left alone",
                }
            )
            return taken, True
        self._metrics.observe_start(run.scheduled_time, self._clock())
        if run.trigger:
            self._metrics.trigger_runs.labels(_kind_of(spec, run.trigger)).inc()
        return job, False


def _suspended_since(current: BatchJobStatus | None) -> datetime | None:
    """When the BatchJob was last suspended, if its status still says it is."""
    for condition in (current.conditions if current else None) or []:
        if condition.type == "Suspended" and condition.status == "True":
            return parse_time(condition.last_transition_time)
    return None


def runs_token(job: JobView) -> str:
    """The ledger token of the run `job` belongs to."""
    return run_token(job.scheduled, job.run_now, job.trigger_run)


def _kind_of(spec: BatchJobSpec, trigger: str) -> str:
    return next((t.kind for t in spec.triggers or [] if t.name == trigger), "Removed")
