"""Pure: what the cluster shows -> the BatchJob status, per DESIGN.md's status contract.

Every status is built by `_status` from a phase, a reason and a message, so the condition set
is the same everywhere: kstatus reads Reconciling/Stalled, people read phase/reason/message,
`kubectl wait` reads Succeeded. Reconciling and Stalled are never True together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus, QueuePosition
from bulkhead.api.constants import (
    BACKOFF_LIMIT,
    CONTAINER_WAITING_REASONS,
    DEADLINE,
    DEPENDENCY_INVALID,
    DEPENDENCY_NOT_FOUND,
    FAILED_CREATE,
    INVALID_SPEC,
    JOB_DELETED,
    JOB_NAME_TAKEN,
    NAMESPACE_NOT_ALLOWED,
    NETWORK_POLICY_NAME_TAKEN,
    NON_RETRYABLE,
    RETRYING,
    STARTED,
    SUCCEEDED,
    TERMINAL_PHASES,
    UNSCHEDULABLE,
    Phase,
)
from bulkhead.api.views import JobView
from bulkhead.policy.build import CONTAINER
from bulkhead.policy.conditions import by_type, condition
from bulkhead.policy.not_started import NotStarted


@dataclass(frozen=True)
class Outcome:
    """phase + reason + message: everything else in the status follows from these."""

    phase: Phase
    reason: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    # type -> (status, reason); None: the one-shot set that follows from the phase
    conditions: dict[str, tuple[bool, str]] | None = None


def _conditions(outcome: Outcome) -> dict[str, tuple[bool, str]]:
    """type -> (status, reason)."""
    reason = outcome.reason
    if outcome.phase == "Succeeded":
        return {
            "Ready": (True, reason),
            "Reconciling": (False, reason),
            "Stalled": (False, reason),
            "Succeeded": (True, reason),
        }
    stalled = outcome.phase == "Failed" or reason in STALLED_REASONS
    return {
        "Ready": (False, reason),
        "Reconciling": (not stalled, reason),
        "Stalled": (stalled, reason),
        "Succeeded": (False, reason),
    }


# Reasons that need a person even though nothing has failed yet. (Unschedulable is not one:
# the scheduler keeps trying and cluster autoscalers act on it.)
STALLED_REASONS = {
    INVALID_SPEC,
    JOB_DELETED,
    JOB_NAME_TAKEN,
    DEPENDENCY_NOT_FOUND,
    DEPENDENCY_INVALID,
    NAMESPACE_NOT_ALLOWED,
    FAILED_CREATE,
    *CONTAINER_WAITING_REASONS,
    NETWORK_POLICY_NAME_TAKEN,
}
# A run that cannot start: an Event of type Warning, as the scheduler's FailedScheduling is.
NOT_STARTED_REASONS = {FAILED_CREATE, UNSCHEDULABLE, *CONTAINER_WAITING_REASONS}


def to_status(
    outcome: Outcome, *, generation: int, previous: BatchJobStatus | None, now: str
) -> BatchJobStatus:
    """The full status; lastTransitionTime moves only when a condition's status changes."""
    before = by_type(previous.conditions if previous else None)
    conditions = [
        condition(
            kind,
            state,
            reason,
            outcome.message,
            generation=generation,
            before=before.get(kind),
            now=now,
        )
        for kind, (state, reason) in (outcome.conditions or _conditions(outcome)).items()
    ]
    return BatchJobStatus.model_validate(
        {
            "observedGeneration": generation,
            "phase": outcome.phase,
            "conditions": conditions,
            "reason": outcome.reason,
            "message": outcome.message,
            **outcome.extra,
        }
    )


_EXIT_CODE = re.compile(r"exit code (\d+)")


