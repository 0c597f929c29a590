"""Pure: which instants of a scheduled BatchJob's schedule get a run, and catchUp, for the
instants the operator did not see in time (it was down, or the BatchJob was suspended): Latest
runs the newest of them, All runs up to maxCatchUpRuns newest, None runs only the newest, and
only when it is seen within ON_TIME of its start. The rest are Missed (NotCaughtUp, or Suspended
for instants that fell while it was suspended); past MISSED_LISTED, in one entry that counts
them. A suspended BatchJob's waiting runs are Missed (Suspended)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bulkhead.api.batchjob import BatchJobSpec, Run
from bulkhead.api.constants import NOT_CAUGHT_UP, SUSPENDED, WAITING_TO_START
from bulkhead.api.times import format_time
from bulkhead.policy import timetable
from bulkhead.policy.ledger import missed
from bulkhead.policy.schedule import Schedule

# catchUp None: a run first seen later than this after its start time was missed.
ON_TIME = timedelta(seconds=60)
# Missed instants listed one by one in a single pass; more are summed up in one entry.
MISSED_LISTED = 5


@dataclass
class Due:
    """What the schedule brought: its next instant after now, and when the clock must look
    again (the jittered start of an instant due, the next instant's)."""

    next_time: datetime | None = None
    wakes: list[datetime] = field(default_factory=list)


def suspend(runs: dict[str, Run]) -> None:
    """Marks Missed (Suspended) each scheduled run of `runs` (by token) still waiting: a
    suspended BatchJob starts none (a run-now request still runs)."""
    for key, entry in runs.items():
        if entry.result == "Deferred" and not entry.run_now:
            runs[key] = missed(entry, SUSPENDED, "the BatchJob was suspended")


def catch_up(
    runs: dict[str, Run],
    *,
    spec: BatchJobSpec,
    schedule: Schedule,
    jitter_of: Callable[[datetime], timedelta],
    cursor: datetime,
    suspended_since: datetime | None,
    now: datetime,
) -> Due:
    """Adds to `runs` (by token) an entry for each instant of `schedule` after `cursor` (the
    ledger's newest) up to `now`: Deferred for those catchUp runs, Missed for the others (past
    MISSED_LISTED, one entry counts them), given the spec, each instant's jitter, and since when
    the BatchJob was suspended (None if it was not). An instant whose jittered start is still
    ahead gets no entry yet. Returns the schedule's next instant and when to look again."""
    result = Due()
    keep = max(spec.max_catch_up_runs, MISSED_LISTED) + 1
    due = timetable.due(schedule, cursor, now, keep=keep)
    instants = list(due.instants)
    if instants and now < instants[-1] + jitter_of(instants[-1]):
        result.wakes.append(instants[-1] + jitter_of(instants[-1]))  # jittered: not yet
        instants.pop()
    if due.earlier and due.first is not None:
        end = instants[0] if instants else now
        # Runs with a Job in that span are in the ledger already (their write was lost).
        taken = [
            t
            for t in runs
            if not t.startswith("run-now/") and format_time(cursor) < t < format_time(end)
        ]
        count = due.earlier - len(taken)
        anchor: datetime | None = due.first
        while anchor is not None and format_time(anchor) in runs and anchor < end:
            anchor = timetable.next_after(schedule, anchor)
        if count > 0 and anchor is not None and anchor < end:
            reason, why = _late_reason(anchor, suspended_since)
            more = "at least " if due.capped else ""
            runs[format_time(anchor)] = _missed_at(
                anchor,
                reason,
                f"{more}{count} runs from {format_time(due.first)} to before {format_time(end)} "
                f"were not run: {why}",
            )
    for i, t in enumerate(instants):
        if format_time(t) in runs:
            continue
        start_at = t + jitter_of(t)
        newest = i == len(instants) - 1
        if spec.catch_up == "Latest":
            runs_now = newest
        elif spec.catch_up == "All":
            runs_now = i >= len(instants) - spec.max_catch_up_runs
        else:  # None: only the current instant, and only when seen in time
            runs_now = newest and now - start_at <= ON_TIME
        if runs_now:
            runs[format_time(t)] = Run(
                scheduled_time=format_time(t),
                result="Deferred",
                reason=WAITING_TO_START,
                message="due",
            )
        else:
            reason, why = _late_reason(t, suspended_since)
            runs[format_time(t)] = _missed_at(t, reason, f"{why}; catchUp is {spec.catch_up}")
    result.next_time = timetable.next_after(schedule, now)
    if result.next_time is not None:
        result.wakes.append(result.next_time + jitter_of(result.next_time))
    return result


def _missed_at(t: datetime, reason: str, message: str) -> Run:
    return Run(scheduled_time=format_time(t), result="Missed", reason=reason, message=message)


def _late_reason(t: datetime, suspended_since: datetime | None) -> tuple[str, str]:
    if suspended_since is not None and t >= suspended_since:
        return SUSPENDED, "the BatchJob was suspended at its time"
    return NOT_CAUGHT_UP, "the operator did not run at its time"
