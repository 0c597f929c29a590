"""schedule: a BatchJob's spec.schedule and spec.timeZone -> the instants it is due at.

Pure and clock-free: every `now`-like value is passed in. Datetimes going in must be
timezone-aware; datetimes coming out are aware and in UTC. `ScheduleError` (a ValueError)
is what a user's spec can cause; its text names the spec field and the problem. A plain
ValueError means the caller passed something no spec can cause (a naive datetime,
a negative `keep`).

What a schedule may be:

* five-field cron, ``minute hour day-of-month month day-of-week``, as cronsim (Debian cron)
  reads it: names (MON, JAN), ranges, steps, lists, and cronsim's extensions ``L`` and ``LW``
  (day-of-month), ``5L`` and ``MON#2`` (day-of-week). Day-of-month and day-of-week combine
  the Vixie/Debian way: if either field starts with ``*`` a day must match both, otherwise
  either. Six or seven fields (seconds, years) are refused.
* ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
  ``@hourly``. ``@reboot`` and other @words are refused.
* ``H`` in any cron field (the Jenkins convention), so that many BatchJobs written alike do
  not all start at the same minute: ``H`` is one value of the field, ``H/n`` every n-th value
  from an offset below n, ``H(a-b)`` one value in a..b, ``H(a-b)/n`` every n-th value of
  a..b from an offset. The choice comes from sha256 of the seed (the BatchJob's uid) and the
  field's position, so it differs per field and per BatchJob and survives restarts. For
  day-of-month ``H`` and ``H/n`` draw from 1-28, which every month has. H is expanded to plain
  numbers before cronsim sees it (`Schedule.cron`), so an H hour field counts as a fixed
  hour for the DST rules below, unlike ``*/n``.
* ``@every <duration>``, a Go-style duration of s, m, h and d parts (``90s``, ``1h30m``),
  from 10 seconds to 366 days. Its instants are ``anchor + k * every`` for k >= 1, where the
  anchor is the BatchJob's creation; time zones and DST do not move them.

``TZ=``/``CRON_TZ=`` prefixes are refused: the zone is spec.timeZone (default UTC), an IANA
name.

DST, following Debian cron. cronsim matches wall-clock times (it is given naive datetimes);
this module turns them into instants by these rules, the ones cronsim's own time zone mode
also means to follow (see `_cron_instants` for why it is not used):

* A fixed wall-clock run -- minute and hour fields both not starting with ``*`` -- that falls
  in a spring-forward gap runs once, at the first valid instant after the gap (Madrid
  2026-03-29 "30 2 * * *" -> 03:00 CEST, 01:00 UTC). One that falls in a repeated fall-back
  hour runs once, in the first copy of the hour.
* Any other schedule (hour or minute field starting with ``*``, e.g. "0 * * * *",
  "*/15 * * * *") runs at every matching wall-clock time that exists: nothing in the skipped
  hour, both copies of the repeated hour (they are different UTC instants).

The same holds for changes that are not a whole hour or not on the hour (Lord Howe's 30
minutes, Chatham's 02:45).

cronsim gives up when nothing matches within 50 years. `parse` refuses an expression that
has no instant within 50 years of the anchor; `next_after` returns None when nothing
matches within 50 years of `after`, and `due` then simply finds no more instants.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from bulkhead.api.times import as_utc, duration_seconds

__all__ = ["Due", "Schedule", "ScheduleError", "due", "jitter", "next_after", "parse"]

DEFAULT_TIME_ZONE = "UTC"
DEFAULT_LIMIT = 50_000
MIN_EVERY = timedelta(seconds=10)
MAX_EVERY = timedelta(days=366)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# The values each field accepts, for H(a-b); and the range a bare H or H/n draws from.
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
HASH_RANGES = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))

_HASHED_TERM = re.compile(r"H(?:\((\d{1,2})-(\d{1,2})\))?(?:/(\d{1,2}))?", re.IGNORECASE)
_SECOND = timedelta(seconds=1)


class ScheduleError(ValueError):
    """A spec.schedule or spec.timeZone that cannot be scheduled; str() is for a person."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed spec.schedule; build it with `parse`."""

    expression: str  # what the user wrote
    cron: str | None  # the 5-field cron cronsim runs (aliases mapped, H expanded); None for @every
    every: timedelta | None  # the period of an @every schedule
    zone: ZoneInfo
    anchor: datetime  # @every instants are anchor + k * every, k >= 1 (UTC)


