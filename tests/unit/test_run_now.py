"""run-now on a one-shot BatchJob: a new value re-runs it once it has finished; the value
handled is echoed in status.runNow and names the run's Job."""

from __future__ import annotations

import asyncio
from typing import Any

from bulkhead.api.constants import ANNOTATION_RUN_NOW, ANNOTATION_RUN_NOW_VALUE
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.policy.build import job_name

from tests.support.factories import make_operator, spec_dict
from tests.support.fakes import METADATA, FakeKube, reconcile_view

FIRST = job_name(METADATA["name"], METADATA["uid"])
AGAIN = job_name(METADATA["name"], METADATA["uid"], "run-now/again")

SUCCEEDED = {
    "observedGeneration": 1,
    "phase": "Succeeded",
    "reason": "Succeeded",
    "message": f"Job {FIRST} succeeded: 1 of 1 completions succeeded",
    "jobName": FIRST,
    "active": 0,
    "succeeded": 1,
    "failed": 0,
    "completionTime": "2026-11-18T01:00:05Z",
}
RUNNING = {
    "observedGeneration": 1,
    "phase": "Running",
    "reason": "Running",
    "message": f"Job {FIRST} running: 1 active, 0 of 1 completions succeeded",
    "jobName": FIRST,
    "active": 1,
    "succeeded": 0,
    "failed": 0,
}


def reconcile(status: dict[str, Any], run_now: str, jobs: list[JobView]) -> FakeKube:
    metadata = {**METADATA, "annotations": {ANNOTATION_RUN_NOW: run_now}}
    view = BatchJobView.from_body({"metadata": metadata, "spec": spec_dict(), "status": status})
    return reconcile_view(view, jobs)


def test_a_finished_batchjob_runs_again_under_a_new_job_name() -> None:
    done = JobView(FIRST, owner_uid=METADATA["uid"], conditions=(("Complete", "True", "", "", ""),))
    kube = reconcile(SUCCEEDED, "again", [done])
    [job] = kube.created
    assert job["metadata"]["name"] == AGAIN
    assert job["metadata"]["annotations"][ANNOTATION_RUN_NOW_VALUE] == "again"
    [patch] = kube.status_patches
    assert (patch["phase"], patch["jobName"], patch["runNow"]) == ("Running", AGAIN, "again")
    assert patch["completionTime"] is None  # the finished run's fields are cleared


def test_a_value_already_handled_starts_nothing() -> None:
    again = JobView(
        AGAIN, owner_uid=METADATA["uid"], conditions=(("Complete", "True", "", "", ""),)
    )
    status = {**SUCCEEDED, "jobName": AGAIN, "runNow": "again"}
    kube = reconcile(status, "again", [again])
    assert kube.created == []


def test_a_running_batchjob_keeps_its_run_and_handles_the_value_after() -> None:
    running = JobView(FIRST, owner_uid=METADATA["uid"], active=1)
    kube = reconcile(RUNNING, "again", [running])
    assert kube.created == []
    assert all("runNow" not in patch for patch in kube.status_patches)


def test_the_last_state_of_deleted_jobs_is_not_kept_past_one_reconcile() -> None:
    """Finished or deleted BatchJobs must not pile up the Jobs that vanished (TTL 0, GC)."""
    operator = make_operator(FakeKube())
    done = JobView(FIRST, owner_uid=METADATA["uid"], conditions=(("Complete", "True", "", "", ""),))
    key = (METADATA["namespace"], METADATA["name"])
    operator.batchjobs.job_gone(key, done)  # its BatchJob is gone too: nothing reconciles it again
    asyncio.run(operator.batchjobs.reconcile(key))
    assert operator.batchjobs._gone == {}
