"""A finished one-shot BatchJob at rest (what a restart reconciles by the thousand): its
reconcile parses nothing and writes nothing, exactly as the full reconcile concludes; anything
that asks more of it (a new generation, a run-now request, a schedule, a status that names
another run) goes through the full reconcile."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from bulkhead.api.constants import ANNOTATION_RUN_NOW
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.controllers import batchjob
from bulkhead.policy import status
from bulkhead.policy.build import job_name

from tests.support.factories import make_spec, spec_dict
from tests.support.fakes import METADATA, FakeKube, reconcile_view

FIRST = job_name(METADATA["name"], METADATA["uid"])
AGAIN = job_name(METADATA["name"], METADATA["uid"], "run-now/again")
NOW = "2026-11-18T01:00:05Z"


def done(name: str, *condition: str) -> JobView:
    return JobView(name, owner_uid=METADATA["uid"], conditions=((*condition, "", "", NOW),))


def written(outcome: status.Outcome, generation: int = 1, run_now: str = "") -> dict[str, Any]:
    """The status the operator writes for `outcome` (and the run-now value it answered)."""
    if run_now:
        outcome = replace(outcome, extra={**outcome.extra, "runNow": run_now})
    return status.to_status(outcome, generation=generation, previous=None, now=NOW).wire()


SUCCEEDED = written(status.job_outcome(done(FIRST, "Complete", "True"), make_spec()))
BACKOFF = written(
    status.job_outcome(done(FIRST, "Failed", "True", status.BACKOFF_LIMIT), make_spec(), 2)
)
DELETED = written(status.job_deleted_outcome(FIRST))
AGAIN_SUCCEEDED = written(
    status.job_outcome(done(AGAIN, "Complete", "True"), make_spec()), run_now="again"
)
RUNNING = written(status.job_outcome(JobView(FIRST, owner_uid=METADATA["uid"]), make_spec()))


def view(
    state: dict[str, Any], generation: int = 1, run_now: str = "", **spec: Any
) -> BatchJobView:
    metadata = {
        **METADATA,
        "generation": generation,
        "annotations": {ANNOTATION_RUN_NOW: run_now} if run_now else {},
    }
    return BatchJobView.from_body(
        {"metadata": metadata, "spec": spec_dict(**spec), "status": state}
    )


def reconcile(bj: BatchJobView, jobs: list[JobView] = ()) -> FakeKube:  # type: ignore[assignment]
    """One reconcile of `bj` with `jobs` in the store; the parse caches start empty."""
    batchjob.parse_spec.cache_clear()
    batchjob.parse_status.cache_clear()
    return reconcile_view(bj, jobs)


@pytest.mark.parametrize(
    ("bj", "settled"),
    [
        (view(SUCCEEDED), (FIRST, "")),
        (view(BACKOFF), (FIRST, "")),
        (view(DELETED), (FIRST, "")),
        (view(AGAIN_SUCCEEDED), (AGAIN, "again")),
        (view(AGAIN_SUCCEEDED, run_now="again"), (AGAIN, "again")),
        # the spec changed since: the status answers generation 1
        (view(SUCCEEDED, generation=2), ("", "")),
        # a run-now request not answered yet
        (view(SUCCEEDED, run_now="again"), ("", "")),
        (view(RUNNING), ("", "")),
        (view(SUCCEEDED, schedule="0 2 * * *"), ("", "")),
        # a condition from an older generation: the status is not all of this one
        (
            view(
                {
                    **SUCCEEDED,
                    "conditions": [{**SUCCEEDED["conditions"][0], "observedGeneration": 0}],
                }
            ),
            ("", ""),
        ),
        (view({**SUCCEEDED, "conditions": []}), ("", "")),
        (view({**SUCCEEDED, "jobName": None}), ("", "")),
        (view({}), ("", "")),
    ],
)
def test_a_view_tells_whether_its_status_is_final(
    bj: BatchJobView, settled: tuple[str, str]
) -> None:
    assert bj.settled == settled


@pytest.mark.parametrize("state", [SUCCEEDED, BACKOFF, DELETED, AGAIN_SUCCEEDED])
def test_a_finished_batchjob_is_reconciled_without_a_parse_or_a_call(state: dict[str, Any]) -> None:
    bj = view(state)
    jobs = [done(state["jobName"], "Complete", "True")]
    kube = reconcile(bj, jobs)
    assert (kube.status_patches, kube.events, kube.created) == ([], [], [])
    assert (batchjob.parse_spec.cache_info().misses, batchjob.parse_status.cache_info().misses) == (
        0,
        0,
    )
    # the full reconcile of the same BatchJob concludes the same: nothing to write
    full = reconcile(replace(bj, settled=("", "")), jobs)
    assert (full.status_patches, full.events, full.created) == ([], [], [])


def test_a_new_generation_of_a_finished_batchjob_is_written_down() -> None:
    kube = reconcile(view(SUCCEEDED, generation=2))
    [patch] = kube.status_patches
    assert patch == {
        **SUCCEEDED,
        "observedGeneration": 2,
        "conditions": [{**c, "observedGeneration": 2} for c in SUCCEEDED["conditions"]],
    }


def test_a_status_that_names_another_run_is_not_final() -> None:
    """A status copied from a BatchJob of another uid (a restore) names a Job that is not this
    BatchJob's run: the full reconcile starts its own run."""
    other = job_name(METADATA["name"], "another-uid")
    bj = view({**SUCCEEDED, "jobName": other})
    assert bj.settled == (other, "")
    kube = reconcile(bj)
    assert [job["metadata"]["name"] for job in kube.created] == [FIRST]
