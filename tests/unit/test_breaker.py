"""breaker: opens when health turns Unhealthy, waits, half-opens for one probe, closes at
minCapacity."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bulkhead.policy.breaker import admits_probe, wait, with_probe
from bulkhead.policy.health import step
from bulkhead.policy.health_state import Change, Probe, Step
from hypothesis import given, settings

from tests.support.health_factories import (
    HALF_OPEN,
    HEALTHY,
    OPEN,
    PROBE,
    SEED,
    SPEC,
    T0,
    at,
    p99,
    runs,
    simulate,
    spec,
)


def test_the_breaker_opens_when_open_when_holds_for_for() -> None:
    before = replace(HEALTHY, pending="Unhealthy", pending_since=T0)
    assert step(SPEC, 12, 5, p99(2.5, at(30)), before, at(30), SEED) == Step(
        state=replace(
            HEALTHY,
            health="Unhealthy",
            breaker="Open",
            opens=1,
            opened_at=at(30),
            open_until=at(60),
        ),
        effective=0,
        enforced=0,
        available=True,
        lost=False,
        changes=(
            Change("HealthChanged", "health Healthy -> Unhealthy: signals.p99 > 2 (p99 2.5)"),
            Change(
                "CircuitOpen",
                "circuit open: unhealthy (p99 2.5); no new starts, half-open at 12:01:00 "
                "(opening 1)",
            ),
        ),
    )


def test_open_stays_open_until_its_time() -> None:
    assert step(SPEC, 12, 0, p99(0.1, at(59)), OPEN, at(59), SEED).state == OPEN
    assert step(SPEC, 12, 0, p99(0.1, at(59)), OPEN, at(59), SEED).effective == 0


def test_at_its_time_it_turns_half_open_and_admits_one_probe() -> None:
    result = step(SPEC, 12, 0, p99(0.1, at(60)), OPEN, at(60), SEED)
    assert result == Step(
        state=HALF_OPEN,
        effective=0,
        enforced=0,
        available=True,
        lost=False,
        changes=(Change("CircuitHalfOpen", "circuit half-open: one probe run may start"),),
    )
    probing = with_probe(result.state, PROBE, at(61))
    assert probing == replace(HALF_OPEN, probe=Probe(PROBE, at(61)))
    assert [admits_probe(probing, key) for key in (PROBE, ("billing", "other"))] == [True, False]
    assert with_probe(probing, ("billing", "other"), at(62)) == probing


def test_still_unhealthy_at_its_time_it_opens_again_for_longer() -> None:
    unhealthy = replace(OPEN, health="Unhealthy")
    result = step(SPEC, 12, 0, p99(2.5, at(60)), unhealthy, at(60), SEED)
    assert result.state == replace(unhealthy, opens=3, opened_at=at(60), open_until=at(150))
    assert result.changes == (
        Change(
            "CircuitOpen",
            "circuit open: still unhealthy (p99 2.5); no new starts, half-open at 12:02:30 "
            "(opening 3)",
        ),
    )


def test_a_probe_healthy_for_observe_for_closes_it_at_min_capacity() -> None:
    probing = replace(HALF_OPEN, probe=Probe(PROBE, at(60)))
    assert step(SPEC, 12, 1, p99(0.1, at(119)), probing, at(119), SEED).state == probing
    assert step(SPEC, 12, 1, p99(0.1, at(120)), probing, at(120), SEED) == Step(
        state=replace(OPEN, breaker="Closed", opens=0, open_until=None, limit=2,
                      last_change=at(120)),
        effective=2,
        enforced=2,
        available=True,
        lost=False,
        changes=(
            Change(
                "CircuitClosed",
                "circuit closed: healthy for 1m after probe billing/nightly-invoices; effective "
                "capacity restarts at 2",
            ),
        ),
    )  # fmt: skip


def test_a_probe_that_sees_open_when_once_opens_it_again() -> None:
    probing = replace(HALF_OPEN, probe=Probe(PROBE, at(60)))
    result = step(SPEC, 12, 1, p99(2.5, at(70)), probing, at(70), SEED)
    assert result.state == replace(
        OPEN, opens=3, opened_at=at(70), open_until=at(160), pending="Unhealthy",
        pending_since=at(70),
    )  # fmt: skip
    assert result.changes[0].reason == "CircuitOpen"


@pytest.mark.parametrize(
    ("opens", "jitter", "seconds"),
    # With jitter, the same lengthening for the same Dependency and opening (here 0 to 0.2).
    [
        (1, 0, 30),
        (2, 0, 60),
        (10, 0, 300),
        (50, 0, 300),
        (2, 0.2, 62),
        (3, 0.2, 97),
        (10, 0.2, 341),
    ],
)
def test_the_wait_grows_with_opens_up_to_max_wait_plus_jitter(
    opens: int, jitter: float, seconds: int
) -> None:
    breaker = spec(breaker={"baseWait": "30s", "maxWait": "5m", "jitter": jitter}).breaker
    assert breaker is not None
    assert wait(breaker, opens, SEED) == timedelta(seconds=seconds)


@settings(max_examples=150, deadline=None)
@given(runs())
def test_open_starts_nothing_and_half_open_admits_one_probe(run: Any) -> None:
    health, capacity, steps = run
    probes: set[Any] = set()
    for _, _, _, result, admitted in simulate(health, capacity, steps):
        if result.state.breaker == "Open":
            assert result.effective == result.enforced == 0
            assert admitted == []
            probes = set()
        if result.state.breaker == "HalfOpen":
            assert result.enforced == 0
            probes.update(admitted)
            assert len(probes) <= 1
        if result.state.breaker == "Closed":
            assert admitted == []
            probes = set()
