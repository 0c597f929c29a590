"""schedule: spec.schedule + spec.timeZone -> the instants a BatchJob is due at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from bulkhead.policy import schedule as schedule_module
from bulkhead.policy.schedule import (
    Due,
    Schedule,
    ScheduleError,
    due,
    jitter,
    next_after,
    parse,
)
from croniter import CroniterBadDateError, croniter
from cronsim import CronSim
from hypothesis import given, reject, settings
from hypothesis import strategies as st

UID = "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
OTHER_UID = "0b7e5d2c-8f14-4a6b-b3c9-7e2f1d6a9c40"
CREATED = datetime(2026, 3, 1, 9, 17, 23, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
MADRID = "Europe/Madrid"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"  # DST moves the clock by 30 minutes
# For the properties: no DST, whole hours, 30 minutes, 02:45 (Chatham), at midnight (Santiago).
ZONES = [
    "UTC",
    MADRID,
    NEW_YORK,
    LORD_HOWE,
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
]


def at(text: str) -> datetime:
    """A UTC instant written "YYYY-MM-DD HH:MM[:SS]"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(
    expression: str, time_zone: str | None = None, *, seed: str = UID, anchor: datetime = CREATED
) -> Schedule:
    return parse(expression, time_zone, seed=seed, anchor=anchor)