def job_outcome(job: JobView, spec: BatchJobSpec, last_exit_code: int | None = None) -> Outcome:
    """A Job that exists -> Running, Succeeded or Failed, with a message a person understands."""
    extra: dict[str, Any] = {
        "jobName": job.name,
        "active": job.active,
        "succeeded": job.succeeded,
        "failed": job.failed,
    }
    if job.start_time:
        extra["startTime"] = job.start_time
    of = f"{job.succeeded} of {spec.completions} completions succeeded"
    if complete := job.condition("Complete"):
        extra["completionTime"] = job.completion_time or complete[4]
        return Outcome("Succeeded", SUCCEEDED, f"Job {job.name} succeeded: {of}", extra)
    if failed := job.condition("Failed"):
        extra["completionTime"] = failed[4]
        return Outcome("Failed", *_failure(failed[2], failed[3], job, spec, last_exit_code), extra)
    if job.failed:
        retries = f"{job.failed} failed, backoffLimit {spec.backoff_limit}"
        return Outcome(
            "Running",
            RETRYING,
            f"Job {job.name} retrying: {job.active} active, {of}, {retries}",
            extra,
        )
    return Outcome("Running", STARTED, f"Job {job.name} running: {job.active} active, {of}", extra)


def _failure(
    job_reason: str, job_message: str, job: JobView, spec: BatchJobSpec, exit_code: int | None
) -> tuple[str, str]:
    if job_reason == "PodFailurePolicy":
        found = _EXIT_CODE.search(job_message)
        code = found.group(1) if found else "?"
        return NON_RETRYABLE, (
            f"container {CONTAINER} exited with code {code}, which is listed in "
            f"nonRetryableExitCodes; the run was not retried"
        )
    if job_reason == DEADLINE:
        return DEADLINE, (
            f"the run took longer than activeDeadlineSeconds ({spec.active_deadline_seconds}s); "
            f"its pods were stopped"
        )
    if job_reason == BACKOFF_LIMIT:
        last = f"container {CONTAINER} exited with code {exit_code}; " if exit_code else ""
        return BACKOFF_LIMIT, (
            f"{last}{job.failed} pods failed, more than backoffLimit {spec.backoff_limit} allows"
        )
    return job_reason or "Failed", f"Job {job.name} failed: {job_message or job_reason}"


def not_started_outcome(running: Outcome, why: NotStarted) -> Outcome:
    """A run whose Job exists but whose pods cannot be made or started: Pending (nothing
    runs), with the Kubernetes reason, instead of Running; the Job's counts are kept."""
    return replace(running, phase="Pending", reason=why.reason, message=why.message)


def job_deleted_outcome(job_name: str) -> Outcome:
    return Outcome(
        "Failed",
        JOB_DELETED,
        f"Job {job_name} was deleted before it finished; bulkhead does not re-run it on its "
        f"own. Delete and re-create the BatchJob to run it again",
        {"jobName": job_name},
    )


def job_name_taken_outcome(job_name: str) -> Outcome:
    return Outcome(
        "Pending",
        JOB_NAME_TAKEN,
        f"a Job named {job_name} exists and is not controlled by this BatchJob; it is left "
        f"alone and nothing runs until it is gone",
    )


def invalid_outcome(problem: str) -> Outcome:
    return Outcome("Pending", INVALID_SPEC, f"invalid spec, no Job created: {problem}")


def waiting_outcome(reason: str, message: str, dependency: str) -> Outcome:
    """Queued in `dependency`'s line (its place in line is on the Dependency's status)."""
    line = QueuePosition(dependency=dependency).wire()
    return Outcome("Queued", reason, message, {"queue": line})


def is_terminal(status: BatchJobStatus | None) -> bool:
    return bool(status and status.phase in TERMINAL_PHASES)


def progress_only(old: BatchJobStatus | None, new: BatchJobStatus) -> bool:
    """True when only counts and the message moved: same phase and reason.

    Such changes are written at a bounded rate, not on every pod transition.
    """
    return bool(
        old
        and old.phase == new.phase
        and old.reason == new.reason
        and old.job_name == new.job_name
        and old.observed_generation == new.observed_generation
        and new.phase not in TERMINAL_PHASES
    )
