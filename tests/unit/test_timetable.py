"""timetable: a parsed schedule's next instant, and the instants due in a window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from bulkhead.policy import timetable as timetable_module
from bulkhead.policy.schedule import Schedule, ScheduleError
from bulkhead.policy.timetable import Due, due, next_after
from croniter import CroniterBadDateError, croniter
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from tests.support.schedules import (
    ANY_TIME,
    CREATED,
    CRON,
    MADRID,
    NEW_YORK,
    ONE_MINUTE,
    UTC_ZONE,
    at,
    following,
    make,
    parsed_or_rejected,
    zoned_starts,
)

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


def test_every_has_no_instant_past_the_end_of_time() -> None:
    assert next_after(make("@every 366d"), datetime(9999, 12, 1, tzinfo=UTC)) is None


CALLER_MISTAKES = [
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


def test_instants_come_back_in_utc() -> None:
    instant = next_after(make("30 2 * * *", MADRID), datetime(2026, 3, 28, tzinfo=ZoneInfo(MADRID)))
    assert instant == at("2026-03-28 01:30")
    assert instant is not None
    assert instant.tzinfo is UTC


# --- due ---------------------------------------------------------------------------------

T0 = at("2026-03-02 10:00")
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
    monkeypatch.setattr(timetable_module, "_reverse_hint", lambda *_: hint)
    every_minute = make(EVERY_MINUTE)
    assert due(every_minute, T0, T0 + timedelta(hours=1), keep=3, limit=10) == expected


def test_due_counts_from_after_exclusive_to_until_inclusive() -> None:
    hourly = make("0 * * * *")
    assert due(hourly, at("2026-03-02 10:00"), at("2026-03-02 12:00"), keep=5) == Due(
        (at("2026-03-02 11:00"), at("2026-03-02 12:00")), 0, at("2026-03-02 11:00"), False
    )


# --- properties --------------------------------------------------------------------------


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
