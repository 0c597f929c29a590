"""Pure: a Dependency's health control loop. The signals just read, the state kept from the last
step, the spec, the capacity, the units in use and the clock -> the new state, the effective
capacity, and every change in words (for Events and conditions). This module judges the
signals and composes one step; policy/breaker.py and policy/adaptive.py act on the judgement.

Rules (DESIGN.md, "Dependency health"):
- Health is Healthy, Degraded (degradedWhen held for `for`; it ends only when recoveredWhen has
  held for `for`: between the two nothing changes), Unhealthy (openWhen held for `for`) or
  Unknown (nothing judged yet, or the signals unread for onSignalLoss.after). Leaving Unknown
  takes effect at once: there is no judged state to flap from.
- A condition that cannot be evaluated counts as unread: it must not read as healthy.
- dryRun: all of it is computed and shown; admission is by capacity alone (`enforced`).
- Running work is never stopped: every number here bounds new starts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from bulkhead.api.cel import compile_condition, evaluate
from bulkhead.api.constants import HEALTH_CHANGED, SIGNAL_ERROR, SIGNAL_LOST, SIGNAL_RESTORED
from bulkhead.api.health import Health, HealthState
from bulkhead.api.times import duration
from bulkhead.policy.adaptive import adapt, effective_capacity
from bulkhead.policy.breaker import advance
from bulkhead.policy.health_state import (
    Change,
    LoopState,
    Reading,
    Settings,
    Step,
    Verdicts,
    clock_text,
    settings_of,
    values_text,
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
    settings = settings_of(spec, capacity)
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
    verdicts = judged if isinstance(judged, Verdicts) else None
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
                f"signals unread since {clock_text(lost_since)}: {settings.loss.action}",
            )
        )
    if available and before.lost_since is not None:
        changes.append(Change(SIGNAL_RESTORED, f"signals read again: {values_text(values)}"))

    if verdicts is not None:
        state = _judge(state, verdicts, spec, settings, now, values, changes)
    elif lost and state.health != "Unknown":
        changes.append(Change(HEALTH_CHANGED, f"health {state.health} -> Unknown: signals lost"))
        state = replace(state, health="Unknown", pending=None, pending_since=None)

    state = advance(state, verdicts, settings, now, seed, values, changes)
    if state.breaker == "Closed":
        state = adapt(state, spec, settings, capacity, in_use, values, lost, now, changes)

    effective = effective_capacity(state, settings, capacity, lost)
    return Step(
        state=state,
        effective=effective,
        enforced=capacity if spec.dry_run else effective,
        available=available,
        lost=lost,
        changes=tuple(changes),
    )


def _verdicts(spec: Health, names: tuple[str, ...], values: Mapping[str, float]) -> Verdicts | str:
    """Each condition's truth (degradedWhen and openWhen false when absent, recoveredWhen true),
    or why one cannot be evaluated."""
    results: dict[str, bool] = {}
    for field, text in spec.conditions().items():
        compiled = compile_condition(text, names)
        result = compiled if isinstance(compiled, str) else evaluate(compiled, values)
        if isinstance(result, str):
            return f"{field} could not be evaluated: {result}"
        results[field] = result
    return Verdicts(
        open=results.get("openWhen", False),
        degraded=results.get("degradedWhen", False),
        recovered=results.get("recoveredWhen", True),
    )


def _candidate(current: HealthState, verdicts: Verdicts) -> HealthState:
    """The health the signals point to now, from `current` (the band keeps Degraded)."""
    if verdicts.open:
        return "Unhealthy"
    if current in ("Degraded", "Unhealthy"):
        return "Healthy" if verdicts.recovered and not verdicts.degraded else "Degraded"
    return "Degraded" if verdicts.degraded else "Healthy"


def _judge(
    state: LoopState,
    verdicts: Verdicts,
    spec: Health,
    settings: Settings,
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
            f"health {state.health} -> {candidate}: {_why(candidate, spec)} "
            f"({values_text(values)})",
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
