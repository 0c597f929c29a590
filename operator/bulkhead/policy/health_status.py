"""Pure: the health loop in a Dependency's status, both ways (what a person sees, and what a
restart resumes from), and the words waiting BatchJobs show for it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bulkhead.api.constants import SIGNAL_AVAILABLE, SIGNAL_LOST
from bulkhead.api.dependency import DependencyStatus
from bulkhead.api.health import BreakerStatus, Health, PendingHealth, ProbeRun, SignalReading
from bulkhead.api.times import format_time, parse_time
from bulkhead.policy.health_state import LoopState, Probe, Reading, Step, clock_text, values_text


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
            f"waiting for {name}: circuit open since {clock_text(state.opened_at)} ({values}), "
            f"half-open at {clock_text(state.open_until)}"
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
    return values_text({n: r.value for n, r in readings.items() if r.value is not None})


def _stamp(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None


def _time(text: str | None) -> datetime | None:
    return parse_time(text) if text else None
