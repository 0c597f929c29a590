"""Pure: the runs a triggered BatchJob's triggers add to its ledger (status.runs), and what
status.triggers says of each trigger.

A trigger only adds Deferred runs; each then waits for a free eventRuns.maxInFlight slot
(policy/concurrency.py) and its Dependencies like any run. Every run a trigger adds is named by
its trigger and a key (a CloudEvent's source and id, the other BatchJob's run, the backlog run's
number), its Job's name derives from both, and the ledger holds it before its Job exists (the
reconcile writes a new run before it starts one): a crash neither loses nor doubles it. A key
seen before (in the ledger, or among the trigger's 64 newest in status.triggers[].recent) is a
duplicate and adds nothing.

Live runs (waiting or running) are bounded by eventRuns.maxInFlight + maxPending. Beyond it a
new event joins the newest waiting run of its trigger (coalesced: the run still starts after
the event came, so the work the event announces is done, once) and a backlog adds no run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec, Run
from bulkhead.api.constants import (
    BACKLOG_DRAINED,
    MAX_PENDING,
    SIGNAL_UNREAD,
    SOURCE_NOT_FOUND,
    TRIGGER_CYCLE,
    WAITING_TO_START,
)
from bulkhead.api.times import format_time, parse_time
from bulkhead.api.triggers import EventRuns, RunEvent, Trigger, TriggerStatus, Verdict
from bulkhead.policy.ledger import missed, token

# The keys of the newest events each trigger remembers beyond status.runs (status.triggers[]
# .recent): a resend later than that finds no trace and is a new run.
RECENT_KEPT = 64
LIVE = ("Deferred", "Running")


@dataclass(frozen=True)
class Arrival:
    """A CloudEvent handed to the BatchJob's trigger `trigger`."""

    trigger: str
    event: RunEvent
    key: str  # policy/cloudevent.py event_key(source, id)


@dataclass(frozen=True)
class SourceRun:
    """A run of an after trigger's BatchJob that ended: its Job, result and end (RFC 3339)."""

    job_name: str
    result: str
    ended: str


@dataclass(frozen=True)
class Reading:
    """A backlog read: the number (None: the read failed, `error` says why) and when the read
    began."""

    value: float | None
    error: str
    started: datetime


@dataclass(frozen=True)
class Inputs:
    """What the triggers saw since the last pass, by trigger name: CloudEvents that arrived,
    the ended runs of each after trigger's BatchJob (None: it does not exist), the after cycles
    found (the BatchJobs around one), and each backlog trigger's newest reading."""

    created: str  # the BatchJob's creation time: runs of another that ended before start none
    arrivals: tuple[Arrival, ...] = ()
    sources: Mapping[str, tuple[SourceRun, ...] | None] = field(default_factory=dict)
    cycles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    readings: Mapping[str, Reading | None] = field(default_factory=dict)


@dataclass
class _Tally:
    """One trigger's status while a pass changes it."""

    status: TriggerStatus
    recent: list[str]
    runs_started: int
    duplicates: int
    coalesced: int
    changes: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, status: TriggerStatus) -> _Tally:
        # Why it starts nothing is decided afresh each pass.
        return cls(
            status.model_copy(update={"reason": None, "message": None}),
            list(status.recent or []),
            status.runs_started,
            status.duplicates,
            status.coalesced,
        )

    def set(self, **changes: object) -> None:
        self.changes.update(changes)

    def remember(self, key: str) -> None:
        self.recent = [*[k for k in self.recent if k != key], key][-RECENT_KEPT:]

    def result(self) -> TriggerStatus:
        return self.status.model_copy(
            update={
                **self.changes,
                "runs_started": self.runs_started,
                "duplicates": self.duplicates,
                "coalesced": self.coalesced,
                "recent": self.recent or None,
            }
        )


@dataclass
class Step:
    """A pass's new trigger statuses and, per arrival in order, what became of it."""

    statuses: list[TriggerStatus]
    verdicts: list[Verdict]


def ended_runs(status: Any) -> tuple[SourceRun, ...]:
    """The ended runs a BatchJob's status (its JSON, read defensively: another object's status)
    shows: each entry of status.runs that ended with a Job, or a one-shot's own run."""
    if not isinstance(status, dict):
        return ()
    entries = status.get("runs")
    if not isinstance(entries, list):
        entries = [{"result": status.get("phase"), **status}]
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        result, job, ended = entry.get("result"), entry.get("jobName"), entry.get("completionTime")
        if result in ("Succeeded", "Failed") and isinstance(job, str) and isinstance(ended, str):
            found.append(SourceRun(job, result, ended))
    return tuple(found)


