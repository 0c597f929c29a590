"""policy/runs.py: what a scheduled BatchJob does at each look, and properties over many looks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from bulkhead.api.batchjob import BatchJobStatus, Run
from bulkhead.api.constants import (
    JOB_DELETED,
    WAITING_TO_START,
)
from bulkhead.api.times import parse_time
from bulkhead.api.views import JobView
from bulkhead.policy import runs, spread
from bulkhead.policy.build import job_name
from bulkhead.policy.ledger import token
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.runs_factories import T0, UID, at, deferred, iso, job, plan, running, spec

# --- one look, compared whole ---------------------------------------------------------------


def test_the_first_instant_is_due_and_starts() -> None:
    p = plan([], [], now=10)
    assert p.runs == [deferred(10)]
    assert p.start == deferred(10)
    assert (p.next_time, p.wake, p.delete, p.run_now) == (at(20), at(20), [], None)


def test_nothing_is_due_before_the_first_instant() -> None:
    p = plan([], [], now=9)
    assert (p.runs, p.start, p.next_time, p.wake) == ([], None, at(10), at(10))


def test_run_now_starts_one_run_and_is_echoed() -> None:
    p = plan([], [], now=5, run_now="manual-1")
    assert p.run_now == "manual-1"
    assert p.start == Run(
        scheduled_time=iso(5),
        result="Deferred",
        reason=WAITING_TO_START,
        message="run now (manual-1) requested",
        run_now="manual-1",
    )


def test_run_now_already_handled_starts_nothing() -> None:
    p = plan([], [], now=5, run_now="manual-1", handled="manual-1")
    assert (p.start, p.run_now) == (None, "manual-1")


def test_a_run_whose_job_vanished_failed() -> None:
    p = plan([running(10)], [], now=15)
    assert [(r.result, r.reason) for r in p.runs] == [("Failed", JOB_DELETED)]


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    jobs = [job(s, "succeeded") for s in (10, 20, 30, 40)] + [job(s, "failed") for s in (50, 60)]
    p = plan([], jobs, now=65, successful_runs_history_limit=2, failed_runs_history_limit=1)
    assert p.delete == [job(20).name, job(10).name, job(50).name]


def test_jitter_delays_the_start_but_not_past_the_next_run() -> None:
    p = plan([], [], now=10, jitter_seconds=9)
    offset = spread.jitter(UID, at(10), 9, at(20))
    assert timedelta(0) <= offset < timedelta(seconds=10)
    if offset:
        assert (p.start, p.wake) == (None, at(10) + offset)
    later = plan([], [], now=10 + int(offset.total_seconds()))
    assert later.start is not None and later.start.scheduled_time == iso(10)


def test_the_runs_list_keeps_the_newest_finished_entries() -> None:
    ledger = [Run(scheduled_time=iso(s), result="Succeeded") for s in range(0, 200, 10)]
    p = plan(ledger, [], now=205)
    assert [r.scheduled_time for r in p.runs] == [
        *[iso(s) for s in range(100, 210, 10)][:10],
        iso(200),
    ]


# --- many looks: never twice, never silently skipped ----------------------------------------

POLICIES = st.sampled_from(["Allow", "Forbid", "Queue", "Replace"])
CATCH_UP = st.sampled_from(["Latest", "All", "None"])


@settings(max_examples=150, deadline=None)
# Instants due faster than one start a look: the line once outgrew status.runs and lost some.
@example(
    policy="Allow",
    catch_up="All",
    gaps=[1, 29] + [50] * 23,
    run_seconds=1,
    lose_writes=[False] * 25,
)
@given(
    policy=POLICIES,
    catch_up=CATCH_UP,
    gaps=st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=25),
    run_seconds=st.integers(min_value=1, max_value=40),
    lose_writes=st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_every_instant_is_run_once_or_recorded_missed(
    policy: str, catch_up: str, gaps: list[int], run_seconds: int, lose_writes: list[bool]
) -> None:
    """The operator looks at random times (and sometimes crashes before its status write);
    runs take `run_seconds`. Every instant up to the last look has exactly one ledger entry or
    is summed up in one, and no instant ever gets two Jobs."""
    ledger: list[Run] = []
    written: dict[str, Run] = {}  # every entry any written ledger had (the list is bounded)
    jobs: dict[str, JobView] = {}
    created_for: dict[str, int] = {}
    now = 0
    for step, gap in enumerate(gaps):
        now += gap
        # Jobs finish on their own, like the Job controller would make them
        for name, view in list(jobs.items()):
            started = created_for[name]
            if not view.finished and now >= started + run_seconds:
                jobs[name] = JobView(
                    **{
                        **{f: getattr(view, f) for f in view.__slots__},
                        "active": 0,
                        "succeeded": 1,
                        "conditions": (("Complete", "True", "", "", iso(started + run_seconds)),),
                        "completion_time": iso(started + run_seconds),
                    }
                )
        p = plan(
            ledger,
            [j for j in jobs.values() if not j.deleting],
            now=now,
            concurrency_policy=policy,
            catch_up=catch_up,
        )
        for name in p.delete:
            if name in jobs:
                jobs[name] = JobView(
                    **{
                        **{f: getattr(jobs[name], f) for f in jobs[name].__slots__},
                        "deleting": True,
                    }
                )
        if p.start is not None:
            name = job_name("nightly", UID, token(p.start))
            assert name not in jobs or jobs[name].scheduled == p.start.scheduled_time
            if name not in jobs:
                view = job(int((parse_time(p.start.scheduled_time) - T0).total_seconds()))
                jobs[name] = view
                created_for[name] = now
            started = runs.run_of(jobs[name], spec(), p.start)
            p.runs = [started if token(r) == token(started) else r for r in p.runs]
        if policy == "Forbid":
            assert sum(r.result == "Running" for r in p.runs) <= 1
        assert len(p.runs) <= runs.MAX_RUNS  # what status.runs' schema allows
        if not lose_writes[step]:
            ledger = p.runs
            written.update((token(r), r) for r in ledger)
    # every instant the schedule reached is accounted for, one by one or in a summed-up span
    final = plan(ledger, [j for j in jobs.values() if not j.deleting], now=now)
    written.update((token(r), r) for r in final.runs)
    spans = [
        (m.group(1), m.group(2))
        for r in written.values()
        if (m := SPAN.search(r.message or "")) and r.result == "Missed"
    ]
    for t in (iso(s) for s in range(10, now + 1, 10)):
        assert t in written or any(a <= t < b for a, b in spans), (t, sorted(written))
    # no instant got two Jobs: names are derived from the instant, one create each
    assert len({j.scheduled for j in jobs.values()}) == len(jobs)


SPAN = re.compile(r"runs from (\S+) to before (\S+) were not run")


def test_a_finished_run_keeps_what_was_recorded_of_it() -> None:
    """The exit code read from the pods once stays in the message; later looks do not redo it."""
    recorded = Run(
        scheduled_time=iso(10),
        result="Failed",
        reason="BackoffLimitExceeded",
        message="container main exited with code 3; 4 pods failed, more than backoffLimit 3 allows",
        job_name=job(10).name,
        start_time=iso(10),
        completion_time=iso(13),
    )
    p = plan([recorded], [job(10, "failed")], now=15)
    assert p.runs == [recorded]


def test_a_running_run_that_cannot_start_is_pending_stalled_with_one_warning() -> None:
    started = Run(
        scheduled_time=iso(0),
        result="Running",
        reason="Running",
        message="Job j running: 1 active",
        job_name="j",
    )
    stuck = started.model_copy(
        update={"reason": "ErrImagePull", "message": "pod j-x cannot start: container main is ..."}
    )
    outcome = runs.outcome(spec(), [stuck], [], at(10), None, None)
    assert (outcome.phase, outcome.reason) == ("Pending", "ErrImagePull")
    assert outcome.message == (
        f"run of {iso(0)} cannot start: pod j-x cannot start: container main is ...; "
        f"next run at {iso(10)}"
    )
    assert outcome.conditions == {
        "Ready": (False, "ErrImagePull"),
        "Reconciling": (False, "ErrImagePull"),
        "Stalled": (True, "ErrImagePull"),
        "Succeeded": (False, "ErrImagePull"),
        "Suspended": (False, "ErrImagePull"),
    }
    assert runs.events([started], [stuck]) == [
        runs.Event(True, "ErrImagePull", f"run of {iso(0)} cannot start: {stuck.message}")
    ]
    assert runs.events([stuck], [stuck]) == []  # said once, not at every look
    unschedulable = stuck.model_copy(update={"reason": "Unschedulable"})
    outcome = runs.outcome(spec(), [unschedulable], [], at(10), None, None)
    assert (outcome.phase, outcome.conditions and outcome.conditions["Stalled"]) == (
        "Pending",
        (False, "Unschedulable"),
    )


def status_of(**fields: Any) -> BatchJobStatus:
    return BatchJobStatus.model_validate(fields)


def ledger_entry(result: str, at: int, job: str | None = None) -> dict[str, Any]:
    return {"scheduledTime": iso(at), "result": result, "jobName": job}


@pytest.mark.parametrize(
    ("before", "after", "results"),
    [
        # one-shot: the run's phase became Succeeded or Failed once
        (None, status_of(phase="Running", jobName="j"), []),
        (
            status_of(phase="Running", jobName="j"),
            status_of(phase="Failed", jobName="j"),
            ["Failed"],
        ),
        (status_of(phase="Failed", jobName="j"), status_of(phase="Failed", jobName="j"), []),
        # a run-now's run ended after the first one: a new Job name
        (
            status_of(phase="Succeeded", jobName="j"),
            status_of(phase="Succeeded", jobName="j-now"),
            ["Succeeded"],
        ),
        # an invalid spec, no Job: no run ended
        (None, status_of(phase="Failed", reason="JobNameTaken"), []),
        # scheduled: each entry that reached an end, once
        (
            status_of(runs=[ledger_entry("Running", 0, "a"), ledger_entry("Deferred", 10)]),
            status_of(
                runs=[
                    ledger_entry("Succeeded", 0, "a"),
                    ledger_entry("Missed", 10),
                    ledger_entry("Deferred", 20),
                ]
            ),
            ["Succeeded", "Missed"],
        ),
        (
            status_of(runs=[ledger_entry("Failed", 0, "a")]),
            status_of(runs=[ledger_entry("Failed", 0, "a"), ledger_entry("Replaced", 10, "b")]),
            [],
        ),
        (None, status_of(runs=[ledger_entry("Failed", 0, "a")]), ["Failed"]),
    ],
)
def test_ended_counts_each_run_that_ended_once(
    before: BatchJobStatus | None, after: BatchJobStatus, results: list[str]
) -> None:
    assert runs.ended(before, after) == results
