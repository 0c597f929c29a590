"""adaptive: the limit cut above the target or while Degraded, grown while healthy and used,
what signal loss does to it; never outside [minCapacity, capacity]."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from bulkhead.api.health import Health
from bulkhead.policy.adaptive import cut
from bulkhead.policy.health import step
from bulkhead.policy.health_state import Change, LoopState, Step
from hypothesis import given, settings

from tests.support.health_factories import (
    HEALTHY,
    LOST,
    NO_TARGET,
    SEED,
    SPEC,
    T0,
    at,
    p99,
    runs,
    simulate,
    spec,
)

# (what, spec, in use, p99, state before, seconds after T0, the state after, effective, changes)
ADAPTIVE_CASES = [
    (
        "above target: cut in proportion (and Degraded pending)",
        SPEC,
        12,
        0.31,
        HEALTHY,
        60,
        replace(HEALTHY, limit=8, last_change=at(60), pending="Degraded", pending_since=at(60)),
        8,
        (Change("CapacityCut", "effective capacity 12 -> 8: p99 0.31 above target 0.2"),),
    ),
    (
        "far above target: at most halved",
        SPEC,
        12,
        1.5,
        HEALTHY,
        60,
        replace(HEALTHY, limit=6, last_change=at(60), pending="Degraded", pending_since=at(60)),
        6,
        (Change("CapacityCut", "effective capacity 12 -> 6: p99 1.5 above target 0.2"),),
    ),
    (
        "just above target: at least 0.9 and one unit",
        SPEC,
        12,
        0.201,
        HEALTHY,
        60,
        replace(HEALTHY, limit=11, last_change=at(60)),
        11,
        (Change("CapacityCut", "effective capacity 12 -> 11: p99 0.201 above target 0.2"),),
    ),
    (
        "inside the settle time: no change",
        SPEC,
        12,
        0.29,
        HEALTHY,
        59,
        HEALTHY,
        12,
        (),
    ),
    (
        "healthy and all in use: one step up",
        SPEC,
        8,
        0.1,
        replace(HEALTHY, limit=8),
        60,
        replace(HEALTHY, limit=9, last_change=at(60)),
        9,
        (
            Change(
                "CapacityRaised", "effective capacity 8 -> 9: healthy and fully used (in use: 8)"
            ),
        ),
    ),
    (
        "healthy but not all in use: no step up",
        SPEC,
        7,
        0.1,
        replace(HEALTHY, limit=8),
        60,
        replace(HEALTHY, limit=8),
        8,
        (),
    ),
    (
        "at capacity: no step up",
        SPEC,
        12,
        0.1,
        HEALTHY,
        60,
        HEALTHY,
        12,
        (),
    ),
    (
        "degraded without a target: cut by 0.9",
        NO_TARGET,
        12,
        0.25,
        replace(HEALTHY, health="Degraded"),
        60,
        replace(HEALTHY, health="Degraded", limit=11, last_change=at(60)),
        11,
        (Change("CapacityCut", "effective capacity 12 -> 11: degraded (signals.p99 > 0.3)"),),
    ),
    (
        "never below minCapacity",
        SPEC,
        3,
        1.5,
        replace(HEALTHY, health="Degraded", limit=3),
        60,
        replace(HEALTHY, health="Degraded", limit=2, last_change=at(60)),
        2,
        (Change("CapacityCut", "effective capacity 3 -> 2: p99 1.5 above target 0.2"),),
    ),
    (
        "a capacity lowered below the limit bounds it",
        SPEC,
        0,
        0.1,
        replace(HEALTHY, limit=40),
        10,
        HEALTHY,
        12,
        (),
    ),
]


@pytest.mark.parametrize(
    ("health", "in_use", "value", "before", "seconds", "after", "effective", "changes"),
    [case[1:] for case in ADAPTIVE_CASES],
    ids=[case[0] for case in ADAPTIVE_CASES],
)
def test_the_adaptive_limit(
    health: Health,
    in_use: int,
    value: float,
    before: LoopState,
    seconds: int,
    after: LoopState,
    effective: int,
    changes: tuple[Change, ...],
) -> None:
    assert step(health, 12, in_use, p99(value, at(seconds)), before, at(seconds), SEED) == Step(
        state=after,
        effective=effective,
        enforced=effective,
        available=True,
        lost=False,
        changes=changes,
    )


@pytest.mark.parametrize(
    ("action", "limit", "effective"),
    [("Hold", 12, 12), ("DecayToMin", 6, 6), ("FailClosed", 12, 0), ("FailOpen", 12, 12)],
)
def test_signal_loss_after_its_time(action: str, limit: int, effective: int) -> None:
    lossy = spec(onSignalLoss={"action": action, "after": "1m"})
    before = replace(HEALTHY, limit=12, lost_since=at(30))
    held = step(lossy, 12, 0, LOST, before, at(89), SEED)
    assert (held.state, held.effective, held.lost) == (before, 12, False)
    result = step(lossy, 12, 0, LOST, before, at(90), SEED)
    decayed = {"last_change": at(90)} if action == "DecayToMin" else {}
    assert result.state == replace(before, health="Unknown", limit=limit, lost=True, **decayed)
    assert (result.effective, result.lost, result.changes[0]) == (
        effective,
        True,
        Change("SignalLost", f"signals unread since 12:00:30: {action}"),
    )


def test_the_default_on_signal_loss_halves_once_per_settle_time_to_min_capacity() -> None:
    limits = []
    state = replace(HEALTHY, limit=12, lost_since=T0)
    for minute in range(1, 6):
        state = step(SPEC, 12, 0, LOST, state, at(60 * minute), SEED).state
        limits.append(state.limit)
    assert limits == [6, 3, 2, 2, 2]


@pytest.mark.parametrize(
    ("limit", "keep", "floor", "after"),
    [(12, 0.645, 0, 8), (12, 0.1, 0, 6), (12, 0.99, 0, 11), (2, 0.9, 0, 1), (1, 0.5, 0, 1),
     (10, 0.5, 7, 7), (3, 0.5, 3, 3)],
)  # fmt: skip
def test_a_cut(limit: int, keep: float, floor: int, after: int) -> None:
    assert cut(limit, keep, floor) == after


@settings(max_examples=150, deadline=None)
@given(runs())
def test_never_above_capacity_and_never_below_min_capacity_while_closed(run: Any) -> None:
    health, capacity, steps = run
    floor = health.adaptive.min_capacity
    for _, _, _, result, _ in simulate(health, capacity, steps):
        assert 0 <= result.effective <= capacity
        assert result.enforced <= capacity
        if result.state.breaker == "Closed" and not result.lost:
            assert floor <= result.effective == result.state.limit


@settings(max_examples=150, deadline=None)
@given(runs())
def test_the_limit_changes_at_most_once_per_settle_time(run: Any) -> None:
    health, capacity, steps = run
    settle = timedelta(seconds=10 if health.adaptive.settle_time == "10s" else 60)
    last: datetime | None = None
    for now, _, before, result, _ in simulate(health, capacity, steps):
        if before.breaker != "Closed":
            last = None  # closing restarts the limit at minCapacity: a reset, not a step
            continue
        if before.limit is not None and result.state.limit != before.limit:
            assert last is None or now - last >= settle
            last = now
