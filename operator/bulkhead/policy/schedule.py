"""schedule: a BatchJob's spec.schedule and spec.timeZone -> a Schedule (parse).

Pure and clock-free. `ScheduleError` (a ValueError) is what a user's spec can cause; its text
names the spec field and the problem. A plain ValueError means the caller passed something no
spec can cause (a naive datetime). When a Schedule is due is policy/timetable.py's; how its
wall-clock times meet DST, policy/dst.py's.

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
  a..b from an offset. The choice is policy/spread.py's `draw` of the seed (the BatchJob's
  uid) and the field's position, so it differs per field and per BatchJob and survives
  restarts. For day-of-month ``H`` and ``H/n`` draw from 1-28, which every month has. H is
  expanded to plain numbers before cronsim sees it (`Schedule.cron`), so an H hour field
  counts as a fixed hour for the DST rules, unlike ``*/n``.
* ``@every <duration>``, a Go-style duration of s, m, h and d parts (``90s``, ``1h30m``),
  from 10 seconds to 366 days. Its instants are ``anchor + k * every`` for k >= 1, where the
  anchor is the BatchJob's creation; time zones and DST do not move them.

``TZ=``/``CRON_TZ=`` prefixes are refused: the zone is spec.timeZone (default UTC), an IANA
name.

cronsim gives up when nothing matches within 50 years: `parse` refuses an expression that
has no instant within 50 years of the anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from bulkhead.api.times import as_utc, duration_seconds
from bulkhead.policy.spread import draw

__all__ = ["Schedule", "ScheduleError", "parse"]

DEFAULT_TIME_ZONE = "UTC"
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


def _expand_hashed(field: str, index: int, seed: str, expression: str) -> str:
    """`field` with each H term replaced by the numbers it stands for."""
    terms = field.split(",")
    if not any(term[:1] in ("H", "h") for term in terms):
        return field
    name = FIELD_NAMES[index]
    lowest, highest = FIELD_RANGES[index]
    drawn = draw(f"{seed}/{index}")
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


def _error(expression: str, problem: str) -> ScheduleError:
    return ScheduleError(f"spec.schedule: {expression!r}: {problem}")
