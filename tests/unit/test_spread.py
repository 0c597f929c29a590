"""spread: the jitter of a run's start, the same every time for the same uid and instant (what
H draws is pinned in test_schedule.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bulkhead.policy.schedule import ScheduleError
from bulkhead.policy.spread import jitter
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.schedules import ANY_TIME, CREATED, MADRID, OTHER_UID, UID, at

RUN = at("2026-03-29 01:00")

JITTER = [
    pytest.param(UID, 0, None, timedelta(0), id="none-asked"),
    pytest.param(UID, 300, None, timedelta(seconds=148), id="within-five-minutes"),
    pytest.param(OTHER_UID, 300, None, timedelta(seconds=269), id="other-uid-other-offset"),
    pytest.param(UID, 300, RUN + timedelta(hours=1), timedelta(seconds=148), id="room-enough"),
    pytest.param(UID, 3600, RUN + timedelta(seconds=10), timedelta(seconds=9), id="clamped"),
    pytest.param(UID, 3600, RUN + timedelta(seconds=1), timedelta(0), id="one-second-room"),
    pytest.param(UID, 3600, RUN + timedelta(milliseconds=500), timedelta(0), id="no-room"),
]


@pytest.mark.parametrize(("seed", "jitter_seconds", "next_instant", "expected"), JITTER)
def test_jitter(
    seed: str, jitter_seconds: int, next_instant: datetime | None, expected: timedelta
) -> None:
    assert jitter(seed, RUN, jitter_seconds, next_instant) == expected


def test_jitter_depends_on_the_instant_not_on_its_zone() -> None:
    in_madrid = RUN.astimezone(ZoneInfo(MADRID))
    assert jitter(UID, in_madrid, 300, None) == jitter(UID, RUN, 300, None)


CALLER_MISTAKES = [
    pytest.param(lambda: jitter(UID, datetime(2026, 3, 1), 60, None), id="naive-instant"),
    pytest.param(lambda: jitter(UID, CREATED, -1, None), id="negative-jitter"),
    pytest.param(lambda: jitter(UID, CREATED, 60, CREATED), id="next-not-after"),
]


@pytest.mark.parametrize("call", CALLER_MISTAKES)
def test_caller_mistakes_are_value_errors_not_schedule_errors(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert not isinstance(raised.value, ScheduleError)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.text(max_size=40),
    instant=ANY_TIME,
    jitter_seconds=st.integers(0, 86400),
    gap=st.one_of(st.none(), st.timedeltas(timedelta(microseconds=1), timedelta(days=2))),
)
def test_jitter_is_deterministic_bounded_and_before_the_next_run(
    seed: str, instant: datetime, jitter_seconds: int, gap: timedelta | None
) -> None:
    next_instant = None if gap is None else instant + gap
    offset = jitter(seed, instant, jitter_seconds, next_instant)
    assert offset == jitter(seed, instant, jitter_seconds, next_instant)
    assert timedelta(0) <= offset <= timedelta(seconds=jitter_seconds)
    assert offset % timedelta(seconds=1) == timedelta(0)
    if gap is not None:
        assert offset < gap
