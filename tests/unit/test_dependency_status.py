"""dependency_status: what admission knows of a Dependency -> its status."""

from __future__ import annotations

from datetime import UTC, datetime

from bulkhead.api.models import DependencySpec
from bulkhead.api.views import DependencyView
from bulkhead.policy.admission import DependencyState, Holding
from bulkhead.policy.dependency_status import dependency_status, invalid_status

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


def test_an_invalid_spec_is_not_ready_and_names_the_field() -> None:
    spec = {"capacity": 2, "windows": [{"start": "01:00", "end": "06:00", "timeZone": "Mars/X"}]}
    dep = view(spec)
    problem = dep.spec_problem()
    assert problem is not None and problem.startswith("spec.windows.0.timeZone: ")
    assert invalid_status(dep, problem, NOW) == {
        "observedGeneration": 4,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "InvalidSpec",
                "message": f"invalid spec, not used for admission: {problem}",
                "lastTransitionTime": STAMP,
                "observedGeneration": 4,
            }
        ],
    }
    assert view({"capacity": 2}).spec_problem() is None
