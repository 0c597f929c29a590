"""Pure: why a run's pods are not running, from what the Job controller, the scheduler and the
nodes report.

A Job whose pods cannot be created (a ResourceQuota, a missing PriorityClass, Pod Security)
shows nothing of it in its own status: the Job controller only posts FailedCreate Events on it.
Pods that exist but cannot start (an image that cannot be pulled, a missing ConfigMap or
Secret, no node that fits) say so in their own status. The controller reads these only for a
run with no ready pod some seconds after its Job was made, so a healthy run costs no reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bulkhead.api.constants import CONTAINER_WAITING_REASONS, FAILED_CREATE, UNSCHEDULABLE

# Seconds after a Job is made before a run with no ready pod is looked into, and between looks.
GRACE = 10.0
RECHECK = 10.0
# A run that is only slow (a busy cluster) is looked at less and less often, up to this: on a
# saturated control plane every run is slow, and a LIST every 10 s for each would add to it.
MAX_RECHECK = 160.0


def recheck_after(found: NotStarted | None, quiet_looks: int) -> float:
    """Seconds until the next look at a run with no ready pod, given what this look found and
    how many looks in a row found nothing before it: RECHECK while something is wrong (so
    the status follows its fix), else doubling from RECHECK up to MAX_RECHECK."""
    if found is not None:
        return RECHECK
    return min(RECHECK * 2**quiet_looks, MAX_RECHECK)


@dataclass(frozen=True)
class NotStarted:
    """Why a run is not running: a Kubernetes reason and a message naming the object."""

    reason: str
    message: str


def diagnose(
    job_name: str, pods: list[dict[str, Any]], events: list[dict[str, Any]]
) -> NotStarted | None:
    """Why the run of Job `job_name` is not running, given its pods and the Events posted on the
    Job; None when nothing says it cannot start (it may just be slow).

    A pending pod with a container the kubelet cannot start comes first (the first such pod by
    name), then a pending pod the scheduler cannot place, then the newest FailedCreate Event
    (read by the caller only while the Job has no pod at all).
    """
    pending = sorted(
        (p for p in pods if (p.get("status") or {}).get("phase", "Pending") == "Pending"),
        key=lambda p: (p.get("metadata") or {}).get("name", ""),
    )
    for pod in pending:
        if found := _container_waiting(pod):
            return found
    for pod in pending:
        if found := _unschedulable(pod):
            return found
    failed = [e for e in events if e.get("reason") == FAILED_CREATE]
    if failed:
        newest = max(failed, key=_event_time)
        return NotStarted(
            FAILED_CREATE,
            f"Job {job_name} cannot create its pods: {newest.get('message') or FAILED_CREATE}",
        )
    return None


def _container_waiting(pod: dict[str, Any]) -> NotStarted | None:
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "")
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in CONTAINER_WAITING_REASONS:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return NotStarted(
                reason,
                f"pod {name} cannot start: container {container.get('name', '')} is "
                f"{reason}{detail}",
            )
    return None


def _unschedulable(pod: dict[str, Any]) -> NotStarted | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == UNSCHEDULABLE
        ):
            name = (pod.get("metadata") or {}).get("name", "")
            detail = f": {condition['message']}" if condition.get("message") else ""
            return NotStarted(UNSCHEDULABLE, f"pod {name} cannot be scheduled{detail}")
    return None


def _event_time(event: dict[str, Any]) -> str:
    """The last time an Event was seen, whichever API wrote it (RFC 3339 strings compare)."""
    series = event.get("series") or {}
    return str(
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
