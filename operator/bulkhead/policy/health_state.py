"""Pure: what the health loop of a Dependency keeps from one step to the next and hands on: its
readings, its state, the step's result, the settings read from the spec, and the words its
changes are told in (policy/health.py judges, policy/breaker.py and policy/adaptive.py act)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bulkhead.api.constants import Key
from bulkhead.api.health import Adaptive, Breaker, BreakerState, Health, HealthState, SignalLoss
from bulkhead.api.times import duration


@dataclass(frozen=True)
class Reading:
    """One signal as last read: `value` and `time` of the last good read (None before any),
    `error` of the latest read when it failed."""

    value: float | None
    time: datetime | None
    error: str | None = None


@dataclass(frozen=True)
class Probe:
    key: Key  # the BatchJob admitted as the probe
    since: datetime  # when it was admitted: the signals are judged for observeFor from then


@dataclass(frozen=True)
class LoopState:
    """What one step hands the next (and the status keeps, so a restart resumes it)."""

    health: HealthState = "Unknown"
    pending: HealthState | None = None  # a change of health waiting out `for`
    pending_since: datetime | None = None
    limit: int | None = None  # the adaptive limit; None: not started, capacity
    last_change: datetime | None = None  # of the limit
    breaker: BreakerState = "Closed"
    opens: int = 0  # openings in a row without a successful probe
    opened_at: datetime | None = None
    open_until: datetime | None = None
    probe: Probe | None = None
    lost_since: datetime | None = None  # the first step whose signals were not all read
    lost: bool = False  # the signals counted as lost (onSignalLoss applies)


@dataclass(frozen=True)
class Change:
    """One change a person should hear of: an Event reason and its message, with the numbers."""

    reason: str
    message: str


@dataclass(frozen=True)
class Step:
    """What one step decided: the state for the next, the capacities, and what changed."""

    state: LoopState
    effective: int  # the effective capacity decided
    enforced: int  # what admission uses: `effective`, or the capacity under dryRun
    available: bool  # every signal was read at this step
    lost: bool  # signals unread for onSignalLoss.after
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Settings:
    """The health spec with its defaults filled in and its durations read."""

    hold_for: timedelta
    adaptive: Adaptive
    settle: timedelta
    breaker: Breaker
    loss: SignalLoss
    floor: int


def settings_of(spec: Health, capacity: int) -> Settings:
    """Returns the settings of a loop, given its health `spec` and the Dependency's capacity
    (minCapacity is at most it)."""
    adaptive = spec.adaptive or Adaptive()
    return Settings(
        hold_for=duration(spec.for_),
        adaptive=adaptive,
        settle=duration(adaptive.settle_time),
        breaker=spec.breaker or Breaker(),
        loss=spec.on_signal_loss or SignalLoss(),
        floor=min(adaptive.min_capacity, capacity),
    )


@dataclass(frozen=True)
class Verdicts:
    """Each condition's truth at one step."""

    open: bool
    degraded: bool
    recovered: bool


def values_text(values: Mapping[str, float]) -> str:
    """Returns signal values as a person reads them ("p99 0.31, errors 0"), given `values`."""
    return ", ".join(f"{name} {value:g}" for name, value in values.items()) or "signals unread"


def clock_text(moment: datetime | None) -> str:
    """Returns the time of day of `moment` (HH:MM:SS), "?" given None."""
    return moment.strftime("%H:%M:%S") if moment else "?"
