"""The one wire format for times: RFC 3339 in UTC with second precision, as metav1.Time."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
