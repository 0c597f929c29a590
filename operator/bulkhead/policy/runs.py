"""Pure: the runs of a scheduled BatchJob, decided from its ledger, its Jobs and the clock.

The ledger is `status.runs`: every instant the schedule reached gets exactly one entry, as it
is first seen. It is Deferred (due, not started yet: waiting for its jitter, a Dependency or the
active run) or Missed with the reason, and later Running, Succeeded, Failed or Replaced. The
Jobs are merged back into the ledger on every pass (each carries its instant in an annotation),
so a crash between a Job's create and the status write loses nothing, and a repeated create of
the same instant is the same Job name (a 409). Instants are considered only after the newest
one in the ledger, so nothing is decided twice.

Policies, one module each, composed by `plan`:
- catchUp (policy/catchup.py), for instants the operator did not see in time.
- startingDeadlineSeconds (policy/deadline.py) bounds how late a run may start.
- concurrencyPolicy (policy/concurrency.py), when a run is due while another is active.
- history limits (below): finished Jobs beyond the newest N succeeded and M failed are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus, Run
from bulkhead.api.constants import (
    BACKLOG_DRAINED,
    JOB_DELETED,
    LAST_RUN_FAILED,
    MAX_PENDING,
    RETRYING,
    RUN_FAILED,
    RUN_MISSED,
    RUN_REPLACED,
    SCHEDULED,
    STARTED,
    SUSPENDED,
    TERMINAL_PHASES,
    TRIGGER_CYCLE,
    WAITING_TO_START,
)
from bulkhead.api.times import format_time, parse_time
from bulkhead.api.triggers import TriggerStatus, Verdict
from bulkhead.api.views import JobView
from bulkhead.policy import catchup, concurrency, deadline, spread, timetable, triggers
from bulkhead.policy.build import run_token
from bulkhead.policy.ledger import token
from bulkhead.policy.schedule import Schedule
from bulkhead.policy.status import NOT_STARTED_REASONS, STALLED_REASONS, Outcome, job_outcome

# Finished and missed entries kept in status.runs (Deferred and Running ones are always kept).
RUNS_KEPT = 10
# status.runs' maxItems: room for every waiting run (maxCatchUpRuns is at most 20) and more.
MAX_RUNS = 32
FINISHED = ("Succeeded", "Failed", "Missed", "Replaced")


@dataclass(frozen=True)
class Event:
    warning: bool
    reason: str
    message: str


@dataclass
class Plan:
    runs: list[Run]  # the new ledger, oldest first
    start: Run | None = None  # the Deferred run that may start now (through admission)
    delete: list[str] = field(default_factory=list)  # Job names to delete
    next_time: datetime | None = None  # the schedule's next instant after now
    wake: datetime | None = None  # when the clock needs the next look
    run_now: str | None = None  # the run-now value handled (echoed in status)
    triggers: list[TriggerStatus] | None = None  # status.triggers, with triggers
    verdicts: list[Verdict] = field(default_factory=list)  # of each arrival, in order
    added: bool = False  # triggers added runs: the ledger is written before any of them starts


def _when(t: datetime) -> str:
    return format_time(t)


def run_of(
    job: JobView, spec: BatchJobSpec, entry: Run | None = None, exit_code: int | None = None
) -> Run:
    """The ledger entry of a run whose Job is `job` (`entry`: the one the ledger had;
    `exit_code`: of its last failed pod, for the message of a run out of retries)."""
    outcome = job_outcome(job, spec, exit_code)
    trigger, _, key = job.trigger_run.partition("/")
    return Run(
        scheduled_time=entry.scheduled_time if entry else job.scheduled or job.created,
        result=outcome.phase if outcome.phase in ("Succeeded", "Failed") else "Running",
        reason=outcome.reason,
        message=outcome.message,
        job_name=job.name,
        start_time=job.start_time or job.created,
        completion_time=outcome.extra.get("completionTime"),
        run_now=job.run_now or None,
        trigger=trigger or None,
        key=key or None,
        event=entry.event if entry else None,
        coalesced=entry.coalesced if entry else None,
    )


def _sync(runs: dict[str, Run], jobs: list[JobView], spec: BatchJobSpec) -> None:
    """The Jobs that exist decide the entries of their runs; a run whose Job vanished before it
    finished is Failed (JobDeleted); a Replaced or finished run stays as it was recorded."""
    seen = set()
    for job in jobs:
        key = run_token(job.scheduled, job.run_now, job.trigger_run)
        seen.add(key)
        entry = runs.get(key)
        if entry is not None and (
            entry.result == "Replaced"
            or (entry.result in ("Succeeded", "Failed") and entry.job_name == job.name)
        ):
            continue  # a finished run's entry does not change (its message may name more)
        runs[key] = run_of(job, spec, entry)
    for key, entry in list(runs.items()):
        if entry.result == "Running" and key not in seen:
            runs[key] = entry.model_copy(
                update={
                    "result": "Failed",
                    "reason": JOB_DELETED,
                    "message": f"Job {entry.job_name} was deleted before it finished",
                }
            )


def plan(
    *,
    spec: BatchJobSpec,
    schedule: Schedule | None,
    seed: str,
    created: datetime,
    ledger: list[Run],
    jobs: list[JobView],
    run_now: str,
    handled_run_now: str | None,
    suspended_since: datetime | None,
    now: datetime,
    trigger_statuses: list[TriggerStatus] | None = None,
    triggered: triggers.Inputs | None = None,
) -> Plan:
    """The next ledger and what to do, given the BatchJob's spec and parsed schedule (None: it
    has triggers instead), its uid (`seed`), creation time, current ledger, the Jobs it controls
    (with an instant, run-now or trigger annotation), the run-now annotation and the value
    already handled, since when it was suspended (None if it was not), and now; with triggers,
    their current statuses and what they saw (`triggered`)."""
    runs = {token(r): r for r in ledger}
    # Instants after the ledger's newest are new; one whose Job exists already (its status write
    # was lost) is taken from the Job, and the others around it are still decided.
    cursor = max(
        (parse_time(r.scheduled_time) for r in ledger if not r.run_now and not r.trigger),
        default=created,
    )
    _sync(runs, jobs, spec)
    result = Plan(runs=[], run_now=handled_run_now)
    if run_now and run_now != handled_run_now:
        runs.setdefault(
            run_token("", run_now),
            Run(
                scheduled_time=_when(now),
                result="Deferred",
                reason=WAITING_TO_START,
                message=f"run now ({run_now}) requested",
                run_now=run_now,
            ),
        )
        result.run_now = run_now

    def jitter_of(t: datetime) -> timedelta:
        if schedule is None:
            return timedelta(0)
        return spread.jitter(seed, t, spec.jitter_seconds, timetable.next_after(schedule, t))

    wakes: list[datetime] = []
    if triggered is not None:
        if spec.suspend:  # nothing new while suspended; an event is told so (state/intake.py)
            result.triggers = trigger_statuses
            result.verdicts = ["Suspended"] * len(triggered.arrivals)
        else:
            before = set(runs)
            step = triggers.step(spec, runs, trigger_statuses, triggered, now)
            result.triggers, result.verdicts = step.statuses, step.verdicts
            result.added = bool(set(runs) - before) or "Coalesced" in result.verdicts
    if spec.suspend:
        catchup.suspend(runs)
    elif schedule is not None:
        due = catchup.catch_up(
            runs,
            spec=spec,
            schedule=schedule,
            jitter_of=jitter_of,
            cursor=cursor,
            suspended_since=suspended_since,
            now=now,
        )
        result.next_time, wakes = due.next_time, due.wakes
    wakes += deadline.enforce(runs, spec.starting_deadline_seconds, jitter_of, now)
    result.start, result.delete = concurrency.choose(spec, runs)
    result.delete += _past_history_limits(spec, jobs, result.delete)
    result.runs = _trim(runs, ledger)
    result.wake = min(wakes, default=None)
    return result


def _past_history_limits(spec: BatchJobSpec, jobs: list[JobView], deleting: list[str]) -> list[str]:
    """Finished Jobs beyond the newest successfulRunsHistoryLimit succeeded and
    failedRunsHistoryLimit failed ones (newest by instant)."""
    finished = sorted(
        (j for j in jobs if j.finished and not j.deleting and j.name not in deleting),
        key=lambda j: (j.scheduled or j.created, j.name),
        reverse=True,
    )
    succeeded = [j.name for j in finished if j.condition("Complete")]
    failed = [j.name for j in finished if j.condition("Failed")]
    return (
        succeeded[spec.successful_runs_history_limit :] + failed[spec.failed_runs_history_limit :]
    )


def _trim(runs: dict[str, Run], before: list[Run]) -> list[Run]:
    """The entries status.runs keeps, at most MAX_RUNS: every waiting and running one, then the
    finished ones this pass decided (each is written, and has its Event, at least once: one
    dropped in the pass that decided it would be skipped silently), then the newest others,
    up to RUNS_KEPT finished in all."""
    old = {token(r): r.result for r in before}
    ordered = sorted(runs.values(), key=lambda r: (r.scheduled_time, token(r)))
    live = [r for r in ordered if r.result not in FINISHED][:MAX_RUNS]
    done = [r for r in ordered if r.result in FINISHED]
    new = [r for r in done if old.get(token(r)) != r.result]
    known = [r for r in done if old.get(token(r)) == r.result]
    room = MAX_RUNS - len(live)
    new = new[len(new) - room :] if room < len(new) else new
    room = min(room - len(new), RUNS_KEPT - len(new))
    kept = {id(r) for r in [*live, *new, *(known[-room:] if room > 0 else [])]}
    return [r for r in ordered if id(r) in kept]


def events(before: list[Run], after: list[Run]) -> list[Event]:
    """An Event per run that failed, was missed or replaced since `before`, and a Warning for
    a run that cannot start. A run that starts or succeeds gets none: that is in `runs`, and
    on its Job (the Job controller's own Events), and Events for it would be a fourth and fifth
    write per run."""
    old = {token(r): r for r in before}
    found = []
    for run in after:
        what = f"run of {run.scheduled_time}" + (f" (run now {run.run_now})" if run.run_now else "")
        was = old.get(token(run))
        if was is not None and was.result == run.result:
            if run.reason in NOT_STARTED_REASONS and run.reason != was.reason:
                found.append(Event(True, run.reason or "", f"{what} cannot start: {run.message}"))
            continue
        if run.result == "Failed":
            found.append(Event(True, RUN_FAILED, f"{what} failed ({run.reason}): {run.message}"))
        elif run.result == "Missed":
            # A backlog run no longer wanted is the trigger working as it should.
            warning = run.reason != BACKLOG_DRAINED
            found.append(Event(warning, RUN_MISSED, f"{what} missed ({run.reason}): {run.message}"))
        elif run.result == "Replaced":
            found.append(Event(False, RUN_REPLACED, f"{what}: {run.message}"))
    return found


def trigger_events(
    before: list[TriggerStatus] | None, after: list[TriggerStatus] | None
) -> list[Event]:
    """An Event per trigger that newly starts nothing, and why: a Warning when it needs a person
    (its source is missing, a cycle, an unread backlog), Normal when its bound holds it."""
    old = {s.name: s.reason for s in before or []}
    return [
        Event(s.reason != MAX_PENDING, s.reason, f"trigger {s.name}: {s.message}")
        for s in after or []
        if s.reason and s.reason != old.get(s.name)
    ]


def ended(before: BatchJobStatus | None, after: BatchJobStatus) -> list[str]:
    """The results (Succeeded, Failed or Missed) of the runs that ended from status `before`
    to `after` of one BatchJob: with a schedule, each entry of status.runs that reached one of
    them; without, its run when the phase became Succeeded or Failed with a Job (an invalid
    spec is no run), or a run-now's next run did."""
    if after.runs is not None:
        old = {token(r): r.result for r in (before.runs if before else None) or []}
        return [
            r.result
            for r in after.runs
            if r.result in ("Succeeded", "Failed", "Missed") and old.get(token(r)) != r.result
        ]
    if after.phase not in TERMINAL_PHASES or not after.job_name:
        return []
    if before is not None and (before.phase, before.job_name) == (after.phase, after.job_name):
        return []
    return [after.phase]


def _waiting_for(spec: BatchJobSpec, statuses: list[TriggerStatus]) -> str:
    """What a triggered BatchJob waits for between runs, with why a trigger starts nothing."""
    held = {s.name: s for s in statuses if s.message}
    parts = []
    for trigger in spec.triggers or []:
        status = held.get(trigger.name)
        parts.append(f"{trigger.name}: {status.message}" if status else trigger.name)
    return "waiting for triggers (" + "; ".join(parts) + ")"


def outcome(
    spec: BatchJobSpec,
    runs: list[Run],
    jobs: list[JobView],
    next_time: datetime | None,
    handled_run_now: str | None,
    previous: BatchJobStatus | None,
    trigger_statuses: list[TriggerStatus] | None = None,
) -> Outcome:
    """The status of a scheduled BatchJob: phase Suspended, Running (a run active), Queued (a
    run waits to start) or Scheduled; never Reconciling (it is the schedule that is reconciled,
    as soon as observedGeneration is written; its runs come and go). Stalled (and Ready=False)
    while the newest finished run failed: kstatus reads Failed, GitOps tools show it degraded,
    until a run succeeds, or while the running run cannot start (Pending, with the Kubernetes
    reason: policy/not_started.py)."""
    finished = [r for r in runs if r.result in ("Succeeded", "Failed")]
    last = finished[-1] if finished else None
    running = [r for r in runs if r.result == "Running"]
    deferred = [r for r in runs if r.result == "Deferred"]
    ended = [r for r in runs if r.result in FINISHED]
    failed = last is not None and last.result == "Failed"
    next_text = f"next run at {_when(next_time)}" if next_time else "no next run"
    if spec.triggers:
        next_text = _waiting_for(spec, trigger_statuses or [])
    stuck = False  # the running run cannot start and needs a person
    cycle = next((t for t in trigger_statuses or [] if t.reason == TRIGGER_CYCLE), None)
    if spec.suspend:
        phase, reason, message = "Suspended", SUSPENDED, "suspended: no new runs until resumed"
    elif cycle is not None:
        phase, reason, message = "Pending", TRIGGER_CYCLE, cycle.message or ""
        stuck = True
    elif running and running[-1].reason in NOT_STARTED_REASONS:
        run = running[-1]
        phase, reason = "Pending", run.reason or ""
        message = f"run of {run.scheduled_time} cannot start: {run.message}"
        stuck = reason in STALLED_REASONS
    elif running:
        run = running[-1]
        reason = run.reason if run.reason in (STARTED, RETRYING) else STARTED
        phase, message = "Running", f"run of {run.scheduled_time} running: {run.message}"
    elif deferred:
        run = deferred[0]
        phase, reason = "Queued", run.reason or WAITING_TO_START
        message = f"run of {run.scheduled_time} waiting: {run.message}"
    else:
        phase, reason, message = "Scheduled", SCHEDULED, next_text
    if failed and last is not None:
        message = f"last run ({last.scheduled_time}) failed: {last.message}; {message}"
    elif phase != "Scheduled":
        message = f"{message}; {next_text}"
    extra: dict[str, Any] = {"runs": [r.wire() for r in runs]}
    current = (running or finished)[-1] if running or finished else None
    if current is not None and current.job_name:
        extra["jobName"] = current.job_name
        job = next((j for j in jobs if j.name == current.job_name), None)
        if job is not None:
            extra.update(active=job.active, succeeded=job.succeeded, failed=job.failed)
    # Times outlive the runs list, which keeps only the newest entries.
    before: dict[str, Any] = previous.wire() if previous else {}
    latest: dict[str, list[str | None]] = {
        "lastScheduleTime": [r.scheduled_time for r in runs if r.job_name and not r.run_now],
        "lastSuccessfulTime": [r.completion_time for r in runs if r.result == "Succeeded"],
        "lastFailureTime": [r.completion_time for r in runs if r.result == "Failed"],
    }
    for key, times in latest.items():
        known = [t for t in [*times, before.get(key)] if t]
        if known:
            extra[key] = max(known)
    if next_time is not None and not spec.suspend:
        extra["nextScheduleTime"] = _when(next_time)
    if ended:
        extra["lastRunResult"] = ended[-1].result
    if handled_run_now:
        extra["runNow"] = handled_run_now
    if trigger_statuses:
        extra["triggers"] = [t.wire() for t in trigger_statuses]
    cause = LAST_RUN_FAILED if failed else reason
    return Outcome(
        phase,  # type: ignore[arg-type]
        reason,
        message,
        extra,
        conditions={
            "Ready": (not failed and not stuck, cause),
            "Reconciling": (False, cause),
            "Stalled": (failed or stuck, cause),
            "Succeeded": (last is not None and last.result == "Succeeded", cause),
            "Suspended": (spec.suspend, cause),
        },
    )