def run_key(trigger: str, key: str) -> str:
    """The ledger token of the run `key` of trigger `trigger`."""
    return token(Run(scheduled_time="", result="Deferred", trigger=trigger, key=key))


def step(
    spec: BatchJobSpec,
    runs: dict[str, Run],
    previous: list[TriggerStatus] | None,
    inputs: Inputs,
    now: datetime,
) -> Step:
    """Adds to `runs` (the ledger by token, Jobs merged in) the runs `spec.triggers` want given
    `inputs`, marks Missed the waiting backlog runs a drained backlog no longer wants, and
    returns each trigger's status (from `previous`) and each arrival's verdict."""
    known = {s.name: s for s in previous or []}
    tallies: dict[str, _Tally] = {}
    for trigger in spec.triggers or []:
        old = known.get(trigger.name)
        if old is None or old.kind != trigger.kind:
            old = TriggerStatus(name=trigger.name, kind=trigger.kind)
        tallies[trigger.name] = _Tally.of(old)
    bounds = spec.bounds
    for trigger in spec.triggers or []:
        tally = tallies[trigger.name]
        if trigger.backlog is not None:
            _backlog(trigger, tally, runs, bounds, inputs.readings.get(trigger.name), now)
        elif trigger.after is not None:
            _after(trigger, tally, runs, bounds, inputs, now)
    verdicts: list[Verdict] = []
    triggers = {t.name: t for t in spec.triggers or []}
    for arrival in inputs.arrivals:
        target = triggers.get(arrival.trigger)
        if target is None or target.cloud_event is None:
            verdicts.append("UnknownTrigger")
            continue
        wanted = target.cloud_event
        if (wanted.types and arrival.event.type not in wanted.types) or (
            wanted.sources and arrival.event.source not in wanted.sources
        ):
            verdicts.append("Filtered")
            continue
        tally = tallies[target.name]
        verdict = _add(runs, tally, target.name, arrival.key, bounds, now, arrival.event)
        if verdict != "Duplicate":
            tally.set(
                last_event=f"{arrival.event.source} {arrival.event.id}"[:253],
                last_event_time=format_time(now),
            )
        verdicts.append(verdict)
    return Step([t.result() for t in tallies.values()], verdicts)


def _live(runs: dict[str, Run]) -> list[Run]:
    return [r for r in runs.values() if r.trigger and r.result in LIVE]


def _add(
    runs: dict[str, Run],
    tally: _Tally,
    trigger: str,
    key: str,
    bounds: EventRuns,
    now: datetime,
    event: RunEvent | None = None,
    message: str = "",
) -> Verdict:
    """Adds the run `key` of `trigger` to `runs` unless it is known (Duplicate) or the live runs
    are at their bound (Coalesced, into the newest waiting run)."""
    if run_key(trigger, key) in runs or key in tally.recent:
        tally.duplicates += 1
        return "Duplicate"
    tally.remember(key)
    live = _live(runs)
    if len(live) >= bounds.max_in_flight + bounds.max_pending:
        waiting = [r for r in live if r.result == "Deferred"]
        own = [r for r in waiting if r.trigger == trigger]
        joined = max(own or waiting, key=lambda r: (r.scheduled_time, token(r)), default=None)
        if joined is not None:
            runs[token(joined)] = joined.model_copy(
                update={"coalesced": (joined.coalesced or 0) + 1}
            )
            tally.coalesced += 1
            tally.set(
                reason=MAX_PENDING,
                message=f"eventRuns.maxPending ({bounds.max_pending}) runs wait already: new "
                f"events join the newest waiting run",
            )
            return "Coalesced"
    runs[run_key(trigger, key)] = Run(
        scheduled_time=format_time(now),
        result="Deferred",
        reason=WAITING_TO_START,
        message=message or f"started by trigger {trigger}",
        trigger=trigger,
        key=key,
        event=event,
    )
    tally.runs_started += 1
    return "Accepted"


