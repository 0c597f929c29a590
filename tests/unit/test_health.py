"""health: signals, the previous state and the clock -> effective capacity and the breaker."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulkhead.api.health import Health
from bulkhead.policy.health import (
    Change,
    LoopState,
    Probe,
    Reading,
    Step,
    admits_probe,
    cut,
    readings_text,
    step,
    wait,
    waiting_message,
    with_probe,
)
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SEED = "orders-db"
PROBE = ("billing", "nightly-invoices")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(**health: Any) -> Health:
    """p99 (seconds): degraded above 0.3, recovered below 0.2, open above 2; target 0.2,
    minCapacity 2, settleTime 1m; breaker waits 30 s, 60 s, ... up to 5 m, no jitter."""
    return Health.model_validate(
        {
            "signals": [
                {"name": "p99", "prometheus": {"address": "http://prom:9090", "query": "p99"}}
            ],
            "degradedWhen": "signals.p99 > 0.3",
            "recoveredWhen": "signals.p99 < 0.2",
            "openWhen": "signals.p99 > 2",
            "for": "30s",
            "adaptive": {"minCapacity": 2, "target": {"signal": "p99", "value": 0.2}},
            "breaker": {"baseWait": "30s", "maxWait": "5m", "observeFor": "1m", "jitter": 0},
            **health,
        }
    )


SPEC = spec()
NO_TARGET = spec(adaptive={"minCapacity": 2})


def p99(value: float | None, read: datetime = T0, error: str | None = None) -> dict[str, Reading]:
    return {"p99": Reading(value, read, error)}


LOST = p99(0.1, T0, "connection refused")
HEALTHY = LoopState(health="Healthy", limit=12, last_change=T0)


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


OPEN = LoopState(
    health="Healthy", limit=12, last_change=T0, breaker="Open", opens=2, opened_at=T0,
    open_until=at(60),
)  # fmt: skip
HALF_OPEN = replace(OPEN, breaker="HalfOpen", open_until=None)


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


def test_dry_run_shows_the_cut_and_admits_by_capacity() -> None:
    result = step(spec(dryRun=True), 12, 12, p99(0.31, at(60)), HEALTHY, at(60), SEED)
    assert (result.effective, result.enforced) == (8, 12)


@pytest.mark.parametrize(
    ("limit", "keep", "floor", "after"),
    [(12, 0.645, 0, 8), (12, 0.1, 0, 6), (12, 0.99, 0, 11), (2, 0.9, 0, 1), (1, 0.5, 0, 1),
     (10, 0.5, 7, 7), (3, 0.5, 3, 3)],
)  # fmt: skip
def test_a_cut(limit: int, keep: float, floor: int, after: int) -> None:
    assert cut(limit, keep, floor) == after


# --- properties -----------------------------------------------------------------------------

ACTIONS = ("Hold", "DecayToMin", "FailClosed", "FailOpen")


@st.composite
def runs(draw: st.DrawFn) -> tuple[Health, int, list[tuple[int, float | None, int, bool]]]:
    """A spec, a capacity and steps of (seconds since the last, p99 or None when unread, units
    in use, whether BatchJobs wait for a probe)."""
    capacity = draw(st.integers(0, 40))
    health = spec(
        **{"for": draw(st.sampled_from(["0s", "10s", "30s"]))},
        adaptive={
            "minCapacity": draw(st.integers(0, capacity)),
            "target": {"signal": "p99", "value": 0.2},
            "settleTime": draw(st.sampled_from(["10s", "1m"])),
            "increaseStep": draw(st.integers(1, 3)),
        },
        breaker={"baseWait": "20s", "maxWait": "2m", "observeFor": "30s", "jitter": 0.5},
        onSignalLoss={"action": draw(st.sampled_from(ACTIONS)), "after": "30s"},
    )
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(1, 90),
                st.one_of(st.none(), st.floats(0, 3, allow_nan=False)),
                st.integers(0, capacity),
                st.booleans(),
            ),
            min_size=1,
            max_size=40,
        )
    )
    return health, capacity, steps


def simulate(
    health: Health, capacity: int, steps: list[tuple[int, float | None, int, bool]]
) -> list[tuple[datetime, float | None, LoopState, Step, list[Any]]]:
    """Every step: its time, p99, the state before, the result, and the BatchJobs admitted as
    probes at it (two wait whenever any does)."""
    state, now, last_value = LoopState(), T0, 0.1
    out = []
    for seconds, value, in_use, waiting in steps:
        now += timedelta(seconds=seconds)
        readings = p99(last_value, now, "unread") if value is None else p99(value, now)
        last_value = last_value if value is None else value
        result = step(health, capacity, in_use, readings, state, now, SEED)
        admitted, after = [], result.state
        for key in [("a", "one"), ("b", "two")] if waiting else []:
            if admits_probe(after, key):
                admitted.append(key)
                after = with_probe(after, key, now)
        out.append((now, value, state, replace(result, state=after), admitted))
        state = after
    return out


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


@settings(max_examples=150, deadline=None)
@given(runs())
def test_no_flapping_inside_the_band(run: Any) -> None:
    health, capacity, steps = run
    for _, value, before, result, _ in simulate(health, capacity, steps):
        if value is not None and 0.2 <= value <= 0.3 and before.health in ("Healthy", "Degraded"):
            assert result.state.health == before.health


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


WAITING_CASES = [
    ("closed at capacity", HEALTHY, 12, None),
    ("throttled", replace(HEALTHY, limit=8), 8,
     "waiting for orders-db: effective capacity 8 of 12 (p99 0.31)"),
    ("open", replace(OPEN, opened_at=at(4), open_until=at(124)), 0,
     "waiting for orders-db: circuit open since 12:00:04 (p99 0.31), half-open at 12:02:04"),
    ("half-open", HALF_OPEN, 0,
     "waiting for orders-db: circuit half-open, one probe run may start"),
    ("probing", replace(HALF_OPEN, probe=Probe(PROBE, T0)), 0,
     "waiting for orders-db: circuit half-open, probe billing/nightly-invoices running"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "effective", "message"),
    [case[1:] for case in WAITING_CASES],
    ids=[case[0] for case in WAITING_CASES],
)
def test_waiting_batchjobs_say_why_health_holds_them(
    state: LoopState, effective: int, message: str | None
) -> None:
    result = Step(state, effective, effective, available=True, lost=False)
    values = readings_text(p99(0.31))
    assert waiting_message("orders-db", result, 12, values) == message


@pytest.mark.parametrize("state", [replace(HEALTHY, limit=8), OPEN], ids=["throttled", "open"])
def test_dry_run_holds_no_batchjob_back(state: LoopState) -> None:
    result = Step(state, 0 if state == OPEN else 8, 12, available=True, lost=False)
    assert waiting_message("orders-db", result, 12, "p99 0.31") is None


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
