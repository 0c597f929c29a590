"""Pure: whether a Dependency's windows are open at a moment, and when one opens next.

A window is wall-clock time in its own zone, so it holds across daylight-saving changes; one
whose end is before its start runs overnight. A Dependency with no windows is always open.
Windows gate new starts only: running work is never stopped when one closes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bulkhead.api.dependency import DependencySpec, Window

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Windows repeat weekly; a day more covers a window that opens on the day after a DST change.
WINDOW_HORIZON = timedelta(days=8)


def window_open(window: Window, now: datetime) -> bool:
    """Wall-clock time in the window's zone, so it holds across daylight-saving changes.

    A window whose end is before its start runs overnight; its days name the day it opens.
    """
    local = now.astimezone(ZoneInfo(window.time_zone))
    hhmm = local.strftime("%H:%M")
    days = window.days or DAYS
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    if window.start < window.end:
        return today in days and window.start <= hhmm < window.end
    return (today in days and hhmm >= window.start) or (yesterday in days and hhmm < window.end)


def windows_open(spec: DependencySpec, now: datetime) -> bool:
    """Whether `spec` lets new starts through at `now`: it has no windows, or one is open."""
    return not spec.windows or any(window_open(w, now) for w in spec.windows)


def next_opening(spec: DependencySpec, now: datetime) -> datetime | None:
    """The first whole minute at or after `now` when a window of `spec` is open: `now` itself
    if one is open already, None if no window opens within WINDOW_HORIZON (no windows at all
    means always open). Minute by minute, so it agrees with window_open across DST changes."""
    start = now.replace(second=0, microsecond=0)
    if windows_open(spec, now):
        return now
    minutes = int(WINDOW_HORIZON / timedelta(minutes=1))
    for step in range(1, minutes + 1):
        moment = start + timedelta(minutes=step)
        if windows_open(spec, moment):
            return moment
    return None
