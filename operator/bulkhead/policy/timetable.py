"""timetable: when a parsed schedule (policy/schedule.py) is due -- its next instant after a
moment, and the instants in a window.

Pure and clock-free: every `now`-like value is passed in. Datetimes going in must be
timezone-aware (a naive one is a caller's mistake, a plain ValueError); datetimes coming out
are aware and in UTC. Cron instants come from policy/dst.py, which applies the DST rules.
@every instants are ``anchor + k * every`` for k >= 1, counted arithmetically: time zones and
DST do not move them.

cronsim gives up when nothing matches within 50 years: `next_after` then returns None, and
`due` simply finds no more instants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim

from bulkhead.api.times import as_utc
from bulkhead.policy.dst import cron_instants
from bulkhead.policy.schedule import Schedule

__all__ = ["Due", "due", "next_after"]

DEFAULT_LIMIT = 50_000

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Due:
    """The instants of a schedule in a window (after, until]; see `due`."""

    instants: tuple[datetime, ...]  # the newest `keep` instants in (after, until], oldest first
    earlier: int  # how many older instants in (after, until] are not in `instants`
    first: datetime | None  # the oldest instant in (after, until], None if there is none
    capped: bool  # counting stopped at `limit`: `earlier` is a lower bound, not a count


NOTHING_DUE = Due(instants=(), earlier=0, first=None, capped=False)


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


# --- cron --------------------------------------------------------------------------------


def _cron_instants(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """The schedule's cron instants strictly after `after`, in UTC, in increasing order."""
    assert schedule.cron is not None
    return cron_instants(schedule.cron, schedule.zone, after)


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


# --- @every ------------------------------------------------------------------------------


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
