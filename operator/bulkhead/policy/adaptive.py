"""Pure: a Dependency's adaptive limit and its effective capacity.

The limit stays within [minCapacity, capacity] and changes at most once per settleTime. It is
cut while the target's signal is above the target (to limit x target / value) or health is
Degraded (x 0.9), each cut at least half and at most 0.9 of the limit and at least one unit; it
grows by increaseStep while Healthy, at or below the target and all in use. Signals unread for
onSignalLoss.after: Hold keeps the limit, DecayToMin halves it once per settleTime down to
minCapacity, FailClosed starts nothing, FailOpen allows the whole capacity. Effective capacity =
min(capacity, limit) while the breaker is closed, 0 while it is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from bulkhead.api.constants import CAPACITY_CUT, CAPACITY_RAISED
from bulkhead.api.health import Health
from bulkhead.policy.health_state import Change, LoopState, Settings, clock_text

# A cut keeps at least this share of the limit, and removes at least 1 - MAX_KEEP of it.
MIN_KEEP = 0.5
MAX_KEEP = 0.9


def cut(limit: int, keep: float, floor: int) -> int:
    """`limit` cut to round(limit x keep), keep clamped to [0.5, 0.9]: at least one unit less,
    never below half of it (rounded up) nor below `floor`; `limit` when no cut fits."""
    share = min(max(keep, MIN_KEEP), MAX_KEEP)
    lowest = max(floor, math.ceil(limit * MIN_KEEP))
    return max(lowest, min(limit - 1, round(limit * share)))


def adapt(
    state: LoopState,
    spec: Health,
    settings: Settings,
    capacity: int,
    in_use: int,
    values: Mapping[str, float],
    lost: bool,
    now: datetime,
    changes: list[Change],
) -> LoopState:
    """Returns the loop state with the limit moved on (at most once per settleTime), given the
    state, the health spec and settings, the capacity, the units in use, the values read,
    whether the signals are lost, and the time; a move is appended to `changes`."""
    limit = state.limit if state.limit is not None else capacity
    if state.last_change is not None and now - state.last_change < settings.settle:
        return state
    new, why = limit, ""
    if lost:
        if settings.loss.action == "DecayToMin":
            new = max(settings.floor, limit // 2)
            why = f"signals unread since {clock_text(state.lost_since)}, DecayToMin"
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


def effective_capacity(state: LoopState, settings: Settings, capacity: int, lost: bool) -> int:
    """Returns the effective capacity, given the loop state, its settings, the capacity and
    whether the signals are lost."""
    if state.breaker != "Closed":
        return 0
    if lost and settings.loss.action == "FailClosed":
        return 0
    if lost and settings.loss.action == "FailOpen":
        return capacity
    limit = state.limit if state.limit is not None else capacity
    return min(capacity, limit)