def following(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """Up to `count` instants after `after`, each found by next_after from the one before."""
    instants: list[datetime] = []
    while len(instants) < count:
        instant = next_after(schedule, instants[-1] if instants else after)
        if instant is None:
            break
        instants.append(instant)
    return instants


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


# --- @every ---------------------------------------------------------------------------------

EVERY = [
    pytest.param(
        "@every 10s",
        None,
        CREATED,
        ["2026-03-01 09:17:33", "2026-03-01 09:17:43", "2026-03-01 09:17:53"],
        id="10s-from-the-anchor",
    ),
    pytest.param(
        "@every 90s",
        None,
        CREATED - timedelta(days=1),
        ["2026-03-01 09:18:53", "2026-03-01 09:20:23", "2026-03-01 09:21:53"],
        id="never-before-the-anchor",
    ),
    pytest.param(
        "@every 2h",
        None,
        CREATED + timedelta(hours=2),
        ["2026-03-01 13:17:23", "2026-03-01 15:17:23", "2026-03-01 17:17:23"],
        id="strictly-after-an-instant",
    ),
    pytest.param(
        "@every 1h30m",
        MADRID,
        at("2026-03-29 00:00"),
        ["2026-03-29 00:17:23", "2026-03-29 01:47:23", "2026-03-29 03:17:23"],
        id="dst-does-not-move-it",
    ),
    pytest.param(
        "@every 1d",
        NEW_YORK,
        at("2026-11-01 00:00"),
        ["2026-11-01 09:17:23", "2026-11-02 09:17:23", "2026-11-03 09:17:23"],
        id="days-in-utc",
    ),
]


@pytest.mark.parametrize(("expression", "time_zone", "after", "instants"), EVERY)
def test_every_counts_periods_from_the_anchor(
    expression: str, time_zone: str | None, after: datetime, instants: list[str]
) -> None:
    assert following(make(expression, time_zone), after, 3) == [at(i) for i in instants]


def test_every_keeps_what_was_written_and_the_period() -> None:
    assert make("@every 1h30m", MADRID) == Schedule(
        "@every 1h30m", None, timedelta(minutes=90), ZoneInfo(MADRID), CREATED
    )


def test_every_has_no_instant_past_the_end_of_time() -> None:
    assert next_after(make("@every 366d"), datetime(9999, 12, 1, tzinfo=UTC)) is None


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


CALLER_MISTAKES = [
    pytest.param(lambda: make("0 0 * * *", anchor=datetime(2026, 3, 1)), id="naive-anchor"),
    pytest.param(lambda: next_after(make("0 0 * * *"), datetime(2026, 3, 1)), id="naive-after"),
    pytest.param(
        lambda: due(make("0 0 * * *"), CREATED, datetime(2026, 3, 2), keep=1), id="naive-until"
    ),
    pytest.param(
        lambda: due(make("0 0 * * *"), CREATED, CREATED + timedelta(1), keep=-1), id="keep"
    ),
    pytest.param(
        lambda: due(make("0 0 * * *"), CREATED, CREATED + timedelta(1), keep=1, limit=0),
        id="limit",
    ),
    pytest.param(lambda: jitter(UID, datetime(2026, 3, 1), 60, None), id="naive-instant"),
    pytest.param(lambda: jitter(UID, CREATED, -1, None), id="negative-jitter"),
    pytest.param(lambda: jitter(UID, CREATED, 60, CREATED), id="next-not-after"),
]


@pytest.mark.parametrize("call", CALLER_MISTAKES)
def test_caller_mistakes_are_value_errors_not_schedule_errors(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert not isinstance(raised.value, ScheduleError)


def test_next_after_is_none_when_nothing_matches_within_50_years() -> None:
    # parse refuses this; a hand-made Schedule shows what next_after and due do with one.
    never = Schedule("* * */20 * 1L", "* * */20 * 1L", None, UTC_ZONE, CREATED)
    assert next_after(never, CREATED) is None
    assert due(never, CREATED, CREATED + timedelta(days=400), keep=1) == Due((), 0, None, False)


# --- time zones and DST ----------------------------------------------------------------------

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


def test_instants_come_back_in_utc() -> None:
    instant = next_after(make("30 2 * * *", MADRID), datetime(2026, 3, 28, tzinfo=ZoneInfo(MADRID)))
    assert instant == at("2026-03-28 01:30")
    assert instant is not None
    assert instant.tzinfo is UTC


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


# --- due ---------------------------------------------------------------------------------

T0 = at("2026-03-02 10:00")
ONE_MINUTE = timedelta(minutes=1)
EVERY_MINUTE = "* * * * *"

DUE = [
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(hours=1),
        {"keep": 3},
        Due(
            (at("2026-03-02 10:58"), at("2026-03-02 10:59"), at("2026-03-02 11:00")),
            57,
            at("2026-03-02 10:01"),
            False,
        ),
        id="newest-three-of-sixty",
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(hours=1),
        {"keep": 3, "limit": 10},
        Due(
            (at("2026-03-02 10:58"), at("2026-03-02 10:59"), at("2026-03-02 11:00")),
            10,
            at("2026-03-02 10:01"),
            True,
        ),
        id="capped-still-gives-the-newest",
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(minutes=12),
        {"keep": 3, "limit": 10},
        Due(
            (at("2026-03-02 10:10"), at("2026-03-02 10:11"), at("2026-03-02 10:12")),
            9,
            at("2026-03-02 10:01"),
            False,
        ),
        id="just-over-the-limit-is-still-exact",
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(minutes=10),
        {"keep": 3, "limit": 10},
        Due(
            (at("2026-03-02 10:08"), at("2026-03-02 10:09"), at("2026-03-02 10:10")),
            7,
            at("2026-03-02 10:01"),
            False,
        ),
        id="exactly-the-limit",
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(hours=1),
        {"keep": 0},
        Due((), 60, at("2026-03-02 10:01"), False),
        id="keep-none",
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0,
        T0 + timedelta(hours=1),
        {"keep": 0, "limit": 10},
        Due((), 10, at("2026-03-02 10:01"), True),
        id="keep-none-capped",
    ),
    pytest.param(
        "*/20 * * * *",
        None,
        T0,
        T0 + timedelta(hours=1),
        {"keep": 100},
        Due(
            (
                at("2026-03-02 10:20"),
                at("2026-03-02 10:40"),
                at("2026-03-02 11:00"),
            ),
            0,
            at("2026-03-02 10:20"),
            False,
        ),
        id="keep-more-than-there-are",
    ),
    pytest.param(
        "@yearly",
        None,
        T0,
        T0 + timedelta(days=30),
        {"keep": 1},
        Due((), 0, None, False),
        id="none-in-the-window",
    ),
    pytest.param(
        EVERY_MINUTE, None, T0, T0, {"keep": 1}, Due((), 0, None, False), id="empty-window"
    ),
    pytest.param(
        EVERY_MINUTE,
        None,
        T0 + timedelta(hours=1),
        T0,
        {"keep": 1},
        Due((), 0, None, False),
        id="after-past-until",
    ),
    pytest.param(
        "0 * * * *",
        MADRID,
        at("2026-10-24 23:00"),
        at("2026-10-25 02:00"),
        {"keep": 3},
        Due(
            (at("2026-10-25 00:00"), at("2026-10-25 01:00"), at("2026-10-25 02:00")),
            0,
            at("2026-10-25 00:00"),
            False,
        ),
        id="madrid-fall-back-both-copies",
    ),
    pytest.param(
        "@every 10s",
        None,
        T0,
        T0 + timedelta(minutes=10),
        {"keep": 2},
        Due(
            (at("2026-03-02 10:09:43"), at("2026-03-02 10:09:53")),
            58,
            at("2026-03-02 10:00:03"),
            False,
        ),
        id="every-10s-ten-minutes",
    ),
    pytest.param(
        "@every 10s",
        None,
        at("2026-03-02 10:00:03"),
        at("2026-03-02 10:10:03"),
        {"keep": 1},
        Due((at("2026-03-02 10:10:03"),), 59, at("2026-03-02 10:00:13"), False),
        id="every-10s-window-on-instants",
    ),
    pytest.param(
        "@every 10s",
        None,
        T0,
        T0 + timedelta(weeks=1),
        {"keep": 1, "limit": 1},
        # Arithmetic, not counting: the limit does not apply, and nothing is capped.
        Due((at("2026-03-09 09:59:53"),), 60479, at("2026-03-02 10:00:03"), False),
        id="every-10s-week-outage",
    ),
    pytest.param(
        "@every 1h",
        MADRID,
        CREATED - timedelta(days=1),
        CREATED + timedelta(hours=2),
        {"keep": 5},
        Due(
            (at("2026-03-01 10:17:23"), at("2026-03-01 11:17:23")),
            0,
            at("2026-03-01 10:17:23"),
            False,
        ),
        id="every-starts-after-the-anchor",
    ),
]


@pytest.mark.parametrize(("expression", "time_zone", "after", "until", "options", "expected"), DUE)
def test_due(
    expression: str,
    time_zone: str | None,
    after: datetime,
    until: datetime,
    options: dict[str, int],
    expected: Due,
) -> None:
    assert due(make(expression, time_zone), after, until, **options) == expected


# When counting is capped, cronsim's reverse iteration suggests where the newest `keep` start
# and forward iteration decides; a wrong suggestion costs work (and precision in `earlier`),
# never a wrong instant.
NEWEST_THREE = (at("2026-03-02 10:58"), at("2026-03-02 10:59"), at("2026-03-02 11:00"))
HINTS = [
    pytest.param(T0 + timedelta(hours=1), Due(NEWEST_THREE, 11, T0 + ONE_MINUTE, True), id="late"),
    pytest.param(
        T0 + timedelta(minutes=30), Due(NEWEST_THREE, 37, T0 + ONE_MINUTE, True), id="early"
    ),
    pytest.param(T0, Due(NEWEST_THREE, 57, T0 + ONE_MINUTE, False), id="before-the-counted"),
]


@pytest.mark.parametrize(("hint", "expected"), HINTS)
def test_capped_due_only_takes_a_hint_from_reverse_iteration(
    monkeypatch: pytest.MonkeyPatch, hint: datetime, expected: Due
) -> None:
    monkeypatch.setattr(schedule_module, "_reverse_hint", lambda *_: hint)
    every_minute = make(EVERY_MINUTE)
    assert due(every_minute, T0, T0 + timedelta(hours=1), keep=3, limit=10) == expected


def test_due_counts_from_after_exclusive_to_until_inclusive() -> None:
    hourly = make("0 * * * *")
    assert due(hourly, at("2026-03-02 10:00"), at("2026-03-02 12:00"), keep=5) == Due(
        (at("2026-03-02 11:00"), at("2026-03-02 12:00")), 0, at("2026-03-02 11:00"), False
    )


# --- jitter ------------------------------------------------------------------------------

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


# --- properties --------------------------------------------------------------------------


def _transitions(zone_name: str) -> list[datetime]:
    """Roughly (to a minute) when the zone's UTC offset changes, 2024-2030."""
    zone = ZoneInfo(zone_name)
    found = []
    day = datetime(2024, 1, 1, tzinfo=UTC)
    while day.year <= 2030:
        low, high = day, day + timedelta(days=1)
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            offset = low.astimezone(zone).utcoffset()
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (
                    (middle, high)
                    if middle.astimezone(zone).utcoffset() == offset
                    else (low, middle)
                )
            found.append(high)
        day += timedelta(days=1)
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}
ANY_TIME = st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