@dataclass(frozen=True, slots=True)
class Due:
    """The instants of a schedule in a window (after, until]; see `due`."""

    instants: tuple[datetime, ...]  # the newest `keep` instants in (after, until], oldest first
    earlier: int  # how many older instants in (after, until] are not in `instants`
    first: datetime | None  # the oldest instant in (after, until], None if there is none
    capped: bool  # counting stopped at `limit`: `earlier` is a lower bound, not a count


NOTHING_DUE = Due(instants=(), earlier=0, first=None, capped=False)


def parse(expression: str, time_zone: str | None, *, seed: str, anchor: datetime) -> Schedule:
    """Returns the Schedule for a BatchJob, given its spec.schedule `expression`, its
    spec.timeZone (None means UTC), the `seed` H values are drawn from (the BatchJob's uid)
    and the `anchor` @every counts from (its creation time).

    Raises ScheduleError, naming the field and the problem, if the spec cannot be scheduled.
    """
    anchor = as_utc(anchor, "anchor")
    zone = _zone(DEFAULT_TIME_ZONE if time_zone is None else time_zone)
    text = expression.strip()
    if not text:
        raise ScheduleError("spec.schedule: must not be empty")
    if "TZ=" in text.upper():
        raise ScheduleError("spec.schedule: TZ= and CRON_TZ= are not allowed; use spec.timeZone")

    if text.startswith("@"):
        word, *more = text.split(maxsplit=1)
        word, rest = word.lower(), "".join(more)
        if word == "@every":
            every = _every(rest, expression)
            return Schedule(expression, None, every, zone, anchor)
        if word == "@reboot":
            raise _error(expression, "@reboot is not supported; a BatchJob needs a schedule")
        if word not in ALIASES or rest:
            known = ", ".join(sorted({*ALIASES, "@every <duration>"}))
            raise _error(expression, f"unknown @ schedule; use one of {known}")
        cron = ALIASES[word]
    else:
        fields = text.split()
        if len(fields) in (6, 7):
            raise _error(
                expression,
                f"has {len(fields)} fields; seconds and years are not supported, use 5 fields: "
                "minute hour day-of-month month day-of-week",
            )
        if len(fields) != 5:
            raise _error(
                expression,
                f"has {len(fields)} fields; expected 5: minute hour day-of-month month day-of-week",
            )
        cron = " ".join(
            _expand_hashed(field, index, seed, expression) for index, field in enumerate(fields)
        )

    try:
        walker = CronSim(cron, anchor.astimezone(zone).replace(tzinfo=None))
    except CronSimError as error:
        raise _error(expression, _cronsim_problem(error)) from None
    # Refuse what can never run rather than let it sit silently. cronsim refuses some itself
    # ("0 0 30 2 *"); this catches the rest, e.g. "* * */20 * 1L".
    if next(walker, None) is None:
        raise _error(expression, "matches no time within 50 years")
    return Schedule(expression, cron, None, zone, anchor)


def next_after(schedule: Schedule, after: datetime) -> datetime | None:
    """Returns the first instant of `schedule` strictly after `after`, in UTC, given an aware
    `after`; None if there is none within 50 years (cron) or before year 9999.
    """
    after = as_utc(after, "after")
    if schedule.every is not None:
        try:
            return _every_instant(schedule, _every_index_after(schedule, after))
        except OverflowError:
            return None
    return next(_cron_instants(schedule, after), None)


def due(
    schedule: Schedule, after: datetime, until: datetime, *, keep: int, limit: int = DEFAULT_LIMIT
) -> Due:
    """Returns which instants of `schedule` fall in (after, until] -- the newest `keep` of
    them, how many older ones there are, and the oldest -- given aware `after` and `until`.

    Memory is O(keep). @every is counted arithmetically, so `limit` does not apply to it. For
    cron, counting stops after `limit` instants; the newest `keep` are then found by a
    separate search back from `until`, and `capped` says `earlier` is only a lower bound.
    """
    after, until = as_utc(after, "after"), as_utc(until, "until")
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if after >= until:
        return NOTHING_DUE
    if schedule.every is not None:
        return _every_due(schedule, after, until, keep)

    newest: deque[datetime] = deque(maxlen=keep)
    counted = 0
    first: datetime | None = None
    latest = after
    for instant in _cron_instants(schedule, after):
        if instant > until:
            break
        if counted == limit:
            return _capped_due(schedule, newest, first, latest, until, keep, limit)
        counted += 1
        if first is None:
            first = instant
        newest.append(instant)
        latest = instant
    return Due(tuple(newest), counted - len(newest), first, capped=False)


