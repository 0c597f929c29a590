"""views: a Job as the operator reads it from the API server (JobView.from_job), down to
the outcome it gives its BatchJob."""

from __future__ import annotations

from typing import Any

from bulkhead.api.constants import ANNOTATION_USES
from bulkhead.api.views import JobView
from bulkhead.policy.status import job_outcome

from tests.support.factories import make_spec

SPEC = make_spec(parallelism=2, completions=4, backoffLimit=3, activeDeadlineSeconds=3600)
JOB = "nightly-invoices-1a2b3c4d"
STARTED = "2026-11-18T02:00:00Z"
FINISHED = "2026-11-18T02:40:00Z"
POD_FAILURE_MESSAGE = (
    "Container main for pod billing/nightly-invoices-1a2b3c4d-0-x7k2p failed with exit code 2 "
    "matching FailJob rule at index 0"
)
OWNER_UID = "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
FAILED_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": JOB,
        "namespace": "billing",
        "uid": "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        "resourceVersion": "48213",
        "generation": 1,
        "creationTimestamp": "2026-11-18T01:59:58Z",
        "labels": {"bulkhead.dev/batchjob": "nightly-invoices"},
        "annotations": {ANNOTATION_USES: '[{"dependency":"orders-db","units":1}]'},
        "ownerReferences": [
            {"apiVersion": "example.com/v1", "kind": "Audit", "name": "a", "uid": "not-me"},
            {
                "apiVersion": "bulkhead.dev/v1alpha1",
                "kind": "BatchJob",
                "name": "nightly-invoices",
                "uid": OWNER_UID,
                "controller": True,
                "blockOwnerDeletion": True,
            },
        ],
    },
    "spec": {"parallelism": 2, "completions": 4, "backoffLimit": 3},
    "status": {
        "startTime": STARTED,
        "failed": 1,
        "succeeded": 2,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "PodFailurePolicy",
                "message": POD_FAILURE_MESSAGE,
                "lastProbeTime": FINISHED,
                "lastTransitionTime": FINISHED,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "JobResumed",
                "message": "Job resumed",
                "lastProbeTime": STARTED,
                "lastTransitionTime": STARTED,
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": "PodFailurePolicy",
                "message": POD_FAILURE_MESSAGE,
                "lastProbeTime": FINISHED,
                "lastTransitionTime": FINISHED,
            },
        ],
    },
}


def test_job_view_from_a_failed_job() -> None:
    view = JobView.from_job(FAILED_JOB)
    assert view.name == JOB
    assert view.owner_uid == OWNER_UID
    assert (view.active, view.ready, view.succeeded, view.failed) == (0, 0, 2, 1)
    assert view.start_time == STARTED
    assert view.created == "2026-11-18T01:59:58Z"
    assert view.uses == '[{"dependency":"orders-db","units":1}]'
    assert [c[0] for c in view.conditions] == ["FailureTarget", "Failed"]
    assert view.condition("Suspended") is None
    assert view.finished
    assert not view.deleting
    outcome = job_outcome(view, SPEC)
    assert (outcome.phase, outcome.reason) == ("Failed", "NonRetryableExitCode")
    assert outcome.extra["completionTime"] == FINISHED


def test_job_view_of_a_job_just_created() -> None:
    view = JobView.from_job(
        {"metadata": {"name": JOB, "deletionTimestamp": "2026-11-18T03:00:00Z"}}
    )
    assert (view.active, view.succeeded, view.failed, view.conditions) == (0, 0, 0, ())
    assert view.owner_uid == ""
    assert not view.finished
    assert view.deleting
