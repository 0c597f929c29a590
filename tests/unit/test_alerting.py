"""policy/alerting.py: which BatchJobs the failed and deadline alerts name, read from their
status as the watch delivers it (through BatchJobView, as the store keeps it)."""

from __future__ import annotations

from typing import Any

import pytest
from bulkhead.api.views import BatchJobView
from bulkhead.policy.alerting import deadline_missed, failed_reason


def view(status: Any) -> BatchJobView:
    return BatchJobView.from_body(
        {"metadata": {"namespace": "billing", "name": "invoices", "uid": "u1"}, "status": status}
    )


def stalled(reason: str) -> dict[str, Any]:
    return {"type": "Stalled", "status": "True", "reason": reason}


def run(result: str, reason: str, at: str) -> dict[str, Any]:
    return {"scheduledTime": at, "result": result, "reason": reason}


T1, T2, T3 = "2026-11-23T02:00:00Z", "2026-11-23T02:10:00Z", "2026-11-23T02:20:00Z"


@pytest.mark.parametrize(
    ("status", "failed", "missed"),
    [
        ({}, None, False),
        ({"phase": "Running", "reason": "Running"}, None, False),
        ({"phase": "Succeeded", "reason": "Succeeded"}, None, False),
        (
            {"phase": "Failed", "reason": "BackoffLimitExceeded", "conditions": [stalled("X")]},
            "BackoffLimitExceeded",
            False,
        ),
        ({"phase": "Failed", "reason": "NonRetryableExitCode"}, "NonRetryableExitCode", False),
        # an invalid spec ran nothing: Stalled, but no failed run
        (
            {"phase": "Pending", "reason": "InvalidSpec", "conditions": [stalled("InvalidSpec")]},
            None,
            False,
        ),
        # scheduled: the newest finished run failed, a later one may be running meanwhile
        (
            {
                "phase": "Running",
                "conditions": [stalled("LastRunFailed")],
                "lastRunResult": "Failed",
                "runs": [run("Failed", "BackoffLimitExceeded", T1), run("Running", "Running", T2)],
            },
            "LastRunFailed",
            False,
        ),
        # a Stalled condition that is False names nothing
        (
            {"phase": "Scheduled", "conditions": [{**stalled("LastRunFailed"), "status": "False"}]},
            None,
            False,
        ),
        # the newest ended run missed its starting deadline (an older one succeeded)
        (
            {
                "phase": "Scheduled",
                "lastRunResult": "Missed",
                "runs": [
                    run("Succeeded", "Succeeded", T1),
                    run("Missed", "ConcurrencyForbid", T2),
                    run("Missed", "StartingDeadlineExceeded", T3),
                ],
            },
            None,
            True,
        ),
        # missed for another reason
        (
            {
                "phase": "Scheduled",
                "lastRunResult": "Missed",
                "runs": [
                    run("Missed", "StartingDeadlineExceeded", T1),
                    run("Missed", "Suspended", T2),
                ],
            },
            None,
            False,
        ),
        # a later run succeeded: the old miss no longer counts
        (
            {
                "phase": "Scheduled",
                "lastRunResult": "Succeeded",
                "runs": [run("Missed", "StartingDeadlineExceeded", T1), run("Succeeded", "", T2)],
            },
            None,
            False,
        ),
        # a status someone else wrote, malformed: read as nothing, never a crash
        ({"conditions": "Stalled", "lastRunResult": "Missed", "runs": [3, None]}, None, False),
    ],
)
def test_failed_and_deadline_missed_read_the_status(
    status: dict[str, Any], failed: str | None, missed: bool
) -> None:
    bj = view(status)
    assert (failed_reason(bj), deadline_missed(bj)) == (failed, missed)
