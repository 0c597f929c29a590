"""Pure: what admission knows of a Dependency -> its status (inUse, holders, waiting, the head
of its line, the Ready and WindowClosed conditions; with health, the loop's fields and its five
conditions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bulkhead.api.constants import (
    ADAPTIVE_LIMIT,
    AT_CAPACITY,
    AVAILABLE,
    CIRCUIT_OPEN,
    DRY_RUN,
    ENFORCED,
    FULL,
    INSIDE_WINDOW,
    INVALID_SPEC,
    NOT_PROBING,
    OPEN_WHEN,
    OUTSIDE_WINDOWS,
    PROBE_RUNNING,
    PROBING,
    SIGNAL_AVAILABLE,
    SIGNAL_LOST,
    SIGNAL_UNREAD,
    SIGNALS_READ,
    THROTTLED,
    WAITING_FOR_PROBE,
    Key,
)
from bulkhead.api.dependency import DependencyStatus
from bulkhead.api.health import Breaker, Health, SignalLoss
from bulkhead.api.times import format_time
from bulkhead.api.views import DependencyView
from bulkhead.policy.budget import DependencyState
from bulkhead.policy.conditions import condition, parse
from bulkhead.policy.health_state import LoopState, Reading, Step
from bulkhead.policy.health_status import readings_text, status_fields
from bulkhead.policy.windows import windows_open

MAX_HOLDERS_SHOWN = 1000


def dependency_status(
    dep: DependencyView,
    state: DependencyState,
    waiting: int,
    head: list[tuple[Key, int]],
    now: datetime,
    health: tuple[Step, Mapping[str, Reading]] | None = None,
) -> dict[str, Any]:
    """The status `dep` should show, given its holders, the number of BatchJobs waiting for it,
    the head of its line ((namespace, name), units needed) in order and, with spec.health, the
    health step and the readings it used; conditions keep their
    lastTransitionTime while their status holds."""
    before = parse((dep.status or {}).get("conditions"))
    stamp = format_time(now)
    closed = not windows_open(state.spec, now)
    capacity = state.spec.capacity
    limit = health[0].enforced if health else capacity
    full = state.in_use >= limit
    usage = f"{state.in_use} of {capacity} units in use"
    if health and limit < capacity:
        loop = health[0].state
        usage += f", effective capacity {limit} (health {loop.health}, breaker {loop.breaker})"
    status = DependencyStatus(
        observed_generation=dep.generation,
        in_use=state.in_use,
        holders=[
            {"namespace": h.key[0], "name": h.key[1], "units": h.units}
            for h in sorted(state.holders, key=lambda h: h.key)[:MAX_HOLDERS_SHOWN]
        ],
        waiting=waiting,
        queue=[
            {"position": i, "namespace": key[0], "name": key[1], "units": units}
            for i, (key, units) in enumerate(head, start=1)
        ]
        or None,
        conditions=[
            condition(
                "Ready",
                True,
                FULL if full else AVAILABLE,
                f"{usage}, {waiting} waiting",
                generation=dep.generation,
                before=before.get("Ready"),
                now=stamp,
            ),
            condition(
                "WindowClosed",
                closed,
                OUTSIDE_WINDOWS if closed else INSIDE_WINDOW,
                "no new starts until a window opens" if closed else "new starts allowed",
                generation=dep.generation,
                before=before.get("WindowClosed"),
                now=stamp,
            ),
        ],
    ).wire()
    if health is None or state.spec.health is None:
        return status
    step, readings = health
    fields = status_fields(step, readings, state.spec.health)
    conditions = health_conditions(step, readings, state.spec.health, capacity)
    status["conditions"] += [
        condition(
            kind,
            value,
            reason,
            message,
            generation=dep.generation,
            before=before.get(kind),
            now=stamp,
        ).wire()
        for kind, value, reason, message in conditions
    ]
    return {**status, **fields}


def health_conditions(
    step: Step, readings: Mapping[str, Reading], spec: Health, capacity: int
) -> list[tuple[str, bool, str, str]]:
    """(type, status, reason, message) of SignalAvailable, Throttled, CircuitOpen, Probing and
    DryRun for a health step, the readings it used, the health spec and the capacity."""
    state = step.state
    values = readings_text(readings)
    errors = "; ".join(
        f"{s.name}: {readings[s.name].error if s.name in readings else 'not read yet'}"
        for s in spec.signals
        if s.name not in readings or readings[s.name].error
    )
    loss = spec.on_signal_loss or SignalLoss()
    if step.available:
        signal = (SIGNAL_AVAILABLE, True, SIGNALS_READ, values)
    elif step.lost:
        signal = (
            SIGNAL_AVAILABLE,
            False,
            SIGNAL_LOST,
            f"{errors}; unread since {_stamp(state.lost_since)}: {loss.action}",
        )
    else:
        signal = (
            SIGNAL_AVAILABLE,
            False,
            SIGNAL_UNREAD,
            f"{errors}; the last values hold for {loss.after}",
        )
    throttled = step.effective < capacity
    why = {"Open": CIRCUIT_OPEN, "HalfOpen": PROBING}.get(state.breaker)
    why = why or (SIGNAL_LOST if step.lost else ADAPTIVE_LIMIT)
    return [
        signal,
        (
            THROTTLED,
            throttled,
            why if throttled else AT_CAPACITY,
            f"effective capacity {step.effective} of {capacity} (health {state.health}; {values})",
        ),
        (
            CIRCUIT_OPEN,
            state.breaker == "Open",
            OPEN_WHEN if state.breaker == "Open" else state.breaker,
            f"no new starts since {_stamp(state.opened_at)}, half-open at "
            f"{_stamp(state.open_until)} (opening {state.opens})"
            if state.breaker == "Open"
            else f"breaker {state.breaker}",
        ),
        _probing(state, spec),
        (
            DRY_RUN,
            spec.dry_run,
            DRY_RUN if spec.dry_run else ENFORCED,
            f"computed, not enforced: admission uses capacity {capacity}, effective capacity "
            f"would be {step.effective}"
            if spec.dry_run
            else f"admission uses effective capacity {step.effective}",
        ),
    ]


def _probing(state: LoopState, spec: Health) -> tuple[str, bool, str, str]:
    if state.breaker != "HalfOpen":
        return (PROBING, False, NOT_PROBING, "no probe")
    if state.probe is None:
        return (PROBING, True, WAITING_FOR_PROBE, "one probe run may start")
    observe_for = (spec.breaker or Breaker()).observe_for
    probe = f"{state.probe.key[0]}/{state.probe.key[1]}"
    return (
        PROBING,
        True,
        PROBE_RUNNING,
        f"probe {probe} started {_stamp(state.probe.since)}, judged for {observe_for}",
    )


def _stamp(moment: datetime | None) -> str:
    return format_time(moment) if moment else "-"


def invalid_status(dep: DependencyView, problem: str, now: datetime) -> dict[str, Any]:
    """The status of a Dependency whose spec does not parse: Ready=False and Stalled=True,
    InvalidSpec, naming the fields (it takes no part in admission; its users wait with
    DependencyInvalid). Stalled, so kstatus (Flux) reads it as Failed, not InProgress forever."""
    before = parse((dep.status or {}).get("conditions"))
    message = f"invalid spec, not used for admission: {problem}"
    return DependencyStatus(
        observed_generation=dep.generation,
        conditions=[
            condition(
                kind,
                value,
                INVALID_SPEC,
                message,
                generation=dep.generation,
                before=before.get(kind),
                now=format_time(now),
            )
            for kind, value in (("Ready", False), ("Stalled", True))
        ],
    ).wire()
