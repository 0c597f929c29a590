"""schedule: spec.schedule + spec.timeZone -> a parsed Schedule, or why it cannot be one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bulkhead.policy.schedule import Schedule, ScheduleError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.schedules import (
    CREATED,
    MADRID,
    OTHER_UID,
    UID,
    UTC_ZONE,
    at,
    following,
    make,
)


def minutes_of(expression: str, seed: str) -> list[int]:
    """The minute-field values H expanded to."""
    cron = make(expression, seed=seed).cron
    assert cron is not None
    return [int(value) for value in cron.split()[0].split(",")]


# --- what parse makes of an expression -------------------------------------------------------

ALIASES = [
    pytest.param("@yearly", "0 0 1 1 *", ["2027-01-01 00:00", "2028-01-01 00:00"], id="yearly"),
    pytest.param("@annually", "0 0 1 1 *", ["2027-01-01 00:00", "2028-01-01 00:00"], id="annually"),
    pytest.param("@monthly", "0 0 1 * *", ["2026-04-01 00:00", "2026-05-01 00:00"], id="monthly"),
    # 2026-03-01 is a Sunday, so the next @weekly is a week on.
    pytest.param("@weekly", "0 0 * * 0", ["2026-03-08 00:00", "2026-03-15 00:00"], id="weekly"),
    pytest.param("@daily", "0 0 * * *", ["2026-03-02 00:00", "2026-03-03 00:00"], id="daily"),
    pytest.param("@midnight", "0 0 * * *", ["2026-03-02 00:00", "2026-03-03 00:00"], id="midnight"),
    pytest.param("@hourly", "0 * * * *", ["2026-03-01 10:00", "2026-03-01 11:00"], id="hourly"),
    pytest.param(
        "  @Daily ", "0 0 * * *", ["2026-03-02 00:00", "2026-03-03 00:00"], id="case-space"
    ),
]


@pytest.mark.parametrize(("expression", "cron", "instants"), ALIASES)
def test_aliases_map_to_their_cron(expression: str, cron: str, instants: list[str]) -> None:
    schedule = make(expression)
    assert schedule == Schedule(expression, cron, None, UTC_ZONE, CREATED)
    assert following(schedule, CREATED, 2) == [at(i) for i in instants]


def test_a_plain_expression_is_kept_as_written_with_its_zone() -> None:
    schedule = make("*/5 9-17 * * MON-FRI", MADRID, anchor=CREATED.astimezone(ZoneInfo(MADRID)))
    assert schedule == Schedule(
        "*/5 9-17 * * MON-FRI", "*/5 9-17 * * MON-FRI", None, ZoneInfo(MADRID), CREATED
    )
    assert schedule.anchor.tzinfo is UTC


def test_no_time_zone_means_utc() -> None:
    assert make("0 0 * * *", None).zone == make("0 0 * * *", "UTC").zone == UTC_ZONE


# Pinned: changing how H is drawn would move the schedule of every BatchJob that uses it.
HASHED = [
    pytest.param("H H * * *", UID, "38 4 * * *", id="minute-hour"),
    pytest.param("H H * * *", OTHER_UID, "25 20 * * *", id="minute-hour-other-uid"),
    pytest.param("H * * * *", UID, "38 * * * *", id="hourly"),
    pytest.param("H/15 * * * *", UID, "8,23,38,53 * * * *", id="every-15"),
    pytest.param("H/15 * * * *", OTHER_UID, "10,25,40,55 * * * *", id="every-15-other-uid"),
    pytest.param("H(0-29)/10 H(9-17) * * 1-5", UID, "8,18,28 16 * * 1-5", id="ranges"),
    pytest.param("0 H H * *", UID, "0 4 16 * *", id="hour-day-of-month"),
    pytest.param("0 0 1 H *", UID, "0 0 1 2 *", id="month"),
    pytest.param("0 0 * * H", UID, "0 0 * * 3", id="day-of-week"),
    pytest.param("H,30 H/6 * * *", UID, "38,30 4,10,16,22 * * *", id="in-a-list"),
    pytest.param("h/20 h(1-5) H(1-7) * *", UID, "18,38,58 3 2 * *", id="lower-case"),
    pytest.param("0 0 * * THU", UID, "0 0 * * THU", id="THU-is-not-H"),
]


@pytest.mark.parametrize(("expression", "seed", "cron"), HASHED)
def test_h_expands_to_values_drawn_from_the_seed(expression: str, seed: str, cron: str) -> None:
    assert make(expression, seed=seed) == Schedule(expression, cron, None, UTC_ZONE, CREATED)


def test_h_is_the_same_every_time_for_the_same_seed() -> None:
    expression = "H(0-29)/10 H H * H"
    assert {make(expression, seed=UID).cron for _ in range(5)} == {make(expression).cron}


def test_h_spreads_minutes_across_seeds() -> None:
    minutes = [minutes_of("H * * * *", f"uid-{n}")[0] for n in range(200)]
    assert len(set(minutes)) >= 40
    assert min(minutes) >= 0
    assert max(minutes) <= 59


def test_h_draws_each_field_separately() -> None:
    # One draw shared by all fields would give minute % 12 == hour % 12 (12 divides 60 and 24).
    crons = [make("H H * * *", seed=f"uid-{n}").cron or "" for n in range(200)]
    pairs = [tuple(int(v) for v in cron.split()[:2]) for cron in crons]
    assert any(minute % 12 != hour % 12 for minute, hour in pairs)


@settings(max_examples=200, deadline=None)
@given(seed=st.text(max_size=40))
def test_h_stays_in_range(seed: str) -> None:
    cron = make("H H H H H", seed=seed).cron
    assert cron is not None
    minute, hour, day, month, weekday = (int(v) for v in cron.split())
    assert 0 <= minute <= 59
    assert 0 <= hour <= 23
    assert 1 <= day <= 28  # Jenkins' rule: a day every month has
    assert 1 <= month <= 12
    assert 0 <= weekday <= 6


@settings(max_examples=200, deadline=None)
@given(seed=st.text(max_size=40))
def test_h_steps_are_evenly_spaced_from_an_offset_below_the_step(seed: str) -> None:
    quarters = minutes_of("H/15 * * * *", seed)
    assert len(quarters) == 4
    assert quarters == [quarters[0] + 15 * n for n in range(4)]
    assert quarters[0] < 15
    in_range = minutes_of("H(10-40)/7 * * * *", seed)
    assert in_range == list(range(in_range[0], 41, 7))
    assert 10 <= in_range[0] < 17
    assert 10 <= minutes_of("H(10-40) * * * *", seed)[0] <= 40


def test_every_keeps_what_was_written_and_the_period() -> None:
    assert make("@every 1h30m", MADRID) == Schedule(
        "@every 1h30m", None, timedelta(minutes=90), ZoneInfo(MADRID), CREATED
    )


# --- refused -----------------------------------------------------------------------------

REFUSED = [
    pytest.param("", None, "spec.schedule: must not be empty", id="empty"),
    pytest.param("   ", None, "spec.schedule: must not be empty", id="blank"),
    pytest.param(
        "TZ=Europe/Madrid 0 2 * * *",
        None,
        "spec.schedule: TZ= and CRON_TZ= are not allowed; use spec.timeZone",
        id="TZ",
    ),
    pytest.param(
        "CRON_TZ=UTC 0 2 * * *",
        None,
        "spec.schedule: TZ= and CRON_TZ= are not allowed; use spec.timeZone",
        id="CRON_TZ",
    ),
    pytest.param(
        "0 2 * * * cron_tz=UTC",
        None,
        "spec.schedule: TZ= and CRON_TZ= are not allowed; use spec.timeZone",
        id="CRON_TZ-anywhere",
    ),
    pytest.param(
        "0 0 2 * * *",
        None,
        "spec.schedule: '0 0 2 * * *': has 6 fields; seconds and years are not supported, "
        "use 5 fields: minute hour day-of-month month day-of-week",
        id="seconds",
    ),
    pytest.param(
        "0 0 2 * * * 2027",
        None,
        "spec.schedule: '0 0 2 * * * 2027': has 7 fields; seconds and years are not supported, "
        "use 5 fields: minute hour day-of-month month day-of-week",
        id="seconds-and-years",
    ),
    pytest.param(
        "0 2 * *",
        None,
        "spec.schedule: '0 2 * *': has 4 fields; expected 5: "
        "minute hour day-of-month month day-of-week",
        id="four-fields",
    ),
    pytest.param(
        "@reboot",
        None,
        "spec.schedule: '@reboot': @reboot is not supported; a BatchJob needs a schedule",
        id="reboot",
    ),
    pytest.param(
        "@fortnightly",
        None,
        "spec.schedule: '@fortnightly': unknown @ schedule; use one of @annually, @daily, "
        "@every <duration>, @hourly, @midnight, @monthly, @weekly, @yearly",
        id="unknown-alias",
    ),
    pytest.param(
        "@daily 0 0 * * *",
        None,
        "spec.schedule: '@daily 0 0 * * *': unknown @ schedule; use one of @annually, @daily, "
        "@every <duration>, @hourly, @midnight, @monthly, @weekly, @yearly",
        id="alias-with-more",
    ),
    pytest.param("61 * * * *", None, "spec.schedule: '61 * * * *': bad minute field", id="minute"),
    pytest.param("0 24 * * *", None, "spec.schedule: '0 24 * * *': bad hour field", id="hour"),
    pytest.param(
        "0 0 32 * *", None, "spec.schedule: '0 0 32 * *': bad day-of-month field", id="day"
    ),
    pytest.param("0 0 * 13 *", None, "spec.schedule: '0 0 * 13 *': bad month field", id="month"),
    pytest.param(
        "0 0 * * 8", None, "spec.schedule: '0 0 * * 8': bad day-of-week field", id="weekday"
    ),
    pytest.param(
        "*/0 * * * *", None, "spec.schedule: '*/0 * * * *': bad minute field", id="step-0"
    ),
    pytest.param(
        "0 0 30 2 *", None, "spec.schedule: '0 0 30 2 *': bad day-of-month field", id="feb-30"
    ),
    pytest.param(
        "* * */20 * 1L",
        None,
        "spec.schedule: '* * */20 * 1L': matches no time within 50 years",
        id="never",
    ),
    pytest.param(
        "H(5-2) * * * *",
        None,
        "spec.schedule: 'H(5-2) * * * *': bad minute field: 'H(5-2)'; "
        "H(a-b) needs 0 <= a <= b <= 59",
        id="H-backwards",
    ),
    pytest.param(
        "0 H(0-24) * * *",
        None,
        "spec.schedule: '0 H(0-24) * * *': bad hour field: 'H(0-24)'; "
        "H(a-b) needs 0 <= a <= b <= 23",
        id="H-out-of-range",
    ),
    pytest.param(
        "H/61 * * * *",
        None,
        "spec.schedule: 'H/61 * * * *': bad minute field: 'H/61'; the step must be 1 to 60",
        id="H-step",
    ),
    pytest.param(
        "0 0 * * H#2",
        None,
        "spec.schedule: '0 0 * * H#2': bad day-of-week field: 'H#2'; "
        "write H, H/n, H(a-b) or H(a-b)/n",
        id="H-nth",
    ),
    pytest.param(
        "@every 5s", None, "spec.schedule: '@every 5s': @every must be at least 10s", id="every-5s"
    ),
    pytest.param(
        "@every 367d",
        None,
        "spec.schedule: '@every 367d': @every must be at most 366d",
        id="every-367d",
    ),
    pytest.param(
        "@every 1.5h",
        None,
        "spec.schedule: '@every 1.5h': @every needs a duration of s, m, h and d parts, "
        "e.g. '@every 1h30m'",
        id="every-fraction",
    ),
    pytest.param(
        "@every",
        None,
        "spec.schedule: '@every': @every needs a duration of s, m, h and d parts, "
        "e.g. '@every 1h30m'",
        id="every-nothing",
    ),
    pytest.param(
        "0 2 * * *",
        "Mars/Olympus_Mons",
        "spec.timeZone: 'Mars/Olympus_Mons' is not a known IANA time zone, e.g. 'Europe/Madrid'",
        id="unknown-zone",
    ),
    pytest.param(
        "0 2 * * *",
        "Europe",
        "spec.timeZone: 'Europe' is not a known IANA time zone, e.g. 'Europe/Madrid'",
        id="zone-directory",
    ),
    pytest.param(
        "0 2 * * *",
        "",
        "spec.timeZone: '' is not a known IANA time zone, e.g. 'Europe/Madrid'",
        id="empty-zone",
    ),
    pytest.param(
        "0 2 * * *",
        "../../etc/passwd",
        "spec.timeZone: '../../etc/passwd' is not a known IANA time zone, e.g. 'Europe/Madrid'",
        id="zone-path",
    ),
]


@pytest.mark.parametrize(("expression", "time_zone", "message"), REFUSED)
def test_refused_with_a_message_naming_the_field(
    expression: str, time_zone: str | None, message: str
) -> None:
    with pytest.raises(ScheduleError) as raised:
        make(expression, time_zone)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_a_naive_anchor_is_a_caller_mistake_not_a_schedule_error() -> None:
    with pytest.raises(ValueError) as raised:
        make("0 0 * * *", anchor=datetime(2026, 3, 1))
    assert not isinstance(raised.value, ScheduleError)


# --- day-of-month and day-of-week -----------------------------------------------------------

DAYS = [
    # Neither field starts with *: the 13th OR any Friday (13 January 2026 is a Tuesday).
    pytest.param(
        "0 0 13 * 5",
        ["2026-01-02", "2026-01-09", "2026-01-13", "2026-01-16", "2026-01-23", "2026-01-30"],
        id="vixie-or",
    ),
    # A field starting with *: an odd day AND a Friday.
    pytest.param(
        "0 0 */2 * 5",
        ["2026-01-09", "2026-01-23", "2026-02-13", "2026-02-27", "2026-03-13", "2026-03-27"],
        id="star-means-and",
    ),
    pytest.param(
        "0 0 1-7 * MON",
        ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"],
        id="first-week-or-mondays",
    ),
    pytest.param(
        "0 0 L * *",
        ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30"],
        id="cronsim-last-day",
    ),
    pytest.param(
        "0 0 * * FRI#2",
        ["2026-01-09", "2026-02-13", "2026-03-13", "2026-04-10", "2026-05-08", "2026-06-12"],
        id="cronsim-second-friday",
    ),
]


@pytest.mark.parametrize(("expression", "days"), DAYS)
def test_day_of_month_and_day_of_week(expression: str, days: list[str]) -> None:
    instants = following(make(expression), at("2025-12-31 12:00"), 6)
    assert instants == [at(f"{day} 00:00") for day in days]
