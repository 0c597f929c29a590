"""The Dependency kind: a shared service's budget for batch runs (capacity, start rate, windows,
allowed namespaces, network, health) and its status (units in use, holders, the head of its
line, conditions, the health loop's state)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from bulkhead.api.base import Model, ShortText, Timestamp, cel, check_zone
from bulkhead.api.fair_sharing import FairSharing, SharesStatus
from bulkhead.api.health import BreakerStatus, Health, HealthState, PendingHealth, SignalReading
from bulkhead.api.meta import Conditions, LabelSelector
from bulkhead.api.network import DependencyNetwork

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Window(Model):
    """A time of day when a Dependency lets new runs start."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.start != self.end", "a window's start and end must differ")
            ]
        }
    )
    days: Annotated[list[Day], Field(max_length=7)] | None = None
    """Days the window opens on, Mon to Sun. Default: every day."""
    start: ClockTime
    """When it opens, HH:MM (24 h) in timeZone."""
    end: ClockTime
    """When it closes, HH:MM, exclusive. Before start: the window runs past midnight into the next
    day."""
    time_zone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    """IANA time zone of start and end, so the window follows daylight saving. Default UTC."""

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError("a window's start and end must differ")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)


MIN_CAPACITY_RULE = "health.adaptive.minCapacity must be at most capacity"
GUARANTEES_RULE = "the guarantees of fairSharing.shares add up to more than capacity"


class DependencySpec(Model):
    """A shared service's budget for batch runs: how many units runs may hold at once, and when and
    from which namespaces new runs may start."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.health) || !has(self.health.adaptive) || "
                    "self.health.adaptive.minCapacity <= self.capacity",
                    MIN_CAPACITY_RULE,
                    ".health.adaptive.minCapacity",
                ),
                cel(
                    "!has(self.fairSharing) || !has(self.fairSharing.shares) || "
                    "self.fairSharing.shares.map(s, s.guaranteed).sum() <= self.capacity",
                    GUARANTEES_RULE,
                    ".fairSharing.shares",
                ),
            ]
        }
    )

    capacity: Annotated[int, Field(ge=0, le=1_000_000)]
    """Units running BatchJobs may hold at once, summed over their uses[].units; 0 admits nothing.
    Lowering it stops no running work. 0 to 1000000."""
    max_starts_per_minute: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """At most this many runs start in any 60 s, to spread starts. Default: no limit."""
    windows: Annotated[list[Window], Field(max_length=16)] | None = None
    """When new runs may start; outside every window they wait (WaitingForWindow), running ones go
    on. At most 16. Default: always."""
    allowed_namespaces: LabelSelector | None = None
    """Namespaces, by label, whose BatchJobs may use it; others stay Pending (NamespaceNotAllowed).
    Default: every namespace."""
    # Opt-in egress isolation for the runs that use it (policy/network.py).
    network: DependencyNetwork | None = None
    """Where the service is reached. When set, the runs that use it get an egress NetworkPolicy that
    allows only DNS and their Dependencies' networks. Default: no egress isolation."""
    health: Health | None = None
    """The service's health, read from its monitoring: new starts follow it (an adaptive limit
    and a circuit breaker). Default: none, capacity alone."""
    fair_sharing: FairSharing | None = None
    """The units shared fairly between teams (shares with weights, guarantees and borrowing
    limits) instead of first come, first served. Default: one line for everyone, by priority,
    then age."""

    @model_validator(mode="after")
    def _min_capacity(self) -> DependencySpec:
        adaptive = self.health.adaptive if self.health else None
        if adaptive is not None and adaptive.min_capacity > self.capacity:
            raise ValueError(MIN_CAPACITY_RULE)
        return self

    @model_validator(mode="after")
    def _guarantees(self) -> DependencySpec:
        shares = self.fair_sharing.shares if self.fair_sharing else None
        if shares and sum(share.guaranteed for share in shares) > self.capacity:
            raise ValueError(GUARANTEES_RULE)
        return self


class Holder(Model):
    """An unfinished run's Job that holds units of the Dependency."""

    namespace: ShortText
    """Namespace of the Job."""
    name: ShortText
    """Name of the Job (a BatchJob's run)."""
    units: int
    """Units it holds."""


class InLine(Model):
    """A BatchJob waiting in a Dependency's line."""

    position: int
    """Its place in line; 1 is next."""
    namespace: ShortText
    """Namespace of the BatchJob."""
    name: ShortText
    """Name of the BatchJob."""
    units: int
    """Units it needs of this Dependency."""


class DependencyStatus(Model):
    """How much of the budget is in use, by which Jobs, and how many BatchJobs wait; only the
    operator writes it."""

    observed_generation: int | None = None
    """The metadata.generation this status was computed from."""
    in_use: int | None = None
    """Units held by unfinished runs, counted from the Jobs that exist."""
    holders: Annotated[list[Holder], Field(max_length=1000)] | None = None
    """The Jobs that hold units, at most 1000 shown."""
    waiting: int | None = None
    """BatchJobs waiting for this Dependency."""
    queue: Annotated[list[InLine], Field(max_length=10)] | None = None
    """The head of the line: the first 10 BatchJobs waiting that use it, in admission order
    (priority, then creation time or a scheduled run's instant)."""
    conditions: Conditions | None = None
    """Ready (reason Full or Available; False with InvalidSpec when its spec cannot be read),
    WindowClosed, and with health: SignalAvailable, Throttled, CircuitOpen, Probing, DryRun."""
    # With spec.health (policy/health.py): what the control loop shows and keeps between reads,
    # so an operator restart resumes it where it was.
    effective_capacity: int | None = None
    """With health: the units new starts may fill, min(capacity, adaptive limit), 0 while the
    breaker is open. With dryRun it is shown, not enforced."""
    health: HealthState | None = None
    """With health: Healthy, Degraded, Unhealthy (openWhen holds) or Unknown (signals unread)."""
    pending_health: PendingHealth | None = None
    """With health: a change of health that waits out health.for."""
    adaptive_limit: int | None = None
    """With health: the adaptive limit, between minCapacity and capacity while the breaker is
    closed and the signals are read."""
    last_change_time: Timestamp | None = None
    """With health: when the adaptive limit last changed (RFC 3339); the next change waits
    settleTime from it."""
    breaker: BreakerStatus | None = None
    """With health: the circuit breaker."""
    signals: Annotated[list[SignalReading], Field(max_length=8)] | None = None
    """With health: the last read of each signal."""
    shares: SharesStatus | None = None
    """With fairSharing: each share that holds, waits or has past use, as the last admission
    pass saw it."""
    usage_time: Timestamp | None = None
    """With fairSharing: when shares[].usage was computed (RFC 3339), so a restarted operator
    decays it from there."""
    signals_lost_time: Timestamp | None = None
    """With health: since when a signal has not been read (RFC 3339); onSignalLoss applies
    after onSignalLoss.after."""