@st.composite
def zoned_starts(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant to start from, often within hours or two days before a DST
    change (the starts that land inside a repeated hour matter most).
    """
    zone = draw(st.sampled_from(ZONES))
    near_change = st.builds(
        lambda change, seconds: change + timedelta(seconds=seconds),
        st.sampled_from(TRANSITIONS[zone] or [at("2026-03-29 01:00")]),
        st.one_of(st.integers(-3 * 3600, 3 * 3600), st.integers(-2 * 86400, 3 * 3600)),
    )
    return zone, draw(st.one_of(ANY_TIME, near_change))


def cron_field(low: int, high: int, *extra: str) -> st.SearchStrategy[str]:
    """One cron field: *, */n, or a list of values, a-b ranges (a < b) and a-b/n steps."""
    value = st.integers(low, high)
    span = st.integers(low, high - 1).flatmap(
        lambda a: st.integers(a + 1, high).map(lambda b: f"{a}-{b}")
    )
    step = st.integers(1, high - low + 1)
    term = st.one_of(value.map(str), span, st.builds("{}/{}".format, span, step))
    return st.one_of(
        st.just("*"),
        step.map("*/{}".format),
        st.lists(term, min_size=1, max_size=3).map(",".join),
        *(st.just(e) for e in extra),
    )


# Hours around 1-3 are where DST changes happen in these zones.
CRON = st.builds(
    "{} {} {} {} {}".format,
    cron_field(0, 59),
    cron_field(0, 23, "1", "2", "3", "2-3", "1,2"),
    cron_field(1, 31),
    cron_field(1, 12, "JAN-MAR", "OCT,NOV"),
    cron_field(0, 7, "MON-FRI", "SAT,SUN"),
)


def parsed_or_rejected(expression: str, zone: str) -> Schedule:
    """The schedule, or the example is dropped if it is one parse refuses ("0 0 30 2 *")."""
    try:
        return make(expression, zone)
    except ScheduleError:
        reject()


@settings(max_examples=150, deadline=None)
@given(
    zoned=zoned_starts(),
    expression=CRON,
    keep=st.integers(0, 4),
    limit=st.integers(1, 8),
    extra=st.integers(0, 59),
)
def test_instants_increase_and_due_agrees_with_next_after(
    zoned: tuple[str, datetime], expression: str, keep: int, limit: int, extra: int
) -> None:
    zone, start = zoned
    schedule = parsed_or_rejected(expression, zone)
    instants = following(schedule, start, 12)
    assert all(earlier < later for earlier, later in pairwise([start, *instants]))
    if not instants:
        return
    until = instants[-1] + timedelta(seconds=extra)  # never reaches the next whole minute
    newest = tuple(instants[max(0, len(instants) - keep) :])
    exact = Due(newest, len(instants) - len(newest), instants[0], False)
    assert due(schedule, start, until, keep=keep) == exact

    limited = due(schedule, start, until, keep=keep, limit=limit)
    if limited.capped:
        assert (limited.instants, limited.first) == (exact.instants, exact.first)
        assert limit <= limited.earlier <= exact.earlier
    else:
        assert limited == exact


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


# Where croniter and cronsim agree by design: UTC (croniter's DST handling differs from
# Debian's: it has no once-only rule for fixed times), no L/W/# and no H (croniter's own H
# hashes differently). The same day-of-month/day-of-week rule needs implement_cron_bug=True:
# with day_or alone croniter ORs the fields whenever neither *expands* to every value, so
# "*/2" in one field would OR; Vixie/Debian (and cronsim) AND when either field *starts*
# with "*". Also avoided: a-a ranges (croniter reads "5-5" as the whole field), a/n steps
# (croniter 6.2.4 reads "{max}/n" as the whole field, fixed in 6.3.0) and b-a ranges
# (croniter wraps them, cronsim refuses them).
@settings(max_examples=200, deadline=None)
@given(expression=CRON, start=ANY_TIME)
def test_next_after_agrees_with_croniter_in_utc(expression: str, start: datetime) -> None:
    schedule = parsed_or_rejected(expression, "UTC")
    oracle = croniter(expression, start, day_or=True, implement_cron_bug=True)
    try:
        expected = [oracle.get_next(datetime) for _ in range(5)]
    except CroniterBadDateError:
        # croniter 6.2.4 gives up on e.g. "0 0 31 2 0", where the impossible day-of-month
        # should just add nothing to the Sundays (its 6.3.0 fixes this).
        reject()
    assert following(schedule, start, 5) == expected


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
