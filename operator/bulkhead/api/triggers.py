"""Runs started by events (spec.triggers, spec.eventRuns) and what a BatchJob's status shows of
them (status.triggers, and each run's trigger in status.runs). Every triggered run waits for
its Dependencies like any other run (policy/triggers.py decides which runs a trigger wants)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from bulkhead.api.base import Label, Model, Name, ShortText, Timestamp, cel, exactly_one
from bulkhead.api.health import SignalSource
from bulkhead.api.times import Duration, check_duration

# The most bytes of a CloudEvent's data a run is handed (in its ledger entry, then an
# environment variable of its pod): the ledger holds up to 32 runs in one status.
MAX_EVENT_DATA = 4096


def _poll_interval(value: str) -> str:
    return check_duration(value, "pollInterval", 1, 3600)


class BacklogTrigger(Model):
    """Runs for a backlog of work: a number read like a health signal (a queue's depth from
    RabbitMQ's management API, a consumer lag through Prometheus, a table's row count through
    an exporter). It wants ceil(backlog / itemsPerRun) runs, less those already waiting,
    admitted or running, so a slow budget never multiplies runs."""

    signal: SignalSource
    """Where the backlog is read: exactly one of prometheus, http."""
    items_per_run: Annotated[int, Field(ge=1, le=1_000_000_000)]
    """How many items of the backlog one run works off; at least 1. Required."""
    poll_interval: Annotated[Duration, AfterValidator(_poll_interval)] = "15s"
    """How often the backlog is read. Default 15s; 1s to 1h."""


EventAttribute = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class CloudEventTrigger(Model):
    """Runs for CloudEvents posted to the operator's endpoint
    (/events/<namespace>/<batchjob>/<trigger>, the CloudEvents HTTP binding, structured or
    binary): one run per event at most, keyed by its source and id, so a resent event starts
    nothing. The caller authenticates with a ServiceAccount token and needs the verb trigger
    on batchjobs.bulkhead.dev (or patch) for this BatchJob. The event's data reaches the run's
    container as BULKHEAD_EVENT_DATA (at most 4096 bytes), its id, source and type as
    BULKHEAD_EVENT_ID, BULKHEAD_EVENT_SOURCE and BULKHEAD_EVENT_TYPE."""

    types: Annotated[list[EventAttribute], Field(max_length=16)] | None = None
    """Event types accepted (exact match), at most 16. Default: any type."""
    sources: Annotated[list[EventAttribute], Field(max_length=16)] | None = None
    """Event sources accepted (exact match), at most 16. Default: any source."""


AfterResult = Literal["Succeeded", "Failed"]


def _succeeded() -> list[AfterResult]:
    return ["Succeeded"]


class AfterTrigger(Model):
    """One run for each run of another BatchJob of the same namespace that ends as `results`
    says, keyed by that run, so a restart, a retry or a re-list never starts two. A chain, not a
    DAG: for fan-in and branching use Argo Workflows (docs/triggers.md shows a BatchJob as a
    step)."""

    batch_job: Name
    """The BatchJob (same namespace) whose runs start this one's. Runs of it that ended before
    this BatchJob existed start nothing."""
    # Not `on`: YAML 1.1 (PyYAML, and the parser kubectl uses) reads an unquoted key `on` as
    # the boolean true.
    results: Annotated[
        list[AfterResult],
        Field(min_length=1, max_length=2, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = Field(default_factory=_succeeded)
    """Which results of its runs start a run here: Succeeded, Failed, or both. Default
    [Succeeded]."""


class Trigger(Model):
    """One source of runs: exactly one of backlog, cloudEvent, after."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.backlog), has(self.cloudEvent), has(self.after)]"
                    ".filter(x, x).size() == 1",
                    "exactly one of backlog, cloudEvent, after must be set",
                )
            ]
        }
    )
    name: Label
    """The trigger's name, unique in the BatchJob: it names the runs it starts and its
    endpoint path. A DNS label."""
    backlog: BacklogTrigger | None = None
    """Runs for a backlog read from a queue or an exporter."""
    cloud_event: CloudEventTrigger | None = None
    """Runs for CloudEvents posted to the operator's endpoint."""
    after: AfterTrigger | None = None
    """Runs after each run of another BatchJob."""

    @model_validator(mode="after")
    def _one_source(self) -> Trigger:
        exactly_one(
            self,
            ("backlog", "cloud_event", "after"),
            "exactly one of backlog, cloudEvent, after must be set",
        )
        return self

    @property
    def kind(self) -> TriggerKind:
        if self.backlog is not None:
            return "Backlog"
        return "CloudEvent" if self.cloud_event is not None else "After"


