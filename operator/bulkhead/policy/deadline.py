"""Pure: startingDeadlineSeconds, how late a run of a scheduled BatchJob may start, whatever it
waited for (its jitter, a Dependency, the active run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bulkhead.api.batchjob import Run
from bulkhead.api.constants import STARTING_DEADLINE, WAITING_TO_START
from bulkhead.api.times import parse_time
from bulkhead.policy.ledger import missed


def enforce(
    runs: dict[str, Run],
    deadline: int | None,
    jitter_of: Callable[[datetime], timedelta],
    now: datetime,
) -> list[datetime]:
    """Marks Missed each Deferred run of `runs` (by token) not started within `deadline`
    seconds (None: no deadline) of its start time (its instant plus `jitter_of` it; a run-now
    request's own time), given `now`. Returns when the clock must look again: just after each
    deadline still ahead."""
    wakes: list[datetime] = []
    for key, entry in list(runs.items()):
        if entry.result != "Deferred" or deadline is None:
            continue
        t = parse_time(entry.scheduled_time)
        start_by = (t if entry.run_now else t + jitter_of(t)) + timedelta(seconds=deadline)
        if now > start_by:
            waited = f"; it was {entry.message}" if entry.reason != WAITING_TO_START else ""
            runs[key] = missed(
                entry,
                STARTING_DEADLINE,
                f"not started within startingDeadlineSeconds ({deadline}s){waited}",
            )
        else:
            wakes.append(start_by + timedelta(seconds=1))
    return wakes
