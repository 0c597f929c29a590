"""spread: many BatchJobs written alike, drawn apart by their uid so that they do not all start
at the same second.

Pure and clock-free. Two draws share one source, sha256 of the seed (the BatchJob's uid) and
what is drawn for, so a draw is the same every time and survives restarts: `draw`, from which
policy/schedule.py picks the values of an ``H`` cron field, and `jitter`, the delay of one
run's start (spec.jitterSeconds).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from bulkhead.api.times import as_utc

__all__ = ["draw", "jitter"]

_SECOND = timedelta(seconds=1)


def draw(text: str) -> int:
    """Returns a large non-negative number that is the same for the same `text` every time,
    given `text` naming the seed and what is drawn for ("<uid>/<field index>").
    """
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


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
    seconds = draw(f"{seed}/{instant.isoformat()}") % (jitter_seconds + 1)
    if next_instant is not None:
        room = (next_instant - instant - _SECOND) // _SECOND
        seconds = max(0, min(seconds, room))
    return timedelta(seconds=seconds)
