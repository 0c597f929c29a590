"""Dependencies and waiting BatchJobs to start from, and random situations of both
(hypothesis): shared by the admission, line and windows tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from bulkhead.api.dependency import DependencySpec
from bulkhead.policy.budget import DependencyState, Gate, Holding
from bulkhead.policy.line import Candidate
from hypothesis import strategies as st

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday, 03:00 in Madrid
DB = "orders-db"
CACHE = "shared-cache"


def dependency(capacity: int, *holders: tuple[str, int], **spec: Any) -> DependencyState:
    """A Dependency with `capacity` and holders given as (name in billing, units)."""
    return DependencyState(
        spec=DependencySpec.model_validate({"capacity": capacity, **spec}),
        holders=[Holding(("billing", name), units) for name, units in holders],
    )


def candidate(name: str, *uses: tuple[str, int], priority: int = 0, minute: int = 0) -> Candidate:
    """A waiting BatchJob in billing, created `minute` minutes past 01:00."""
    return Candidate(("billing", name), priority, f"2026-11-18T01:{minute:02d}:00Z", uses)


NAMES = ["orders-db", "shared-cache", "rest-api"]
WINDOWS = [None, [{"start": "00:00", "end": "06:00"}], [{"start": "22:00", "end": "23:00"}]]


Situation = tuple[list[Candidate], dict[str, DependencyState]]
KEY = attrgetter("key")


@st.composite
def situations(draw: st.DrawFn, windows: bool = True, rates: bool = True) -> Situation:
    """Dependencies with holders and recent starts, and candidates that use some of them."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    dependencies = {}
    for name in names:
        spec: dict[str, Any] = {}
        if windows and (chosen := draw(st.sampled_from(WINDOWS))):
            spec["windows"] = chosen
        if rates and draw(st.booleans()):
            spec["maxStartsPerMinute"] = draw(st.integers(1, 4))
        capacity = draw(st.integers(0, 10))
        holders = draw(st.lists(st.integers(1, 3), max_size=2))
        state = dependency(capacity, *((f"h{i}", u) for i, u in enumerate(holders)), **spec)
        seconds = st.integers(0, 120).map(lambda s: NOW - timedelta(seconds=s))
        state.recent_starts = draw(st.lists(seconds, max_size=5))
        if draw(st.booleans()):
            half_open = draw(st.booleans())
            limit = 0 if half_open else draw(st.integers(0, capacity))
            state.gate = Gate(limit, half_open, message=f"{name}: health holds it back")
        dependencies[name] = state
    candidates = draw(st.lists(candidates_of(names), min_size=1, max_size=8, unique_by=KEY))
    return candidates, dependencies


def candidates_of(names: list[str]) -> st.SearchStrategy[Candidate]:
    """A waiting BatchJob in billing that uses some of `names`."""
    uses = st.lists(
        st.tuples(st.sampled_from(names), st.integers(1, 4)),
        min_size=1,
        max_size=len(names),
        unique_by=lambda u: u[0],
    ).map(tuple)
    return st.builds(
        Candidate,
        key=st.tuples(st.just("billing"), st.text("abcdefgh", min_size=1, max_size=4)),
        priority=st.integers(-2, 2),
        created=st.integers(0, 59).map(lambda m: f"2026-11-18T01:{m:02d}:00Z"),
        uses=uses,
        run=st.sampled_from(["", "run-2"]),
    )


# When a later pass is made: windows open and close, the minute of starts moves on.
TIMES = [NOW, NOW + timedelta(hours=20, minutes=30), NOW + timedelta(hours=5)]
