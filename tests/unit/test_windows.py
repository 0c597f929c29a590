"""windows: whether a Dependency's windows are open at a moment, and when one opens next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bulkhead.api.dependency import DependencySpec, Window
from bulkhead.policy.windows import next_opening, window_open, windows_open

from tests.support.admission_factories import NOW

WEEKNIGHTS = {
    "days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
    "start": "00:00",
    "end": "06:00",
    "timeZone": "Europe/Madrid",
}


def madrid(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Madrid"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "at", "is_open"),
    [
        (WEEKNIGHTS, madrid("2026-11-18T03:00"), True),
        (WEEKNIGHTS, madrid("2026-11-18T00:00"), True),
        (WEEKNIGHTS, madrid("2026-11-18T06:00"), False),
        (WEEKNIGHTS, madrid("2026-11-17T23:59"), False),
        (WEEKNIGHTS, madrid("2026-11-21T03:00"), False),  # Saturday
        # overnight, opening Friday 22:00: open into Saturday morning, not Saturday night
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-20T21:59"), False),
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-20T22:00"), True),
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-21T03:59"), True),
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-21T04:00"), False),
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-21T22:30"), False),
        ({"days": ["Fri"], "start": "22:00", "end": "04:00"}, utc("2026-11-20T02:00"), False),
        # 2026-03-29: Madrid skips 02:00-03:00; 06:00 local is 04:00 UTC (was 05:00)
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-03-28T23:00"), True),
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-03-29T03:59"), True),
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-03-29T04:00"), False),
        # 2026-10-25: Madrid repeats 02:00-03:00; 06:00 local is 05:00 UTC (was 04:00)
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-10-24T22:00"), True),
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-10-25T04:30"), True),
        (WEEKNIGHTS | {"days": ["Sun"]}, utc("2026-10-25T05:00"), False),
    ],
)
def test_window_open(window: dict[str, Any], at: datetime, is_open: bool) -> None:
    assert window_open(Window.model_validate(window), at) is is_open


def _open_minutes(window: dict[str, Any], day: str) -> int:
    """Minutes the window is open in the 24 hours around `day`'s early morning."""
    start = utc(f"{day}T00:00") - timedelta(hours=12)
    spec = Window.model_validate(window)
    return sum(window_open(spec, start + timedelta(minutes=m)) for m in range(24 * 60))


@pytest.mark.parametrize(
    ("day", "minutes"), [("2026-03-29", 0), ("2026-10-25", 120), ("2026-11-22", 60)]
)
def test_a_window_in_the_hour_daylight_saving_changes(day: str, minutes: int) -> None:
    """02:00-03:00 Madrid time: skipped in March, lived twice in October."""
    window = {"start": "02:00", "end": "03:00", "timeZone": "Europe/Madrid"}
    assert _open_minutes(window, day) == minutes


def test_any_open_window_opens_the_dependency() -> None:
    spec = DependencySpec.model_validate(
        {
            "capacity": 1,
            "windows": [{"start": "22:00", "end": "23:00"}, {"start": "01:00", "end": "03:00"}],
        }
    )
    assert windows_open(spec, NOW)
    assert windows_open(DependencySpec(capacity=1), NOW)


@pytest.mark.parametrize(
    ("windows", "opens"),
    [
        ([], NOW),
        ([{"start": "01:00", "end": "03:00"}], NOW),
        ([{"start": "22:00", "end": "23:00"}], datetime(2026, 11, 18, 22, 0, tzinfo=UTC)),
        # Monday 00:00 in Madrid is Sunday 23:00 UTC
        (
            [{"days": ["Mon"], "start": "00:00", "end": "06:00", "timeZone": "Europe/Madrid"}],
            datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        ),
        # the earliest of two windows
        (
            [{"start": "22:00", "end": "23:00"}, {"start": "04:30", "end": "05:00"}],
            datetime(2026, 11, 18, 4, 30, tzinfo=UTC),
        ),
    ],
)
def test_next_opening(windows: list[dict[str, Any]], opens: datetime) -> None:
    spec = DependencySpec.model_validate({"capacity": 1, "windows": windows})
    assert next_opening(spec, NOW) == opens
