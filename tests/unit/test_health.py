"""health: the signals judged (Healthy, Degraded, Unhealthy, Unknown) and one step of the loop,
composed with the breaker and the adaptive limit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from bulkhead.policy.health import step
from bulkhead.policy.health_state import Change, LoopState, Step
from hypothesis import given, settings

from tests.support.health_factories import (
    HEALTHY,
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


def test_the_first_step_judges_at_once_and_starts_at_capacity() -> None:
    assert step(SPEC, 12, 0, p99(0.1), LoopState(), T0, SEED) == Step(
        state=LoopState(health="Healthy", limit=12),
        effective=12,
        enforced=12,
        available=True,
        lost=False,
        changes=(
            Change("HealthChanged", "health Unknown -> Healthy: signals.p99 < 0.2 (p99 0.1)"),
        ),
    )


# (what, p99, state before, seconds after T0, the health after, pending after)
HEALTH_CASES = [
    ("degraded must hold for `for`", 0.35, "Healthy", None, 10, "Healthy", ("Degraded", 10)),
    ("then it counts", 0.35, "Healthy", ("Degraded", 10), 40, "Degraded", None),
    ("inside the band Degraded stays", 0.25, "Degraded", None, 40, "Degraded", None),
    ("inside the band Healthy stays", 0.25, "Healthy", None, 40, "Healthy", None),
    ("recovered must hold for `for`", 0.1, "Degraded", None, 40, "Degraded", ("Healthy", 40)),
    ("a pending change that stops holding is dropped", 0.25, "Degraded", ("Healthy", 0), 40,
     "Degraded", None),
    ("open, from anywhere", 2.5, "Degraded", ("Unhealthy", 0), 30, "Unhealthy", None),
    ("out of Unhealthy into the band is Degraded", 0.25, "Unhealthy", ("Degraded", 0), 30,
     "Degraded", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "health", "pending", "seconds", "health_after", "pending_after"),
    [case[1:] for case in HEALTH_CASES],
    ids=[case[0] for case in HEALTH_CASES],
)
def test_health_changes_after_for_with_a_band_between(
    value: float,
    health: str,
    pending: tuple[str, int] | None,
    seconds: int,
    health_after: str,
    pending_after: tuple[str, int] | None,
) -> None:
    # A limit at the floor with nothing in use and a fresh change: health moves alone.
    before = LoopState(
        health=health,  # type: ignore[arg-type]
        pending=pending[0] if pending else None,  # type: ignore[arg-type]
        pending_since=at(pending[1]) if pending else None,
        limit=2,
        last_change=at(seconds),
        breaker="Open" if health == "Unhealthy" else "Closed",
        open_until=at(3600) if health == "Unhealthy" else None,
        opens=1 if health == "Unhealthy" else 0,
    )
    result = step(NO_TARGET, 12, 0, p99(value, at(seconds)), before, at(seconds), SEED)
    assert (result.state.health, result.state.pending, result.state.pending_since) == (
        health_after,
        pending_after[0] if pending_after else None,
        at(pending_after[1]) if pending_after else None,
    )


def test_dry_run_shows_the_cut_and_admits_by_capacity() -> None:
    result = step(spec(dryRun=True), 12, 12, p99(0.31, at(60)), HEALTHY, at(60), SEED)
    assert (result.effective, result.enforced) == (8, 12)


def test_a_condition_that_cannot_be_evaluated_counts_as_unread() -> None:
    # The signal reads a number, but the condition compares it with a string at run time only
    # when p99 is above 1 (the compile-time trial runs with 1.0).
    odd = spec(openWhen="signals.p99 > 1.0 && signals.p99 > 'slow'")
    result = step(odd, 12, 0, p99(1.5), HEALTHY, T0, SEED)
    assert result == Step(
        state=replace(HEALTHY, lost_since=T0),
        effective=12,
        enforced=12,
        available=False,
        lost=False,
        changes=(
            Change(
                "SignalError",
                "openWhen could not be evaluated: No matching overloads found : "
                "_>_(double, string)",
            ),
        ),
    )


@settings(max_examples=150, deadline=None)
@given(runs())
def test_no_flapping_inside_the_band(run: Any) -> None:
    health, capacity, steps = run
    for _, value, before, result, _ in simulate(health, capacity, steps):
        if value is not None and 0.2 <= value <= 0.3 and before.health in ("Healthy", "Degraded"):
            assert result.state.health == before.health
