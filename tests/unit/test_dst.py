"""dst: cron's wall-clock matches -> UTC instants under Debian cron's DST rules."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import takewhile
from zoneinfo import ZoneInfo

import pytest
from bulkhead.policy.timetable import due
from cronsim import CronSim
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.schedules import (
    CRON,
    LORD_HOWE,
    MADRID,
    NEW_YORK,
    ONE_MINUTE,
    at,
    following,
    make,
    parsed_or_rejected,
    zoned_starts,
)

DST = [
    # Madrid springs forward 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
    pytest.param(
        "30 2 * * *",
        MADRID,
        "2026-03-28 00:00",
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"],
        id="madrid-spring-fixed-runs-once-after-the-gap",
    ),
    pytest.param(
        "0 2 * * *",
        MADRID,
        "2026-03-28 00:00",
        ["2026-03-28 01:00", "2026-03-29 01:00", "2026-03-30 00:00"],
        id="madrid-spring-fixed-at-the-gap-start",
    ),
    pytest.param(
        "0 * * * *",
        MADRID,
        "2026-03-28 23:30",
        ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"],
        id="madrid-spring-hourly-skips-the-gap",
    ),
    pytest.param(
        "*/15 * * * *",
        MADRID,
        "2026-03-29 00:30",
        ["2026-03-29 00:45", "2026-03-29 01:00", "2026-03-29 01:15"],
        id="madrid-spring-quarterly-skips-the-gap",
    ),
    # Madrid falls back 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET.
    pytest.param(
        "30 2 * * *",
        MADRID,
        "2026-10-24 00:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
        id="madrid-fall-fixed-runs-once",
    ),
    pytest.param(
        "30 2 * * *",
        MADRID,
        "2026-10-25 01:10",
        ["2026-10-26 01:30", "2026-10-27 01:30"],
        id="madrid-fall-fixed-from-inside-the-second-copy",
    ),
    pytest.param(
        "0 * * * *",
        MADRID,
        "2026-10-24 23:30",
        ["2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00"],
        id="madrid-fall-hourly-runs-both-copies",
    ),
    # From 02:30 CEST, inside the first copy: 02:00 CET is still to come.
    pytest.param(
        "0 * * * *",
        MADRID,
        "2026-10-25 00:30",
        ["2026-10-25 01:00", "2026-10-25 02:00", "2026-10-25 03:00"],
        id="madrid-fall-hourly-from-inside-the-first-copy",
    ),
    pytest.param(
        "*/15 * * * *",
        MADRID,
        "2026-10-25 00:30",
        [
            "2026-10-25 00:45",
            "2026-10-25 01:00",
            "2026-10-25 01:15",
            "2026-10-25 01:30",
            "2026-10-25 01:45",
            "2026-10-25 02:00",
        ],
        id="madrid-fall-quarterly-runs-both-copies",
    ),
    pytest.param(
        "* 2 * * *",
        MADRID,
        "2026-10-25 00:58",
        ["2026-10-25 00:59", "2026-10-25 01:00", "2026-10-25 01:01"],
        id="madrid-fall-every-minute-of-2-runs-both-copies",
    ),
    # New York springs forward 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT.
    pytest.param(
        "30 2 * * *",
        NEW_YORK,
        "2026-03-07 00:00",
        ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"],
        id="new-york-spring-fixed-runs-once-after-the-gap",
    ),
    pytest.param(
        "0 * * * *",
        NEW_YORK,
        "2026-03-08 05:30",
        ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00"],
        id="new-york-spring-hourly-skips-the-gap",
    ),
    # New York falls back 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST.
    pytest.param(
        "30 1 * * *",
        NEW_YORK,
        "2026-10-31 00:00",
        ["2026-10-31 05:30", "2026-11-01 05:30", "2026-11-02 06:30"],
        id="new-york-fall-fixed-runs-once",
    ),
    pytest.param(
        "*/30 * * * *",
        NEW_YORK,
        "2026-11-01 04:50",
        [
            "2026-11-01 05:00",
            "2026-11-01 05:30",
            "2026-11-01 06:00",
            "2026-11-01 06:30",
            "2026-11-01 07:00",
        ],
        id="new-york-fall-half-hourly-runs-both-copies",
    ),
    # Lord Howe moves by 30 minutes: 2026-10-04 02:00 (+10:30) -> 02:30 (+11),
    # 2026-04-05 02:00 (+11) -> 01:30 (+10:30).
    pytest.param(
        "0 2 * * *",
        LORD_HOWE,
        "2026-10-02 00:00",
        ["2026-10-02 15:30", "2026-10-03 15:30", "2026-10-04 15:00"],
        id="lord-howe-spring-fixed",
    ),
    pytest.param(
        "45 1 * * *",
        LORD_HOWE,
        "2026-04-03 00:00",
        ["2026-04-03 14:45", "2026-04-04 14:45", "2026-04-05 15:15"],
        id="lord-howe-fall-fixed",
    ),
    # Off-the-hour changes that cronsim's own aware-datetime walk gets wrong (see the module):
    # Chatham falls back 2024-04-07 03:45 (+13:45) -> 02:45 (+12:45), 2024-04-06 14:00 UTC;
    # 03:00-03:44 repeats, so "* 3" runs again from 14:15 UTC (cronsim loops for ever here).
    pytest.param(
        "* 3 * * *",
        "Pacific/Chatham",
        "2024-04-06 14:00:14",
        ["2024-04-06 14:15", "2024-04-06 14:16", "2024-04-06 14:17"],
        id="chatham-fall-every-minute-of-3",
    ),
    # Lord Howe falls back 2024-04-07 02:00 (+11) -> 01:30 (+10:30) at 15:00 UTC; 02:00
    # (+10:30) is 15:30 UTC (cronsim skips to 16:00).
    pytest.param(
        "* 2 * * *",
        LORD_HOWE,
        "2024-04-06 15:10",
        ["2024-04-06 15:30", "2024-04-06 15:31", "2024-04-06 15:32"],
        id="lord-howe-fall-every-minute-of-2",
    ),
    # 2026-04-05 the same change: 01:40 comes twice (14:40 and 15:10 UTC), 02:00 once.
    pytest.param(
        "*/20 * * * *",
        LORD_HOWE,
        "2026-04-04 14:30",
        ["2026-04-04 14:40", "2026-04-04 15:10", "2026-04-04 15:30", "2026-04-04 15:50"],
        id="lord-howe-fall-repeats-half-an-hour",
    ),
]


@pytest.mark.parametrize(("expression", "time_zone", "after", "instants"), DST)
def test_dst_follows_debian_cron(
    expression: str, time_zone: str, after: str, instants: list[str]
) -> None:
    assert following(make(expression, time_zone), at(after), len(instants)) == [
        at(i) for i in instants
    ]


# --- properties --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    zoned=zoned_starts(),
    minute=st.integers(0, 59),
    hour=st.one_of(st.integers(0, 23), st.integers(1, 3)),
)
def test_a_daily_fixed_time_runs_exactly_once_per_local_date(
    zoned: tuple[str, datetime], minute: int, hour: int
) -> None:
    zone_name, start = zoned
    zone = ZoneInfo(zone_name)
    instants = following(make(f"{minute} {hour} * * *", zone_name), start, 5)
    dates = [instant.astimezone(zone).date() for instant in instants]
    assert dates == [dates[0] + timedelta(days=n) for n in range(5)]
    assert dates[0] - start.astimezone(zone).date() in (timedelta(0), timedelta(days=1))
    for instant, date in zip(instants, dates, strict=True):
        wall = datetime.combine(date, time(hour, minute), tzinfo=zone)  # fold=0: the first copy
        if wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
            assert instant == wall.astimezone(UTC)
        else:  # the wall time does not exist that day: run when the gap ends
            assert instant.astimezone(zone).time() > time(hour, minute)
            assert (instant - timedelta(seconds=1)).astimezone(zone).utcoffset() != (
                instant.astimezone(zone).utcoffset()
            )


@settings(max_examples=100, deadline=None)
@given(zoned=zoned_starts(), expression=CRON)
def test_instants_are_the_matching_wall_clock_minutes_under_the_dst_rules(
    zoned: tuple[str, datetime], expression: str
) -> None:
    """The DST rules stated minute by minute, checked over two days of UTC minutes."""
    zone_name, start = zoned
    zone = ZoneInfo(zone_name)
    schedule = parsed_or_rejected(expression, zone_name)
    end = start + timedelta(days=2)
    first_minute = start.replace(second=0, microsecond=0) + ONE_MINUTE
    wall_start = (first_minute - timedelta(days=1)).astimezone(zone).replace(tzinfo=None)
    matching = set(
        takewhile(
            lambda wall: wall < wall_start + timedelta(days=4), CronSim(expression, wall_start)
        )
    )
    minute_field, hour_field = expression.split()[:2]
    fixed_time = not minute_field.startswith("*") and not hour_field.startswith("*")

    expected = []
    for minute in (
        first_minute + n * ONE_MINUTE for n in range(int((end - first_minute) / ONE_MINUTE) + 1)
    ):
        local = minute.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if not fixed_time:  # every matching wall-clock minute that exists, both copies
            runs = wall in matching
        else:  # the first copy only; and at a gap's end, whatever the gap skipped
            sprang = local.utcoffset() - (minute - ONE_MINUTE).astimezone(zone).utcoffset()
            skipped = {wall - n * ONE_MINUTE for n in range(1, sprang // ONE_MINUTE + 1)}
            runs = (wall in matching and local.fold == 0) or bool(skipped & matching)
        if runs:
            expected.append(minute)

    assert due(schedule, start, end, keep=len(expected) + 1).instants == tuple(expected)
