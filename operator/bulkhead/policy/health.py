"""Pure: a Dependency's health control loop. The signals just read, the state kept from the last
step, the spec, the capacity, the units in use and the clock -> the new state, the effective
capacity, and every change in words (for Events and conditions).

Rules (DESIGN.md, "Dependency health"):
- Health is Healthy, Degraded (degradedWhen held for `for`; it ends only when recoveredWhen has
  held for `for`: between the two nothing changes), Unhealthy (openWhen held for `for`) or
  Unknown (nothing judged yet, or the signals unread for onSignalLoss.after). Leaving Unknown
  takes effect at once: there is no judged state to flap from.
- The adaptive limit stays within [minCapacity, capacity] and changes at most once per
  settleTime. It is cut while the target's signal is above the target (to limit x target /
  value) or health is Degraded (x 0.9), each cut at least half and at most 0.9 of the limit and
  at least one unit; it grows by increaseStep while Healthy, at or below the target and all in
  use. Effective capacity = min(capacity, limit) while the breaker is closed.
- The breaker opens when health turns Unhealthy: no new starts for min(baseWait x opens,
  maxWait), lengthened by up to `jitter` of it (drawn from the Dependency and the opening, so
  the same after a restart). Then, unless health is still Unhealthy (it opens again at once,
  with a longer wait), HalfOpen: one probe run starts, and openWhen never holding for observeFor
  from its start closes the breaker at minCapacity; openWhen holding once opens it again.
  The probe's exit code plays no part.
- Signals unread: the last values hold until onSignalLoss.after, then (breaker closed) Hold keeps
  the limit, DecayToMin halves it once per settleTime down to minCapacity, FailClosed starts
  nothing, FailOpen allows the whole capacity. An open breaker stays open; a probe waits to be
  judged.
- dryRun: all of it is computed and shown; admission is by capacity alone (`enforced`).
- Running work is never stopped: every number here bounds new starts only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bulkhead.api.cel import compile_condition, evaluate
from bulkhead.api.constants import (
    CAPACITY_CUT,
    CAPACITY_RAISED,
    CIRCUIT_CLOSED,
    CIRCUIT_HALF_OPEN,
    CIRCUIT_OPEN,
    HEALTH_CHANGED,
    SIGNAL_AVAILABLE,
    SIGNAL_ERROR,
    SIGNAL_LOST,
    SIGNAL_RESTORED,
    Key,
)
from bulkhead.api.dependency import DependencyStatus
from bulkhead.api.health import (
    Adaptive,
    Breaker,
    BreakerState,
    BreakerStatus,
    Health,
    HealthState,
    PendingHealth,
    ProbeRun,
    SignalLoss,
    SignalReading,
)
from bulkhead.api.times import duration, format_time, parse_time

# A cut keeps at least this share of the limit, and removes at least 1 - MAX_KEEP of it.
MIN_KEEP = 0.5
MAX_KEEP = 0.9


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
class _Settings:
    hold_for: timedelta
    adaptive: Adaptive
    settle: timedelta
    breaker: Breaker
    loss: SignalLoss
    floor: int


def _settings(spec: Health, capacity: int) -> _Settings:
    adaptive = spec.adaptive or Adaptive()
    return _Settings(
        hold_for=duration(spec.for_),
        adaptive=adaptive,
        settle=duration(adaptive.settle_time),
        breaker=spec.breaker or Breaker(),
        loss=spec.on_signal_loss or SignalLoss(),
        floor=min(adaptive.min_capacity, capacity),
    )


def step(
    spec: Health,
    capacity: int,
    in_use: int,
    readings: Mapping[str, Reading],
    before: LoopState,
    now: datetime,
    seed: str,
) -> Step:
    """The loop's next state and effective capacity, given the Dependency's health spec, its
    capacity, the units its running work holds, the latest reading of each signal (a signal
    missing from `readings` counts as unread), the state of the previous step, the time and a
    seed for the breaker's jitter (the Dependency's name). Deterministic: the same inputs give
    the same Step."""
    settings = _settings(spec, capacity)
    changes: list[Change] = []
    names = tuple(s.name for s in spec.signals)
    fresh = {
        name: reading.value
        for name, reading in readings.items()
        if name in names and reading.error is None and reading.value is not None
    }
    available = len(fresh) == len(names)
    values = fresh if available else {}
    judged = _verdicts(spec, names, values) if available else None
    verdicts = judged if isinstance(judged, _Verdicts) else None
    if isinstance(judged, str):
        # Counted as unread: a condition that cannot be judged must not read as healthy.
        available = False
        if before.lost_since is None:
            changes.append(Change(SIGNAL_ERROR, judged))
    lost_since = None if available else (before.lost_since or now)
    lost = lost_since is not None and now - lost_since >= duration(settings.loss.after)
    # A spec change may have moved capacity or minCapacity past the kept limit.
    limit = capacity if before.limit is None else before.limit
    state = replace(
        before,
        limit=min(capacity, max(settings.floor, limit)),
        lost_since=lost_since,
        lost=lost,
    )
    if lost and not before.lost:
        changes.append(
            Change(
                SIGNAL_LOST,
                f"signals unread since {_clock(lost_since)}: {settings.loss.action}",
            )
        )
    if available and before.lost_since is not None:
        changes.append(Change(SIGNAL_RESTORED, f"signals read again: {_values(values)}"))

    if verdicts is not None:
        state = _judge(state, verdicts, spec, settings, now, values, changes)
    elif lost and state.health != "Unknown":
        changes.append(Change(HEALTH_CHANGED, f"health {state.health} -> Unknown: signals lost"))
        state = replace(state, health="Unknown", pending=None, pending_since=None)

    state = _breaker(state, verdicts, settings, now, seed, values, changes)
    if state.breaker == "Closed":
        state = _adapt(state, spec, settings, capacity, in_use, values, lost, now, changes)

    effective = _effective(state, settings, capacity, lost)
    return Step(
        state=state,
        effective=effective,
        enforced=capacity if spec.dry_run else effective,
        available=available,
        lost=lost,
        changes=tuple(changes),
    )


@dataclass(frozen=True)
class _Verdicts:
    open: bool
    degraded: bool
    recovered: bool


def _verdicts(spec: Health, names: tuple[str, ...], values: Mapping[str, float]) -> _Verdicts | str:
    """Each condition's truth (degradedWhen and openWhen false when absent, recoveredWhen true),
    or why one cannot be evaluated."""
    results: dict[str, bool] = {}
    for field, text in spec.conditions().items():
        compiled = compile_condition(text, names)
        result = compiled if isinstance(compiled, str) else evaluate(compiled, values)
        if isinstance(result, str):
            return f"{field} could not be evaluated: {result}"
        results[field] = result
    return _Verdicts(
        open=results.get("openWhen", False),
        degraded=results.get("degradedWhen", False),
        recovered=results.get("recoveredWhen", True),
    )


def _candidate(current: HealthState, verdicts: _Verdicts) -> HealthState:
    """The health the signals point to now, from `current` (the band keeps Degraded)."""
    if verdicts.open:
        return "Unhealthy"
    if current in ("Degraded", "Unhealthy"):
        return "Healthy" if verdicts.recovered and not verdicts.degraded else "Degraded"
    return "Degraded" if verdicts.degraded else "Healthy"


def _judge(
    state: LoopState,
    verdicts: _Verdicts,
    spec: Health,
    settings: _Settings,
    now: datetime,
    values: Mapping[str, float],
    changes: list[Change],
) -> LoopState:
    candidate = _candidate(state.health, verdicts)
    if candidate == state.health:
        return replace(state, pending=None, pending_since=None)
    since = state.pending_since if state.pending == candidate and state.pending_since else now
    if state.health != "Unknown" and now - since < settings.hold_for:
        return replace(state, pending=candidate, pending_since=since)
    changes.append(
        Change(
            HEALTH_CHANGED,
            f"health {state.health} -> {candidate}: {_why(candidate, spec)} ({_values(values)})",
        )
    )
    return replace(state, health=candidate, pending=None, pending_since=None)


def _why(health: HealthState, spec: Health) -> str:
    conditions = spec.conditions()
    if health == "Unhealthy":
        return conditions.get("openWhen", "")
    if health == "Degraded":
        return conditions.get("degradedWhen", "")
    return conditions.get("recoveredWhen", "no condition holds")


def wait(settings: Breaker, opens: int, seed: str) -> timedelta:
    """How long the `opens`-th opening in a row stays open: min(baseWait x opens, maxWait),
    lengthened by a share of it in [0, jitter) drawn from `seed` and `opens`."""
    base = min(duration(settings.base_wait) * max(opens, 1), duration(settings.max_wait))
    digest = hashlib.sha256(f"{seed}/{opens}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=round(base.total_seconds() * (1 + settings.jitter * share)))


def _open(
    state: LoopState,
    settings: _Settings,
    now: datetime,
    seed: str,
    why: str,
    changes: list[Change],
) -> LoopState:
    opens = state.opens + 1
    until = now + wait(settings.breaker, opens, seed)
    changes.append(
        Change(
            CIRCUIT_OPEN,
            f"circuit open: {why}; no new starts, half-open at {_clock(until)} (opening {opens})",
        )
    )
    return replace(state, breaker="Open", opens=opens, opened_at=now, open_until=until, probe=None)


def _breaker(
    state: LoopState,
    verdicts: _Verdicts | None,
    settings: _Settings,
    now: datetime,
    seed: str,
    values: Mapping[str, float],
    changes: list[Change],
) -> LoopState:
    if state.breaker == "Closed":
        if state.health == "Unhealthy":
            return _open(state, settings, now, seed, f"unhealthy ({_values(values)})", changes)
        return state
    if state.breaker == "Open":
        if state.open_until is not None and now < state.open_until:
            return state
        if verdicts is None:
            return state  # a probe could not be judged blind
        if state.health == "Unhealthy":
            return _open(
                state, settings, now, seed, f"still unhealthy ({_values(values)})", changes
            )
        changes.append(Change(CIRCUIT_HALF_OPEN, "circuit half-open: one probe run may start"))
        return replace(state, breaker="HalfOpen", open_until=None, probe=None)
    # HalfOpen
    if state.probe is None:
        if state.health == "Unhealthy":
            return _open(state, settings, now, seed, f"unhealthy ({_values(values)})", changes)
        return state
    if verdicts is None:
        return state
    name = f"{state.probe.key[0]}/{state.probe.key[1]}"
    if verdicts.open:
        return _open(
            state, settings, now, seed, f"probe {name} failed ({_values(values)})", changes
        )
    if now - state.probe.since < duration(settings.breaker.observe_for):
        return state
    changes.append(
        Change(
            CIRCUIT_CLOSED,
            f"circuit closed: healthy for {settings.breaker.observe_for} after probe {name}; "
            f"effective capacity restarts at {settings.floor}",
        )
    )
    return replace(
        state,
        breaker="Closed",
        opens=0,
        open_until=None,
        probe=None,
        limit=settings.floor,
        last_change=now,
    )


def cut(limit: int, keep: float, floor: int) -> int:
    """`limit` cut to round(limit x keep), keep clamped to [0.5, 0.9]: at least one unit less,
    never below half of it (rounded up) nor below `floor`; `limit` when no cut fits."""
    share = min(max(keep, MIN_KEEP), MAX_KEEP)
    lowest = max(floor, math.ceil(limit * MIN_KEEP))
    return max(lowest, min(limit - 1, round(limit * share)))


def _adapt(
    state: LoopState,
    spec: Health,
    settings: _Settings,
    capacity: int,
    in_use: int,
    values: Mapping[str, float],
    lost: bool,
    now: datetime,
    changes: list[Change],
) -> LoopState:
    limit = state.limit if state.limit is not None else capacity
    if state.last_change is not None and now - state.last_change < settings.settle:
        return state
    new, why = limit, ""
    if lost:
        if settings.loss.action == "DecayToMin":
            new = max(settings.floor, limit // 2)
            why = f"signals unread since {_clock(state.lost_since)}, DecayToMin"
    elif values:
        target = settings.adaptive.target
        value = values[target.signal] if target else None
        over = target is not None and value is not None and value > target.value
        if over:
            assert target is not None and value is not None
            new = cut(limit, target.value / value, settings.floor)
            why = f"{target.signal} {value:g} above target {target.value:g}"
        elif state.health == "Degraded":
            new = cut(limit, MAX_KEEP, settings.floor)
            why = f"degraded ({spec.degraded_when})"
        elif state.health == "Healthy" and in_use >= limit and limit < capacity:
            new = min(capacity, limit + settings.adaptive.increase_step)
            why = f"healthy and fully used (in use: {in_use})"
    if new == limit:
        return state
    reason = CAPACITY_CUT if new < limit else CAPACITY_RAISED
    changes.append(Change(reason, f"effective capacity {limit} -> {new}: {why}"))
    return replace(state, limit=new, last_change=now)


def _effective(state: LoopState, settings: _Settings, capacity: int, lost: bool) -> int:
    if state.breaker != "Closed":
        return 0
    if lost and settings.loss.action == "FailClosed":
        return 0
    if lost and settings.loss.action == "FailOpen":
        return capacity
    limit = state.limit if state.limit is not None else capacity
    return min(capacity, limit)


def admits_probe(state: LoopState, key: Key) -> bool:
    """Whether the BatchJob `key` may start while the breaker is HalfOpen: the probe already
    chosen, or any BatchJob while none is (the caller then records it with `with_probe`).
    False in every other breaker state (Closed admits by the effective capacity instead)."""
    if state.breaker != "HalfOpen":
        return False
    return state.probe is None or state.probe.key == key


def with_probe(state: LoopState, key: Key, now: datetime) -> LoopState:
    """`state` with `key` as the half-open probe, admitted at `now`; the same state when a probe
    is already chosen or the breaker is not HalfOpen."""
    if not admits_probe(state, key) or state.probe is not None:
        return state
    return replace(state, probe=Probe(key, now))


def _values(values: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items()) or "signals unread"


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "?"


# --- the status: what a person sees, and what a restart resumes from -----------------------


def status_fields(result: Step, readings: Mapping[str, Reading], spec: Health) -> dict[str, Any]:
    """The health part of a Dependency's status (DependencyStatus fields, as on the wire) for
    the step `result` and the readings it was computed from, signals in spec order."""
    state = result.state
    probe = state.probe
    return DependencyStatus(
        effective_capacity=result.effective,
        health=state.health,
        pending_health=PendingHealth(state=state.pending, since=format_time(state.pending_since))
        if state.pending and state.pending_since
        else None,
        adaptive_limit=state.limit,
        last_change_time=_stamp(state.last_change),
        breaker=BreakerStatus(
            state=state.breaker,
            opened_time=_stamp(state.opened_at),
            open_until=_stamp(state.open_until),
            opens=state.opens,
            probe=ProbeRun(
                namespace=probe.key[0], name=probe.key[1], start_time=format_time(probe.since)
            )
            if probe
            else None,
        ),
        signals=[
            SignalReading(
                name=signal.name,
                value=readings[signal.name].value,
                time=_stamp(readings[signal.name].time),
                error=readings[signal.name].error,
            )
            if signal.name in readings
            else SignalReading(name=signal.name, error="not read yet")
            for signal in spec.signals
        ],
        signals_lost_time=_stamp(state.lost_since),
    ).wire()


def from_status(status: Mapping[str, Any] | None) -> LoopState:
    """The loop state a Dependency's status keeps (see status_fields), so an operator restart
    resumes where it was; a fresh LoopState when the status has none or does not parse."""
    try:
        parsed = DependencyStatus.model_validate(status or {})
    except ValueError:
        return LoopState()
    breaker = parsed.breaker or BreakerStatus(state="Closed")
    probe = breaker.probe
    lost = any(
        c.type == SIGNAL_AVAILABLE and c.reason == SIGNAL_LOST for c in parsed.conditions or []
    )
    return LoopState(
        health=parsed.health or "Unknown",
        pending=parsed.pending_health.state if parsed.pending_health else None,
        pending_since=_time(parsed.pending_health.since) if parsed.pending_health else None,
        limit=parsed.adaptive_limit,
        last_change=_time(parsed.last_change_time),
        breaker=breaker.state,
        opens=breaker.opens,
        opened_at=_time(breaker.opened_time),
        open_until=_time(breaker.open_until),
        probe=Probe((probe.namespace, probe.name), parse_time(probe.start_time)) if probe else None,
        lost_since=_time(parsed.signals_lost_time),
        lost=lost,
    )


def readings_from_status(status: Mapping[str, Any] | None) -> dict[str, Reading]:
    """The last readings a Dependency's status shows, by signal name (a restart starts from
    them: their times say how old they are)."""
    try:
        parsed = DependencyStatus.model_validate(status or {})
    except ValueError:
        return {}
    return {
        s.name: Reading(s.value, _time(s.time), s.error)
        for s in parsed.signals or []
        if s.time is not None
    }


def waiting_message(name: str, result: Step, capacity: int, values: str) -> str | None:
    """Why BatchJobs that use the Dependency `name` wait because of its health, for their
    status ("waiting for orders-db: circuit open since 12:04:10 (p99 1.4), half-open at
    12:06:02"), given its step, its capacity and its signal values as text; None when health
    holds nothing back (and under dryRun, which enforces nothing)."""
    state = result.state
    if result.enforced >= capacity:
        return None
    if state.breaker == "Open":
        return (
            f"waiting for {name}: circuit open since {_clock(state.opened_at)} ({values}), "
            f"half-open at {_clock(state.open_until)}"
        )
    if state.breaker == "HalfOpen":
        if state.probe is None:
            return f"waiting for {name}: circuit half-open, one probe run may start"
        probe = f"{state.probe.key[0]}/{state.probe.key[1]}"
        return f"waiting for {name}: circuit half-open, probe {probe} running"
    cause = "signals lost" if result.lost else values
    return f"waiting for {name}: effective capacity {result.enforced} of {capacity} ({cause})"


def readings_text(readings: Mapping[str, Reading]) -> str:
    """The signal values as a person reads them: "p99 0.31, errors 0"."""
    return _values({n: r.value for n, r in readings.items() if r.value is not None})


def _stamp(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None


def _time(text: str | None) -> datetime | None:
    return parse_time(text) if text else None
