"""status: what the cluster shows -> the BatchJob status (DESIGN.md, "Status contract")."""

from __future__ import annotations

from typing import Any

import pytest
from bulkhead.api.batchjob import BatchJobStatus
from bulkhead.api.constants import WAITING_FOR_DEPENDENCY
from bulkhead.api.views import JobView
from bulkhead.policy.not_started import NotStarted
from bulkhead.policy.status import (
    Outcome,
    invalid_outcome,
    job_deleted_outcome,
    job_outcome,
    not_started_outcome,
    progress_only,
    to_status,
    waiting_outcome,
)

from tests.support.factories import make_spec

SPEC = make_spec(parallelism=2, completions=4, backoffLimit=3, activeDeadlineSeconds=3600)
JOB = "nightly-invoices-1a2b3c4d"
STARTED = "2026-11-18T02:00:00Z"
FINISHED = "2026-11-18T02:40:00Z"
NOW = "2026-11-18T02:41:00Z"
LATER = "2026-11-18T03:00:00Z"
GENERATION = 3
POD_FAILURE_MESSAGE = (
    "Container main for pod billing/nightly-invoices-1a2b3c4d-0-x7k2p failed with exit code 2 "
    "matching FailJob rule at index 0"
)


def job(*conditions: tuple[str, str, str], **fields: Any) -> JobView:
    """A Job view; conditions are (type, reason, message), all status True at FINISHED."""
    return JobView(
        name=JOB,
        start_time=STARTED,
        conditions=tuple((kind, "True", reason, msg, FINISHED) for kind, reason, msg in conditions),
        **fields,
    )


def status_of(outcome: Outcome, previous: BatchJobStatus | None = None) -> BatchJobStatus:
    return to_status(outcome, generation=GENERATION, previous=previous, now=NOW)


def conditions(status: BatchJobStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions or []}


RUNNING = {"Ready": "False", "Reconciling": "True", "Stalled": "False", "Succeeded": "False"}
STALLED = {"Ready": "False", "Reconciling": "False", "Stalled": "True", "Succeeded": "False"}
SUCCEEDED = {"Ready": "True", "Reconciling": "False", "Stalled": "False", "Succeeded": "True"}


def ran(active: int, succeeded: int, failed: int, **fields: Any) -> dict[str, Any]:
    """Returns the fields of a status about the Job JOB started at STARTED: its counts of pods,
    and `fields`."""
    return {
        "jobName": JOB,
        "startTime": STARTED,
        **fields,
        "active": active,
        "succeeded": succeeded,
        "failed": failed,
    }