TriggerKind = Literal["Backlog", "CloudEvent", "After"]


class EventRuns(Model):
    """Bounds on the runs triggers start. Together at most 28: every waiting and running run is
    an entry of status.runs (at most 32)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.maxInFlight + self.maxPending <= 28",
                    "maxInFlight + maxPending must be at most 28",
                )
            ]
        }
    )
    max_in_flight: Annotated[int, Field(ge=1, le=20)] = 1
    """Triggered runs that may be admitted or running at once. Default 1; 1 to 20."""
    max_pending: Annotated[int, Field(ge=0, le=20)] = 8
    """Triggered runs that may wait (for a Dependency or a free maxInFlight slot). Beyond it, new
    events join the newest waiting run of their trigger (coalesced: counted on the run and in
    status.triggers) instead of adding one. Default 8; 0 to 20."""

    @model_validator(mode="after")
    def _within_ledger(self) -> EventRuns:
        if self.max_in_flight + self.max_pending > 28:
            raise ValueError("maxInFlight + maxPending must be at most 28")
        return self


class RunEvent(Model):
    """The CloudEvent a run answers."""

    id: EventAttribute
    """The event's id."""
    source: EventAttribute
    """The event's source."""
    type: EventAttribute
    """The event's type."""
    data: Annotated[str, StringConstraints(max_length=MAX_EVENT_DATA)] | None = None
    """The event's data as text (base64 when it was not UTF-8), at most 4096 bytes."""


# What became of a CloudEvent (state/intake.py):
# Accepted: a new run waits for it; Duplicate: its (source, id) was handled before (no second
# run); Coalesced: beyond eventRuns.maxPending, joined to the newest waiting run; UnknownTrigger:
# no such BatchJob, or it has no cloudEvent trigger of that name; Filtered: the trigger's types or
# sources do not take it; Suspended: the BatchJob is suspended, no run starts; NotLeader: this
# replica does not decide (ask again: the leader will); Unavailable: it could not be recorded
# (the status write failed or took too long): send it again.
Verdict = Literal[
    "Accepted",
    "Duplicate",
    "Coalesced",
    "UnknownTrigger",
    "Filtered",
    "Suspended",
    "NotLeader",
    "Unavailable",
]


class TriggerStatus(Model):
    """What one trigger last saw and did."""

    name: Label
    """The trigger, one of spec.triggers."""
    kind: TriggerKind
    """Backlog, CloudEvent or After."""
    runs_started: Annotated[int, Field(ge=0)] = 0
    """Runs this trigger added to status.runs, in all."""
    duplicates: Annotated[int, Field(ge=0)] = 0
    """Events that named a run it had already (a resent CloudEvent, a re-listed run)."""
    coalesced: Annotated[int, Field(ge=0)] = 0
    """Events or backlog runs beyond eventRuns.maxPending, joined to a waiting run."""
    last_value: float | None = None
    """Backlog: the last number read."""
    last_read_time: Timestamp | None = None
    """Backlog: when it was read (RFC 3339)."""
    runs_wanted: Annotated[int, Field(ge=0)] | None = None
    """Backlog: ceil(backlog / itemsPerRun) at the last read."""
    last_event: ShortText | None = None
    """CloudEvent: the source and id of the last event accepted; After: the run that last started
    one here."""
    last_event_time: Timestamp | None = None
    """When the last event was accepted, or (After) when that run ended (RFC 3339)."""
    reason: ShortText | None = None
    """Why it starts nothing now, when it does not: MaxPending, MaxInFlight, SourceNotFound,
    TriggerCycle, SignalUnread."""
    message: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """The same, for a person."""
    recent: Annotated[list[ShortText], Field(max_length=64)] | None = None
    """The keys of the newest events handled (at most 64), so a resent one is a duplicate even
    once its run has left status.runs."""
