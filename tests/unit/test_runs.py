"""policy/runs.py: what a scheduled BatchJob does at each look, and properties over many looks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulkhead.api.batchjob import BatchJobStatus, Run
from bulkhead.api.constants import (
    CONCURRENCY_FORBID,
    JOB_DELETED,
    NOT_CAUGHT_UP,
    QUEUE_FULL,
    REPLACED,
    STARTING_DEADLINE,
    SUSPENDED,
    WAITING_FOR_ACTIVE_RUN,
    WAITING_TO_START,
)
from bulkhead.api.times import format_time, parse_time
from bulkhead.api.views import JobView
from bulkhead.policy import runs
from bulkhead.policy import schedule as cron
from bulkhead.policy.build import job_name, run_token
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.factories import make_spec

UID = "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
T0 = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(seconds: int) -> str:
    return format_time(at(seconds))


def spec(**fields: Any):
    return make_spec(**{"schedule": "@every 10s", **fields})


def plan(
    ledger: list[Run],
    jobs: list[JobView],
    now: int,
    run_now: str = "",
    handled: str | None = None,
    suspended_since: int | None = None,
    **fields: Any,
) -> runs.Plan:
    s = spec(**fields)
    assert s.schedule
    return runs.plan(
        spec=s,
        schedule=cron.parse(s.schedule, s.time_zone, seed=UID, anchor=T0),
        seed=UID,
        created=T0,
        ledger=ledger,
        jobs=jobs,
        run_now=run_now,
        handled_run_now=handled,
        suspended_since=None if suspended_since is None else at(suspended_since),
        now=at(now),
    )


def running(seconds: int) -> Run:
    name = job_name("nightly", UID, iso(seconds))
    return Run(
        scheduled_time=iso(seconds),
        result="Running",
        reason="Running",
        message=f"Job {name} running: 1 active, 0 of 1 completions succeeded",
        job_name=name,
        start_time=iso(seconds),
    )


def job(seconds: int, state: str = "running", run_now: str = "") -> JobView:
    scheduled = iso(seconds)
    conditions: tuple[tuple[str, str, str, str, str], ...] = ()
    if state == "succeeded":
        conditions = (("Complete", "True", "", "", iso(seconds + 3)),)
    elif state == "failed":
        conditions = (("Failed", "True", "BackoffLimitExceeded", "", iso(seconds + 3)),)
    return JobView(
        name=job_name("nightly", UID, run_token(scheduled, run_now)),
        uid=f"job-{seconds}",
        owner_uid=UID,
        active=1 if state == "running" else 0,
        succeeded=1 if state == "succeeded" else 0,
        failed=1 if state == "failed" else 0,
        start_time=scheduled,
        completion_time=iso(seconds + 3) if state == "succeeded" else None,
        conditions=conditions,
        created=scheduled,
        scheduled=scheduled,
        run_now=run_now,
    )


def deferred(seconds: int, **fields: Any) -> Run:
    return Run(
        scheduled_time=iso(seconds),
        result="Deferred",
        reason=fields.pop("reason", WAITING_TO_START),
        message=fields.pop("message", "due"),
        **fields,
    )


def missed(seconds: int, reason: str, message: str) -> Run:
    return Run(scheduled_time=iso(seconds), result="Missed", reason=reason, message=message)


def summary(p: runs.Plan) -> tuple[list[tuple[str, str, str | None]], str | None, list[str]]:
    return (
        [(r.scheduled_time, r.result, r.reason) for r in p.runs],
        p.start.scheduled_time if p.start else None,
        p.delete,
    )


# --- one look, compared whole ---------------------------------------------------------------


def test_the_first_instant_is_due_and_starts() -> None:
    p = plan([], [], now=10)
    assert p.runs == [deferred(10)]
    assert p.start == deferred(10)
    assert (p.next_time, p.wake, p.delete, p.run_now) == (at(20), at(20), [], None)


def test_nothing_is_due_before_the_first_instant() -> None:
    p = plan([], [], now=9)
    assert (p.runs, p.start, p.next_time, p.wake) == ([], None, at(10), at(10))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "Forbid",
            (
                [
                    (iso(10), "Running", "Running"),
                    (iso(20), "Missed", CONCURRENCY_FORBID),
                ],
                None,
                [],
            ),
        ),
        (
            "Allow",
            (
                [(iso(10), "Running", "Running"), (iso(20), "Deferred", "WaitingToStart")],
                iso(20),
                [],
            ),
        ),
        (
            "Queue",
            (
                [
                    (iso(10), "Running", "Running"),
                    (iso(20), "Deferred", WAITING_FOR_ACTIVE_RUN),
                ],
                None,
                [],
            ),
        ),
        (
            "Replace",
            (
                [(iso(10), "Replaced", REPLACED), (iso(20), "Deferred", "WaitingToStart")],
                iso(20),
                [job(10).name],
            ),
        ),
    ],
)
def test_a_run_due_while_one_is_active_follows_the_concurrency_policy(
    policy: str, expected: Any
) -> None:
    p = plan([running(10)], [job(10)], now=20, concurrency_policy=policy)
    assert summary(p) == expected


def test_queue_keeps_one_waiting_and_misses_the_rest() -> None:
    ledger = [running(10), deferred(20, reason=WAITING_FOR_ACTIVE_RUN, message="x")]
    p = plan(ledger, [job(10)], now=30, concurrency_policy="Queue")
    assert summary(p) == (
        [
            (iso(10), "Running", "Running"),
            (iso(20), "Deferred", WAITING_FOR_ACTIVE_RUN),
            (iso(30), "Missed", QUEUE_FULL),
        ],
        None,
        [],
    )


def test_the_queued_run_starts_when_the_active_one_finishes() -> None:
    ledger = [running(10), deferred(20, reason=WAITING_FOR_ACTIVE_RUN, message="x")]
    p = plan(ledger, [job(10, "succeeded")], now=25, concurrency_policy="Queue")
    assert summary(p)[1] == iso(20)
    assert [r.result for r in p.runs] == ["Succeeded", "Deferred"]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        # ten minutes down with @every 10s: 60 instants; Latest runs the newest only
        (
            "Latest",
            [(iso(10), "Missed", NOT_CAUGHT_UP)]
            + [(iso(s), "Missed", NOT_CAUGHT_UP) for s in range(560, 610, 10)]
            + [(iso(610), "Deferred", "WaitingToStart")],
        ),
        (
            "All",
            [(iso(10), "Missed", NOT_CAUGHT_UP), (iso(560), "Missed", NOT_CAUGHT_UP)]
            + [(iso(s), "Deferred", "WaitingToStart") for s in range(570, 620, 10)],
        ),
        (
            "None",
            [(iso(10), "Missed", NOT_CAUGHT_UP)]
            + [(iso(s), "Missed", NOT_CAUGHT_UP) for s in range(560, 610, 10)]
            + [(iso(610), "Deferred", "WaitingToStart")],
        ),
    ],
)
def test_catch_up_after_downtime_is_bounded_and_says_what_it_did(
    catch_up: str, expected: list[tuple[str, str, str]]
) -> None:
    ledger = [Run(scheduled_time=iso(0), result="Succeeded", job_name="j0")]
    p = plan(ledger, [], now=615, catch_up=catch_up, concurrency_policy="Allow")
    assert [(r.scheduled_time, r.result, r.reason) for r in p.runs[1:]] == expected
    [first] = [r for r in p.runs if r.scheduled_time == iso(10)]
    assert first.message == (
        f"55 runs from {iso(10)} to before {iso(560)} were not run: the operator did not run "
        "at its time"
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (300 + 30, [(iso(300), "Deferred", WAITING_TO_START)]),  # seen in time
        (300 + 90, [(iso(300), "Missed", NOT_CAUGHT_UP)]),  # seen 90 s late
    ],
)
def test_catch_up_none_runs_only_the_current_instant_seen_in_time(
    now: int, expected: list[tuple[str, str, str]]
) -> None:
    p = plan([], [], now=now, catch_up="None", schedule="@every 5m")
    assert [(r.scheduled_time, r.result, r.reason) for r in p.runs] == expected


def test_instants_while_suspended_are_missed_as_suspended_on_resume() -> None:
    ledger = [Run(scheduled_time=iso(0), result="Succeeded")]
    p = plan(ledger, [], now=45, suspended_since=15)
    assert summary(p)[0] == [
        (iso(0), "Succeeded", None),
        (iso(10), "Missed", NOT_CAUGHT_UP),
        (iso(20), "Missed", SUSPENDED),
        (iso(30), "Missed", SUSPENDED),
        (iso(40), "Deferred", "WaitingToStart"),
    ]


def test_a_suspended_batchjob_starts_nothing_and_has_no_next_run() -> None:
    p = plan([deferred(10)], [], now=30, suspend=True)
    assert summary(p) == ([(iso(10), "Missed", SUSPENDED)], None, [])
    assert p.next_time is None


def test_a_run_waiting_past_its_starting_deadline_is_missed_with_what_it_waited_for() -> None:
    waiting = deferred(10, reason="WaitingForDependency", message="waiting for orders-db: full")
    p = plan([waiting], [], now=16, starting_deadline_seconds=5, concurrency_policy="Allow")
    assert p.runs == [
        missed(
            10,
            STARTING_DEADLINE,
            "not started within startingDeadlineSeconds (5s); it was waiting for orders-db: full",
        )
    ]
    assert p.start is None


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


def test_run_now_is_forbidden_while_a_run_is_active_under_forbid() -> None:
    p = plan([running(0)], [job(0)], now=5, run_now="m")
    assert [(r.result, r.reason) for r in p.runs] == [
        ("Running", "Running"),
        ("Missed", CONCURRENCY_FORBID),
    ]
    assert p.run_now == "m"


def test_a_run_whose_job_vanished_failed() -> None:
    p = plan([running(10)], [], now=15)
    assert [(r.result, r.reason) for r in p.runs] == [("Failed", JOB_DELETED)]


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    jobs = [job(s, "succeeded") for s in (10, 20, 30, 40)] + [job(s, "failed") for s in (50, 60)]
    p = plan([], jobs, now=65, successful_runs_history_limit=2, failed_runs_history_limit=1)
    assert p.delete == [job(20).name, job(10).name, job(50).name]


def test_jitter_delays_the_start_but_not_past_the_next_run() -> None:
    p = plan([], [], now=10, jitter_seconds=9)
    offset = cron.jitter(UID, at(10), 9, at(20))
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
            name = job_name("nightly", UID, runs.token(p.start))
            assert name not in jobs or jobs[name].scheduled == p.start.scheduled_time
            if name not in jobs:
                view = job(int((parse_time(p.start.scheduled_time) - T0).total_seconds()))
                jobs[name] = view
                created_for[name] = now
            started = runs.run_of(jobs[name], spec(), p.start)
            p.runs = [started if runs.token(r) == runs.token(started) else r for r in p.runs]
        if policy == "Forbid":
            assert sum(r.result == "Running" for r in p.runs) <= 1
        assert len(p.runs) <= runs.MAX_RUNS  # what status.runs' schema allows
        if not lose_writes[step]:
            ledger = p.runs
            written.update((runs.token(r), r) for r in ledger)
    # every instant the schedule reached is accounted for, one by one or in a summed-up span
    final = plan(ledger, [j for j in jobs.values() if not j.deleting], now=now)
    written.update((runs.token(r), r) for r in final.runs)
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


@pytest.mark.parametrize(
    ("catch_up", "started"),
    [
        ("Latest", [iso(600)]),
        ("All", [iso(s) for s in (360, 420, 480, 540, 600)]),  # maxCatchUpRuns 5
        ("None", [iso(600)]),  # the newest instant is seen 5 s late: on time
    ],
)
def test_ten_minutes_down_with_an_every_minute_schedule(catch_up: str, started: list[str]) -> None:
    """Down from just after 02:00 to 02:10:05; every minute's instant is decided exactly once."""
    ledger = [Run(scheduled_time=iso(0), result="Succeeded", job_name="j0")]
    p = plan(
        ledger, [], now=605, schedule="* * * * *", catch_up=catch_up, concurrency_policy="Allow"
    )
    # 02:01-02:04 summed up in one entry, 02:05-02:10 one entry each
    assert [(r.scheduled_time, r.result) for r in p.runs] == [
        (iso(0), "Succeeded"),
        (iso(60), "Missed"),
        *[(iso(s), "Deferred" if iso(s) in started else "Missed") for s in range(300, 610, 60)],
    ]
    assert p.runs[1].message == (
        f"4 runs from {iso(60)} to before {iso(300)} were not run: the operator did not run at "
        "its time"
    )
    assert {r.reason for r in p.runs if r.result == "Missed"} == {NOT_CAUGHT_UP}
    assert p.start is not None and p.start.scheduled_time == started[0]


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


def test_a_long_outage_with_the_largest_catch_up_fits_in_the_status() -> None:
    """catchUp All, maxCatchUpRuns 20, Allow, ten runs still running: the running and the
    waiting runs are all listed, and what was missed fills what is left of status.runs' 32."""
    jobs = [job(s) for s in range(10, 110, 10)]
    p = plan(
        [runs.run_of(j, spec()) for j in jobs],
        jobs,
        now=5000,
        catch_up="All",
        max_catch_up_runs=20,
        concurrency_policy="Allow",
    )
    BatchJobStatus.model_validate({"runs": [r.wire() for r in p.runs]})
    results = [r.result for r in p.runs]
    counts = {k: results.count(k) for k in ("Running", "Deferred", "Missed")}
    assert (counts, len(p.runs)) == ({"Running": 10, "Deferred": 20, "Missed": 2}, 32)


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
