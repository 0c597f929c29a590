"""policy/oneshot.py: what the reconcile of a one-shot BatchJob does next, one row per case,
each comparing the whole decision."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.policy import oneshot
from bulkhead.policy.build import job_name
from bulkhead.policy.oneshot import (
    Blocked,
    Exists,
    Facts,
    LookAgain,
    LookUpJob,
    LookUpServiceAccount,
    RecordStart,
    Refused,
    Release,
    ReportJob,
    Start,
    Vanished,
    WaitForAdmission,
    WriteOutcome,
)
from bulkhead.policy.status import (
    Outcome,
    invalid_outcome,
    job_deleted_outcome,
    job_name_taken_outcome,
    job_outcome,
)

from tests.support.factories import make_spec

UID = "0c6d6b1e-0000-4000-8000-000000000001"
BJ = BatchJobView(
    namespace="billing",
    name="nightly",
    uid=UID,
    generation=1,
    created="2026-11-18T01:00:00Z",
    spec_json="{}",
    status_json="",
    phase="",
    reason="",
    deleting=False,
)
AGAIN = replace(BJ, run_now="again")
FIRST = job_name("nightly", UID)  # its only run
SECOND = job_name("nightly", UID, "run-now/again")  # the run of run-now value "again"
USES = make_spec(uses=[{"dependency": "orders-db", "units": 1}])
ACCOUNT = make_spec(serviceAccountName="invoices")
DONE = (("Complete", "True", "", "", "2026-11-18T01:05:00Z"),)
RUNNING = JobView(FIRST, owner_uid=UID)
FINISHED = JobView(FIRST, owner_uid=UID, conditions=DONE)
THEIRS = JobView(FIRST, owner_uid="someone-else")


def status(**fields: Any) -> BatchJobStatus:
    return BatchJobStatus.model_validate(fields)


SUCCEEDED = status(
    phase="Succeeded", reason="Succeeded", message="done", jobName=FIRST, succeeded=1
)
STARTED = status(phase="Running", reason="Running", message="1 active", jobName=FIRST)


def facts(spec: BatchJobSpec | None = None, **fields: Any) -> Facts:
    return Facts(
        **{
            "bj": BJ,
            "spec": spec or make_spec(),
            "current": None,
            "jobs": (),
            "gone": {},
            "admitted_run": None,
            **fields,
        }
    )


CASES: list[tuple[str, Facts, oneshot.Decision]] = [
    ("new, uses nothing: start", facts(), Start(None)),
    ("new, uses a Dependency: wait", facts(USES), WaitForAdmission(FIRST)),
    ("admitted: start", facts(USES, admitted_run=FIRST), Start(None)),
    ("admitted with another run: wait", facts(USES, admitted_run=SECOND), WaitForAdmission(FIRST)),
    (
        "a ServiceAccount: look it up first",
        facts(ACCOUNT),
        LookUpServiceAccount("invoices"),
    ),
    (
        "its ServiceAccount is missing: invalid, keeps its place in line",
        facts(ACCOUNT, service_account=False),
        WriteOutcome(
            invalid_outcome("serviceAccountName invoices does not exist in namespace billing"),
            Release.NOTHING,
        ),
    ),
    ("its ServiceAccount exists: start", facts(ACCOUNT, service_account=True), Start(None)),
    ("its Job is in the store: report it", facts(jobs=(RUNNING,)), ReportJob(RUNNING)),
    (
        "another Job in the store is not its run",
        facts(jobs=(JobView("other", owner_uid=UID),)),
        Start(None),
    ),
    (
        "its status names a Job not in the store: look",
        facts(current=STARTED),
        LookUpJob(FIRST),
    ),
    (
        "looked up, found ours: report it",
        facts(current=STARTED, found={FIRST: RUNNING}),
        ReportJob(RUNNING),
    ),
    (
        "looked up, found someone else's: deleted",
        facts(current=STARTED, found={FIRST: THEIRS}),
        WriteOutcome(job_deleted_outcome(FIRST), Release.WAIT),
    ),
    (
        "looked up, gone unfinished: deleted",
        facts(current=STARTED, found={FIRST: None}, gone={FIRST: RUNNING}),
        WriteOutcome(job_deleted_outcome(FIRST), Release.WAIT),
    ),
    (
        "looked up, gone finished (TTL 0): report its last state",
        facts(current=STARTED, found={FIRST: None}, gone={FIRST: FINISHED}),
        ReportJob(FINISHED),
    ),
    (
        "finished: keeps its result",
        facts(current=SUCCEEDED),
        WriteOutcome(
            Outcome("Succeeded", "Succeeded", "done", {"jobName": FIRST, "succeeded": 1}),
            Release.WAIT,
        ),
    ),
    (
        "finished, a new run-now value: starts its run",
        facts(bj=AGAIN, current=SUCCEEDED),
        Start("again"),
    ),
    (
        "running, a new run-now value: waits for the run to finish",
        facts(bj=AGAIN, current=STARTED, jobs=(RUNNING,)),
        ReportJob(RUNNING),
    ),
    (
        "the run-now run's Job: reported with the value it answers",
        facts(
            bj=AGAIN,
            current=status(phase="Running", jobName=SECOND, runNow="again"),
            jobs=(JobView(SECOND, owner_uid=UID),),
        ),
        ReportJob(JobView(SECOND, owner_uid=UID), "again"),
    ),
    (
        "started: count it, write what the Job shows",
        facts(started=Exists(RUNNING)),
        RecordStart(job_outcome(RUNNING, make_spec())),
    ),
    (
        "a 409 on someone else's Job: never adopted, lets go of its admission",
        facts(USES, admitted_run=FIRST, started=Exists(THEIRS)),
        WriteOutcome(job_name_taken_outcome(FIRST), Release.ALL),
    ),
    (
        "egress blocked: lets go of its admission",
        facts(USES, admitted_run=FIRST, started=Blocked("NetworkPolicyNameTaken", "taken")),
        WriteOutcome(Outcome("Pending", "NetworkPolicyNameTaken", "taken"), Release.ALL),
    ),
    (
        "the API server refused the Job: invalid, lets go of its admission",
        facts(started=Refused("spec.template: bad")),
        WriteOutcome(
            invalid_outcome("the API server refused the Job: spec.template: bad"), Release.ALL
        ),
    ),
    ("a 409, then gone: look again", facts(started=Vanished()), LookAgain()),
    (
        "started after admission: the start decides, whatever the book says now",
        facts(USES, admitted_run=None, started=Exists(RUNNING)),
        RecordStart(job_outcome(RUNNING, USES)),
    ),
]


@pytest.mark.parametrize(("facts", "decision"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(facts: Facts, decision: oneshot.Decision) -> None:
    assert oneshot.decide(facts) == decision


def test_unreadable_spec_shows_invalid_and_waits_no_more() -> None:
    assert oneshot.unreadable("spec.image: required") == WriteOutcome(
        invalid_outcome("spec.image: required"), Release.WAIT
    )


def test_run_name_is_the_job_of_the_run() -> None:
    assert (oneshot.run_name(BJ, None), oneshot.run_name(BJ, "again")) == (FIRST, SECOND)
