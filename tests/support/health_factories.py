"""A Dependency's health spec, readings and loop states to start from, and a random run of
the loop (hypothesis) with what it admitted as probes: shared by the health policy tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkhead.api.health import Health
from bulkhead.policy.breaker import admits_probe, with_probe
from bulkhead.policy.health import step
from bulkhead.policy.health_state import LoopState, Reading, Step
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


OPEN = LoopState(
    health="Healthy", limit=12, last_change=T0, breaker="Open", opens=2, opened_at=T0,
    open_until=at(60),
)  # fmt: skip
HALF_OPEN = replace(OPEN, breaker="HalfOpen", open_until=None)


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
