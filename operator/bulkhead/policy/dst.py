"""dst: a cron expression's wall-clock matches in a time zone -> the UTC instants it runs at.

Pure and clock-free, following Debian cron. cronsim matches wall-clock times (it is given
naive datetimes); this module turns them into instants by these rules, the ones cronsim's own
time zone mode also means to follow (see `cron_instants` for why it is not used):

* A fixed wall-clock run -- minute and hour fields both not starting with ``*`` -- that falls
  in a spring-forward gap runs once, at the first valid instant after the gap (Madrid
  2026-03-29 "30 2 * * *" -> 03:00 CEST, 01:00 UTC). One that falls in a repeated fall-back
  hour runs once, in the first copy of the hour.
* Any other schedule (hour or minute field starting with ``*``, e.g. "0 * * * *",
  "*/15 * * * *") runs at every matching wall-clock time that exists: nothing in the skipped
  hour, both copies of the repeated hour (they are different UTC instants).

The same holds for changes that are not a whole hour or not on the hour (Lord Howe's 30
minutes, Chatham's 02:45). An ``H`` field is expanded to plain numbers before it gets here
(policy/schedule.py), so an H hour field counts as a fixed hour, unlike ``*/n``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

__all__ = ["cron_instants"]


def cron_instants(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Yields the instants of the 5-field `cron` in `zone` strictly after the aware `after`,
    in UTC, in increasing order, under the DST rules above; it ends where cronsim gives up
    (nothing within 50 years) or at the end of time.

    cronsim walks the wall clock with naive datetimes (plain calendar arithmetic) and the DST
    rules are applied here to each wall-clock time it matches. cronsim can apply them itself
    given an aware start, but for schedules that are not fixed-time it then moves with
    datetime.replace() on aware times, which in zones whose clocks change off the hour can
    jump back before a fall-back and loop for ever (Pacific/Chatham "* 3 * * *" from
    2024-04-06T14:00:14Z) or skip matches (Australia/Lord_Howe "* 2 * * *" after 2024-04-07's
    fall-back loses 02:00-02:29).
    """
    fixed_time = _is_fixed_time(cron)
    wall = after.astimezone(zone)
    # Inside a repeated hour, a wall time earlier than `after`'s can still come after it, in
    # the second copy; start that much earlier.
    walker = CronSim(cron, wall.replace(tzinfo=None) - _repeat(wall))
    # Instants of the second copy of a repeated hour wait here until no earlier one can come.
    waiting: list[datetime] = []
    previous = after
    while True:
        try:
            matched = next(walker)
        except (StopIteration, OverflowError):
            break
        instants = _fixed_time_instants(matched, zone) if fixed_time else _instants(matched, zone)
        if not instants:
            continue
        for instant in instants:
            heapq.heappush(waiting, instant)
        # Wall times map to their first instants in increasing order, so nothing after this
        # wall time can come before this one's first instant.
        while waiting and waiting[0] <= instants[0]:
            instant = heapq.heappop(waiting)
            # Wall times merged by a gap come out as the same instant; and the walk starts
            # early inside a repeated hour.
            if instant > previous:
                previous = instant
                yield instant
    for instant in sorted(waiting):
        if instant > previous:
            previous = instant
            yield instant


def _is_fixed_time(cron: str) -> bool:
    """Debian cron's "job that runs at a specific time": minute and hour do not start with *."""
    minute, hour = cron.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def _instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants a naive wall-clock time is in `zone`: none in a spring-forward gap,
    two in a repeated fall-back hour, else one.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    # PEP 495: fold=0 takes the offset from before a change, fold=1 from after. In a
    # repeated hour that puts fold=0 first; in a gap, where neither exists, fold=1 first.
    if first == second:
        return [first]
    if first < second:
        return [first, second]
    return []


def _fixed_time_instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The one instant a fixed-time run at a naive wall-clock time has in `zone`: the first
    copy of a repeated hour; for a time in a gap, the first valid minute after it (as cronsim
    and Debian cron do).
    """
    while not (instants := _instants(wall, zone)):
        wall += timedelta(minutes=1)
    return instants[:1]


def _repeat(moment: datetime) -> timedelta:
    """How far the clock goes back at an aware moment in a repeated hour; else 0."""
    earlier = moment.replace(fold=0).utcoffset()
    later = moment.replace(fold=1).utcoffset()
    assert earlier is not None and later is not None
    return max(timedelta(0), earlier - later)