def written(
    phase: str,
    reason: str,
    message: str,
    conditions: dict[str, str],
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Returns the whole status to_status writes at NOW for GENERATION, in wire form, given its
    phase, reason, message, conditions (type -> status; each carries the reason and message)
    and the other `fields`."""
    return {
        "observedGeneration": GENERATION,
        "phase": phase,
        "reason": reason,
        "message": message,
        "conditions": [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": NOW,
                "observedGeneration": GENERATION,
            }
            for kind, status in conditions.items()
        ],
        **(fields or {}),
    }


# A Job that completed, whether its completionTime comes from its status or its condition.
COMPLETE = written(
    "Succeeded",
    "Succeeded",
    f"Job {JOB} succeeded: 4 of 4 completions succeeded",
    SUCCEEDED,
    ran(0, 4, 0, completionTime=FINISHED),
)

# outcome, the whole status written for it
ROWS = [
    pytest.param(
        job_outcome(job(), SPEC),
        written(
            "Running",
            "Running",
            f"Job {JOB} running: 0 active, 0 of 4 completions succeeded",
            RUNNING,
            ran(0, 0, 0),
        ),
        id="created-no-conditions",
    ),
    pytest.param(
        job_outcome(job(active=2, succeeded=1), SPEC),
        written(
            "Running",
            "Running",
            f"Job {JOB} running: 2 active, 1 of 4 completions succeeded",
            RUNNING,
            ran(2, 1, 0),
        ),
        id="running",
    ),
    pytest.param(
        not_started_outcome(
            job_outcome(job(active=1), SPEC),
            NotStarted("ImagePullBackOff", "pod p-1 cannot start: container main is ..."),
        ),
        written(
            "Pending",
            "ImagePullBackOff",
            "pod p-1 cannot start: container main is ...",
            STALLED,
            ran(1, 0, 0),
        ),
        id="pods-cannot-start",
    ),
    pytest.param(
        not_started_outcome(
            job_outcome(job(active=1), SPEC),
            NotStarted("Unschedulable", "pod p-1 cannot be scheduled: 0/3 nodes are available"),
        ),
        written(
            "Pending",
            "Unschedulable",
            "pod p-1 cannot be scheduled: 0/3 nodes are available",
            RUNNING,  # the scheduler keeps trying
            ran(1, 0, 0),
        ),
        id="unschedulable-the-scheduler-keeps-trying",
    ),
    pytest.param(
        job_outcome(job(active=2, failed=1), SPEC),
        written(
            "Running",
            "Retrying",
            f"Job {JOB} retrying: 2 active, 0 of 4 completions succeeded, 1 failed, backoffLimit 3",
            RUNNING,
            ran(2, 0, 1),
        ),
        id="retrying",
    ),
    pytest.param(
        job_outcome(job(("Complete", "", ""), succeeded=4, completion_time=FINISHED), SPEC),
        COMPLETE,
        id="complete",
    ),
    pytest.param(
        job_outcome(job(("Complete", "", ""), succeeded=4), SPEC),
        COMPLETE,
        id="complete-time-from-condition",
    ),
    pytest.param(
        job_outcome(job(("Failed", "PodFailurePolicy", POD_FAILURE_MESSAGE), failed=1), SPEC),
        written(
            "Failed",
            "NonRetryableExitCode",
            "container main exited with code 2, which is listed in nonRetryableExitCodes; "
            "the run was not retried",
            STALLED,
            ran(0, 0, 1, completionTime=FINISHED),
        ),
        id="non-retryable-exit-code",
    ),
    pytest.param(
        job_outcome(
            job(
                ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                failed=4,
            ),
            SPEC,
            last_exit_code=137,
        ),
        written(
            "Failed",
            "BackoffLimitExceeded",
            "container main exited with code 137; 4 pods failed, more than backoffLimit 3 allows",
            STALLED,
            ran(0, 0, 4, completionTime=FINISHED),
        ),
        id="backoff-limit-exceeded",
    ),
    pytest.param(
        job_outcome(
            job(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")),
            SPEC,
        ),
        written(
            "Failed",
            "DeadlineExceeded",
            "the run took longer than activeDeadlineSeconds (3600s); its pods were stopped",
            STALLED,
            ran(0, 0, 0, completionTime=FINISHED),
        ),
        id="deadline-exceeded",
    ),
    pytest.param(
        job_deleted_outcome(JOB),
        written(
            "Failed",
            "JobDeleted",
            f"Job {JOB} was deleted before it finished; bulkhead does not re-run it on its own. "
            "Delete and re-create the BatchJob to run it again",
            STALLED,
            {"jobName": JOB},
        ),
        id="job-deleted",
    ),
    pytest.param(
        invalid_outcome("spec.parallelism: Input should be greater than or equal to 1"),
        written(
            "Pending",
            "InvalidSpec",
            "invalid spec, no Job created: spec.parallelism: Input should be greater than or "
            "equal to 1",
            STALLED,
        ),
        id="invalid-spec",
    ),
    pytest.param(
        waiting_outcome(
            WAITING_FOR_DEPENDENCY,
            "waiting for orders-db: all 4 units are held or promised to BatchJobs ahead in line",
            "orders-db",
        ),
        written(
            "Queued",
            "WaitingForDependency",
            "waiting for orders-db: all 4 units are held or promised to BatchJobs ahead in line",
            RUNNING,
            {"queue": {"dependency": "orders-db"}},
        ),
        id="waiting-for-dependency",
    ),
]
OUTCOMES = [row.values[0] for row in ROWS]


@pytest.mark.parametrize(("outcome", "expected"), ROWS)
def test_status_for(outcome: Outcome, expected: dict[str, Any]) -> None:
    assert status_of(outcome).wire() == expected


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[row.id for row in ROWS])
def test_contract_invariants(outcome: Outcome) -> None:
    status = status_of(outcome)
    found = conditions(status)
    assert not (found["Reconciling"] == "True" and found["Stalled"] == "True")
    assert status.observed_generation == GENERATION
    for condition in status.conditions or []:
        assert condition.observed_generation == GENERATION
        assert (condition.reason, condition.message) == (status.reason, status.message)
        assert condition.last_transition_time == NOW


def test_last_transition_time_moves_only_when_a_condition_changes_status() -> None:
    wrong = []
    for before in OUTCOMES:
        previous = to_status(before, generation=GENERATION, previous=None, now=NOW)
        for after in OUTCOMES:
            status = to_status(after, generation=GENERATION, previous=previous, now=LATER)
            old = {c.type: c.status for c in previous.conditions or []}
            for condition in status.conditions or []:
                expected = NOW if old[condition.type] == condition.status else LATER
                if condition.last_transition_time != expected:
                    wrong.append((before.reason, after.reason, condition.type))
    assert wrong == []


def test_running_to_succeeded_moves_exactly_the_changed_conditions() -> None:
    previous = status_of(job_outcome(job(active=2), SPEC))
    done = job_outcome(job(("Complete", "", ""), succeeded=4), SPEC)
    status = to_status(done, generation=GENERATION, previous=previous, now=LATER)
    assert {c.type: c.last_transition_time for c in status.conditions or []} == {
        "Ready": LATER,
        "Reconciling": LATER,
        "Stalled": NOW,
        "Succeeded": LATER,
    }


RUNNING_STATUS = status_of(job_outcome(job(active=1), SPEC))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(None, RUNNING_STATUS, False, id="first-status"),
        pytest.param(
            RUNNING_STATUS,
            status_of(job_outcome(job(active=2, succeeded=1), SPEC)),
            True,
            id="counts-moved",
        ),
        pytest.param(
            RUNNING_STATUS,
            status_of(job_outcome(job(active=2, failed=1), SPEC)),
            False,
            id="reason-changed",
        ),
        pytest.param(
            RUNNING_STATUS,
            to_status(job_outcome(job(active=2), SPEC), generation=4, previous=None, now=NOW),
            False,
            id="generation-changed",
        ),
        pytest.param(
            RUNNING_STATUS,
            status_of(job_outcome(JobView(name="other-job", active=2), SPEC)),
            False,
            id="job-changed",
        ),
        pytest.param(
            status_of(job_outcome(job(("Complete", "", ""), succeeded=4), SPEC)),
            status_of(job_outcome(job(("Complete", "", ""), succeeded=4, active=1), SPEC)),
            False,
            id="terminal",
        ),
    ],
)
def test_progress_only(old: BatchJobStatus | None, new: BatchJobStatus, expected: bool) -> None:
    assert progress_only(old, new) is expected
