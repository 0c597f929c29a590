"""What a refused request raises: the API server's answer as an exception a caller can catch
by meaning (not found, already there, invalid, too old to watch from, not the leader)."""

from __future__ import annotations

import orjson


class ApiError(Exception):
    """The API server answered with an error status."""


class NotFound(ApiError):
    """No such object."""


class Conflict(ApiError):
    """The object exists already (a repeated create of a deterministic name)."""


class Invalid(ApiError):
    """The API server refused the object; the message names the field."""


class Gone(ApiError):
    """A watch asked for a resourceVersion the API server no longer has (410): list again."""


class NotLeader(ApiError):
    """A write refused before it was sent: this replica does not hold the lease."""


def api_message(data: bytes) -> str:
    """The message of an API server's error answer `data` (a Status object), else its text."""
    try:
        return str(orjson.loads(data or b"{}").get("message") or data.decode(errors="replace"))
    except ValueError:
        return data.decode(errors="replace")
