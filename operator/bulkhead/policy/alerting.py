"""Pure: what a BatchJob's status tells the alerts (the metrics read these at each scrape, so
an alert fires while the status says so and clears when it no longer does)."""

from __future__ import annotations

from bulkhead.api.constants import LAST_RUN_FAILED, STARTING_DEADLINE
from bulkhead.api.views import BatchJobView


def failed_reason(bj: BatchJobView) -> str | None:
    """Why `bj` counts as failed, or None: a one-shot BatchJob in phase Failed gives its
    reason (e.g. BackoffLimitExceeded); a scheduled one whose newest finished run failed is
    Stalled with LastRunFailed until a run succeeds. An invalid spec is not a failed run."""
    if bj.phase == "Failed":
        return bj.reason or "Failed"
    if bj.stalled == LAST_RUN_FAILED:
        return LAST_RUN_FAILED
    return None


def deadline_missed(bj: BatchJobView) -> bool:
    """Whether the newest ended run of a scheduled `bj` was Missed because it did not start
    within startingDeadlineSeconds (it waited for a Dependency, a window or the active run);
    true until a later run ends."""
    return bj.last_run == ("Missed", STARTING_DEADLINE)