def jitter(
    seed: str, instant: datetime, jitter_seconds: int, next_instant: datetime | None
) -> timedelta:
    """Returns how long after `instant` its run should start, given the BatchJob's `seed`
    (uid), spec.jitterSeconds and the schedule's following instant (None if there is none).

    The offset is whole seconds in [0, jitter_seconds], the same every time for the same seed
    and instant, and, given `next_instant`, at most (next_instant - instant) - 1s (but not
    below 0), so that a delayed run never reaches the next one.
    """
    if jitter_seconds < 0:
        raise ValueError(f"jitter_seconds must be >= 0, got {jitter_seconds}")
    instant = as_utc(instant, "instant")
    if next_instant is not None and as_utc(next_instant, "next_instant") <= instant:
        raise ValueError(f"next_instant {next_instant} is not after instant {instant}")
    if jitter_seconds == 0:
        return timedelta(0)
    seconds = _hash(f"{seed}/{instant.isoformat()}") % (jitter_seconds + 1)
    if next_instant is not None:
        room = (next_instant - instant - _SECOND) // _SECOND
        seconds = max(0, min(seconds, room))
    return timedelta(seconds=seconds)


# --- cron --------------------------------------------------------------------------------


def _cron_instants(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's cron instants strictly after `after`, in UTC, in increasing order.

    cronsim walks the wall clock with naive datetimes (plain calendar arithmetic) and the DST
    rules are applied here to each wall-clock time it matches. cronsim can apply them itself
    given an aware start, but for schedules that are not fixed-time it then moves with
    datetime.replace() on aware times, which in zones whose clocks change off the hour can
    jump back before a fall-back and loop for ever (Pacific/Chatham "* 3 * * *" from
    2024-04-06T14:00:14Z) or skip matches (Australia/Lord_Howe "* 2 * * *" after 2024-04-07's
    fall-back loses 02:00-02:29).
    """
    assert schedule.cron is not None
    zone = schedule.zone
    fixed_time = _is_fixed_time(schedule.cron)
    wall = after.astimezone(zone)
    # Inside a repeated hour, a wall time earlier than `after`'s can still come after it, in
    # the second copy; start that much earlier.
    walker = CronSim(schedule.cron, wall.replace(tzinfo=None) - _repeat(wall))
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


def _capped_due(
    schedule: Schedule,
    newest_counted: deque[datetime],
    first: datetime | None,
    frontier: datetime,
    until: datetime,
    keep: int,
    limit: int,
) -> Due:
    """The Due once `limit` instants are counted, the last at `frontier`, and more remain
    up to `until`; `newest_counted` holds the newest `keep` of those counted.
    """
    if keep == 0:
        return Due((), limit, first, capped=True)
    window, window_count, reached_frontier = _newest_since(schedule, frontier, until, keep)
    if reached_frontier:
        # The search back met the counted part, so the count is exact after all.
        instants = (list(newest_counted) + list(window))[-keep:]
        total = limit + window_count
        return Due(tuple(instants), total - len(instants), first, capped=False)
    return Due(tuple(window), limit + window_count - len(window), first, capped=True)


def _newest_since(
    schedule: Schedule, frontier: datetime, until: datetime, keep: int
) -> tuple[deque[datetime], int, bool]:
    """The newest `keep` instants in (frontier, until], how many instants the searched window
    held, and whether that window reached back to `frontier`.

    cronsim's reverse iteration suggests where the keep-th newest instant is; forward
    iteration, the same as everywhere else, decides. If the suggestion was too late the
    window doubles back towards `frontier`.
    """
    start = max(frontier, _reverse_hint(schedule, until, keep))
    while True:
        window: deque[datetime] = deque(maxlen=keep)
        count = 0
        for instant in _cron_instants(schedule, start):
            if instant > until:
                break
            count += 1
            window.append(instant)
        if count >= keep or start <= frontier:
            return window, count, start <= frontier
        start = max(frontier, until - 2 * max(until - start, timedelta(minutes=1)))


def _reverse_hint(schedule: Schedule, until: datetime, keep: int) -> datetime:
    """About a second before the keep-th newest instant at or before `until`: the keep-th
    matching wall-clock time back from `until`'s, by reverse iteration. Near a DST change it
    may be off either way, which costs `_newest_since` work, not correctness.
    """
    assert schedule.cron is not None
    matched = until.astimezone(schedule.zone).replace(tzinfo=None) + _SECOND
    walker = CronSim(schedule.cron, matched, reverse=True)
    try:
        for _ in range(keep):
            matched = next(walker)
    except (StopIteration, OverflowError):
        return datetime.min.replace(tzinfo=UTC)
    return matched.replace(tzinfo=schedule.zone).astimezone(UTC) - _SECOND


def _expand_hashed(field: str, index: int, seed: str, expression: str) -> str:
    """`field` with each H term replaced by the numbers it stands for."""
    terms = field.split(",")
    if not any(term[:1] in ("H", "h") for term in terms):
        return field
    name = FIELD_NAMES[index]
    lowest, highest = FIELD_RANGES[index]
    drawn = _hash(f"{seed}/{index}")
    expanded = []
    for term in terms:
        if term[:1] not in ("H", "h"):
            expanded.append(term)
            continue
        match = _HASHED_TERM.fullmatch(term)
        if match is None:
            raise _error(
                expression, f"bad {name} field: {term!r}; write H, H/n, H(a-b) or H(a-b)/n"
            )
        low_text, high_text, step_text = match.groups()
        low, high = HASH_RANGES[index]
        if low_text is not None:
            low, high = int(low_text), int(high_text)
            if not lowest <= low <= high <= highest:
                raise _error(
                    expression,
                    f"bad {name} field: {term!r}; H(a-b) needs {lowest} <= a <= b <= {highest}",
                )
        if step_text is None:
            values = [low + drawn % (high - low + 1)]
        else:
            step = int(step_text)
            if not 1 <= step <= high - low + 1:
                raise _error(
                    expression,
                    f"bad {name} field: {term!r}; the step must be 1 to {high - low + 1}",
                )
            values = list(range(low + drawn % step, high + 1, step))
        expanded.append(",".join(str(value) for value in values))
    return ",".join(expanded)


def _cronsim_problem(error: CronSimError) -> str:
    """cronsim's "Bad minute" as "bad minute field"."""
    message = str(error)
    if message.startswith("Bad "):
        return f"bad {message.removeprefix('Bad ')} field"
    return message


# --- @every ------------------------------------------------------------------------------


def _every(duration: str, expression: str) -> timedelta:
    seconds = duration_seconds(duration)
    if seconds is None:
        raise _error(
            expression, "@every needs a duration of s, m, h and d parts, e.g. '@every 1h30m'"
        )
    # Compared in seconds first: an absurd duration would overflow timedelta.
    if seconds < MIN_EVERY.total_seconds():
        raise _error(expression, "@every must be at least 10s")
    if seconds > MAX_EVERY.total_seconds():
        raise _error(expression, "@every must be at most 366d")
    return timedelta(seconds=seconds)


def _every_index_after(schedule: Schedule, moment: datetime) -> int:
    """The smallest k >= 1 with anchor + k * every > moment."""
    assert schedule.every is not None
    return max(1, (moment - schedule.anchor) // schedule.every + 1)


def _every_instant(schedule: Schedule, index: int) -> datetime:
    assert schedule.every is not None
    return schedule.anchor + index * schedule.every


def _every_due(schedule: Schedule, after: datetime, until: datetime, keep: int) -> Due:
    assert schedule.every is not None
    first_index = _every_index_after(schedule, after)
    last_index = (until - schedule.anchor) // schedule.every
    if last_index < first_index:
        return NOTHING_DUE
    newest_index = max(first_index, last_index - keep + 1)
    return Due(
        instants=tuple(_every_instant(schedule, k) for k in range(newest_index, last_index + 1)),
        earlier=newest_index - first_index,
        first=_every_instant(schedule, first_index),
        capped=False,
    )


# --- helpers -----------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # Unknown keys raise ZoneInfoNotFoundError; malformed ones ValueError; "Europe" is a
    # directory of zones, IsADirectoryError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"spec.timeZone: {name!r} is not a known IANA time zone, e.g. 'Europe/Madrid'"
        ) from None


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def _error(expression: str, problem: str) -> ScheduleError:
    return ScheduleError(f"spec.schedule: {expression!r}: {problem}")
