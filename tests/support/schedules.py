"""Schedules to test with: the BatchJob a schedule is parsed for, instants written as text, the
instants one after another by next_after, and the hypothesis strategies (cron expressions, and
starts near DST changes in zones that change by whole hours, 30 minutes, at 02:45 and at
midnight): shared by the tests of schedule, spread, dst and timetable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bulkhead.policy.schedule import Schedule, ScheduleError, parse
from bulkhead.policy.timetable import next_after
from hypothesis import reject
from hypothesis import strategies as st

UID = "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
OTHER_UID = "0b7e5d2c-8f14-4a6b-b3c9-7e2f1d6a9c40"
CREATED = datetime(2026, 3, 1, 9, 17, 23, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
MADRID = "Europe/Madrid"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"  # DST moves the clock by 30 minutes
ONE_MINUTE = timedelta(minutes=1)
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
    """The Schedule parse makes of `expression`, by default for the BatchJob UID created at
    CREATED."""
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
