"""The one wire format for times: RFC 3339 in UTC with second precision, as metav1.Time; and the
one duration format: Go-style s, m, h and d parts, e.g. 90s or 1h30m (@every and health)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import StringConstraints

FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# The same text is a Python, a JSON-schema and a CEL (RE2) pattern.
DURATION_PATTERN = r"^([0-9]{1,9}[smhd])+$"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_HELP = "a duration of s, m, h and d parts, e.g. 30s or 1h30m"
# A duration field's wire type; each field states its bounds with check_duration.
Duration = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=DURATION_PATTERN)]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)


def duration_seconds(text: str) -> int | None:
    """The seconds of a duration of s, m, h and d parts ("90s", "1h30m", "0s"), or None when
    `text` is not one. Whole seconds: no bound is checked here."""
    if not _DURATION.fullmatch(text):
        return None
    return sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))


def duration(text: str) -> timedelta:
    """The timedelta of a duration (see duration_seconds); ValueError when `text` is not one."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration of s, m, h and d parts, e.g. 30s or 1h30m")
    return timedelta(seconds=seconds)


def check_duration(value: str, field: str, low: int, high: int) -> str:
    """Returns `value`, given a duration from `low` to `high` seconds; raises ValueError naming
    `field` otherwise."""
    seconds = duration_seconds(value)
    if seconds is None:
        raise ValueError(f"{field} must be {DURATION_HELP}")
    if not low <= seconds <= high:
        raise ValueError(f"{field} must be from {low}s to {high}s, got {value}")
    return value