def _backlog(
    trigger: Trigger,
    tally: _Tally,
    runs: dict[str, Run],
    bounds: EventRuns,
    reading: Reading | None,
    now: datetime,
) -> None:
    """Wants ceil(backlog / itemsPerRun) live runs of `trigger`: adds the missing ones (up to the
    bound), or marks Missed the waiting ones beyond it. A reading that began before the newest
    of its runs ended may still count the items that run worked off: it decides nothing."""
    backlog = trigger.backlog
    assert backlog is not None
    if reading is None:
        return
    if reading.value is None:
        tally.set(reason=SIGNAL_UNREAD, message=f"the backlog could not be read: {reading.error}")
        return
    wanted = max(math.ceil(reading.value / backlog.items_per_run), 0)
    tally.set(
        last_value=reading.value, last_read_time=format_time(reading.started), runs_wanted=wanted
    )
    ended = [
        parse_time(r.completion_time)
        for r in runs.values()
        if r.trigger == trigger.name and r.completion_time
    ]
    if ended and reading.started < max(ended):
        return
    mine = sorted(
        (r for r in _live(runs) if r.trigger == trigger.name),
        key=lambda r: (r.scheduled_time, token(r)),
    )
    waiting = [r for r in mine if r.result == "Deferred"]
    for run in waiting[max(len(waiting) - (len(mine) - wanted), 0) :] if wanted < len(mine) else []:
        runs[token(run)] = missed(
            run,
            BACKLOG_DRAINED,
            f"the backlog fell to {reading.value:g} ({wanted} runs of {backlog.items_per_run} "
            f"items): this run is no longer wanted",
        )
    room = bounds.max_in_flight + bounds.max_pending - len(_live(runs))
    missing = wanted - len(mine)
    if missing > room:
        tally.set(
            reason=MAX_PENDING,
            message=f"the backlog wants {wanted} runs; eventRuns bounds live runs at "
            f"{bounds.max_in_flight + bounds.max_pending}",
        )
    # Numbered after every run of it known (runsStarted, and the ledger should a status have
    # been lost): a number is never used twice.
    keys = [r.key or "" for r in runs.values() if r.trigger == trigger.name]
    numbers = [int(k) for k in keys if k.isdigit()]
    for _ in range(min(missing, room)):
        number = max([tally.runs_started, *numbers]) + 1
        numbers.append(number)
        _add(
            runs,
            tally,
            trigger.name,
            str(number),
            bounds,
            now,
            message=f"the backlog was {reading.value:g} items, {backlog.items_per_run} a run",
        )


def _after(
    trigger: Trigger,
    tally: _Tally,
    runs: dict[str, Run],
    bounds: EventRuns,
    inputs: Inputs,
    now: datetime,
) -> None:
    """Adds a run for each run of after.batchJob that ended as after.results says since the last one
    handled (or since this BatchJob was created), keyed by that run's Job."""
    after = trigger.after
    assert after is not None
    cycle = inputs.cycles.get(trigger.name)
    if cycle:
        tally.set(
            reason=TRIGGER_CYCLE,
            message="after triggers make a cycle (" + " -> ".join(cycle) + "): none of it starts",
        )
        return
    ended = inputs.sources.get(trigger.name)
    if ended is None:
        tally.set(
            reason=SOURCE_NOT_FOUND,
            message=f"BatchJob {after.batch_job} does not exist (yet): runs start once it does "
            f"and one of its runs ends",
        )
        return
    since = tally.status.last_event_time or inputs.created
    for run in sorted(ended, key=lambda r: (r.ended, r.job_name)):
        # Equal times: a second run may end in the same second; the key finds a repeat.
        if run.result not in after.results or run.ended < since:
            continue
        verdict = _add(
            runs,
            tally,
            trigger.name,
            run.job_name,
            bounds,
            now,
            message=f"run {run.job_name} of {after.batch_job} {run.result.lower()}",
        )
        if verdict != "Duplicate":
            tally.set(last_event=run.job_name, last_event_time=run.ended)


def find_cycle(start: str, after_of: Callable[[str], tuple[str, ...]]) -> tuple[str, ...]:
    """The BatchJobs around a cycle of after triggers through `start` (start first and last),
    given the names a BatchJob of its namespace follows; () when there is none."""
    path: list[str] = [start]
    seen: set[str] = set()

    def walk(name: str) -> bool:
        for nxt in after_of(name):
            if nxt == start:
                path.append(nxt)
                return True
            if nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            if walk(nxt):
                return True
            path.pop()
        return False

    return tuple(path) if walk(start) else ()
