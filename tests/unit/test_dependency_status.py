"""dependency_status: what admission knows of a Dependency -> its status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bulkhead.api.dependency import DependencySpec
from bulkhead.api.views import DependencyView
from bulkhead.policy.budget import DependencyState, Holding
from bulkhead.policy.dependency_status import dependency_status, invalid_status
from bulkhead.policy.health import step
from bulkhead.policy.health_state import LoopState, Probe, Reading, Step
from bulkhead.policy.health_status import from_status, readings_from_status
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)
STAMP = "2026-11-23T02:00:00Z"


def view(spec: dict, status: dict | None = None) -> DependencyView:
    return DependencyView(name="orders-db", uid="u", generation=4, spec=spec, status=status)


def test_a_full_dependency_says_so_with_its_holders_and_the_head_of_its_line() -> None:
    dep = view({"capacity": 2})
    state = DependencyState(
        spec=DependencySpec.model_validate(dep.spec),
        holders=[Holding(("b", "two"), 1), Holding(("a", "one"), 1)],
        recent_starts=[],
    )
    head = [(("c", "three"), 2), (("a", "four"), 1)]
    assert dependency_status(dep, state, waiting=3, head=head, now=NOW) == {
        "observedGeneration": 4,
        "inUse": 2,
        "holders": [
            {"namespace": "a", "name": "one", "units": 1},
            {"namespace": "b", "name": "two", "units": 1},
        ],
        "waiting": 3,
        "queue": [
            {"position": 1, "namespace": "c", "name": "three", "units": 2},
            {"position": 2, "namespace": "a", "name": "four", "units": 1},
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Full",
                "message": "2 of 2 units in use, 3 waiting",
                "lastTransitionTime": STAMP,
                "observedGeneration": 4,
            },
            {
                "type": "WindowClosed",
                "status": "False",
                "reason": "InsideWindow",
                "message": "new starts allowed",
                "lastTransitionTime": STAMP,
                "observedGeneration": 4,
            },
        ],
    }


def test_an_invalid_spec_is_not_ready_stalled_and_names_the_field() -> None:
    spec = {"capacity": 2, "windows": [{"start": "01:00", "end": "06:00", "timeZone": "Mars/X"}]}
    dep = view(spec)
    problem = dep.spec_problem()
    assert problem is not None and problem.startswith("spec.windows.0.timeZone: ")
    assert invalid_status(dep, problem, NOW) == {
        "observedGeneration": 4,
        "conditions": [
            {
                "type": kind,
                "status": value,
                "reason": "InvalidSpec",
                "message": f"invalid spec, not used for admission: {problem}",
                "lastTransitionTime": STAMP,
                "observedGeneration": 4,
            }
            for kind, value in (("Ready", "False"), ("Stalled", "True"))
        ],
    }
    assert view({"capacity": 2}).spec_problem() is None


HEALTH_SPEC = {
    "capacity": 12,
    "health": {
        "signals": [{"name": "p99", "prometheus": {"address": "http://prom:9090", "query": "q"}}],
        "openWhen": "signals.p99 > 2",
        "adaptive": {"minCapacity": 2, "target": {"signal": "p99", "value": 0.2}},
    },
}
READ = datetime(2026, 11, 23, 1, 59, 50, tzinfo=UTC)


def test_a_dependency_with_health_shows_the_loop_and_its_conditions() -> None:
    dep = view(HEALTH_SPEC)
    spec = DependencySpec.model_validate(HEALTH_SPEC)
    state = DependencyState(spec=spec, holders=[Holding(("a", "one"), 8)], recent_starts=[])
    readings = {"p99": Reading(0.31, READ)}
    loop = LoopState(health="Healthy", limit=12, last_change=READ - timedelta(minutes=5))
    assert spec.health is not None
    result = step(spec.health, 12, 8, readings, loop, NOW, "orders-db")

    status = dependency_status(dep, state, waiting=2, head=[], now=NOW, health=(result, readings))

    def condition(kind: str, value: str, reason: str, message: str) -> dict[str, object]:
        return {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": STAMP,
            "observedGeneration": 4,
        }

    assert status == {
        "observedGeneration": 4,
        "inUse": 8,
        "holders": [{"namespace": "a", "name": "one", "units": 8}],
        "waiting": 2,
        "conditions": [
            condition(
                "Ready",
                "True",
                "Full",
                "8 of 12 units in use, effective capacity 8 (health Healthy, breaker Closed), "
                "2 waiting",
            ),
            condition("WindowClosed", "False", "InsideWindow", "new starts allowed"),
            condition("SignalAvailable", "True", "SignalsRead", "p99 0.31"),
            condition(
                "Throttled",
                "True",
                "AdaptiveLimit",
                "effective capacity 8 of 12 (health Healthy; p99 0.31)",
            ),
            condition("CircuitOpen", "False", "Closed", "breaker Closed"),
            condition("Probing", "False", "NotProbing", "no probe"),
            condition("DryRun", "False", "Enforced", "admission uses effective capacity 8"),
        ],
        "effectiveCapacity": 8,
        "health": "Healthy",
        "adaptiveLimit": 8,
        "lastChangeTime": STAMP,
        "breaker": {"state": "Closed", "opens": 0},
        "signals": [{"name": "p99", "value": 0.31, "time": "2026-11-23T01:59:50Z"}],
    }
    assert from_status(status) == result.state
    assert readings_from_status(status) == readings


SECONDS = st.integers(0, 3600).map(lambda s: NOW - timedelta(seconds=s))


@given(
    st.builds(
        LoopState,
        health=st.sampled_from(["Healthy", "Degraded", "Unhealthy", "Unknown"]),
        pending=st.sampled_from(["Healthy", "Degraded", None]),
        pending_since=SECONDS,
        limit=st.integers(2, 12),
        last_change=st.one_of(st.none(), SECONDS),
        breaker=st.sampled_from(["Closed", "Open", "HalfOpen"]),
        opens=st.integers(0, 9),
        opened_at=st.one_of(st.none(), SECONDS),
        open_until=st.one_of(st.none(), SECONDS),
        probe=st.one_of(st.none(), st.builds(Probe, st.just(("a", "one")), SECONDS)),
        lost_since=st.one_of(st.none(), SECONDS),
    )
)
def test_the_status_keeps_what_a_restart_resumes_from(loop: LoopState) -> None:
    loop = replace(loop, pending_since=loop.pending_since if loop.pending else None)
    spec = DependencySpec.model_validate(HEALTH_SPEC)
    state = DependencyState(spec=spec, holders=[], recent_starts=[])
    lost = loop.lost_since is not None
    result = Step(state=replace(loop, lost=lost), effective=0, enforced=0, available=not lost,
                  lost=lost)  # fmt: skip
    readings = {"p99": Reading(0.1, READ, "refused" if lost else None)}
    status = dependency_status(view(HEALTH_SPEC), state, 0, [], NOW, health=(result, readings))
    assert from_status(status) == result.state
