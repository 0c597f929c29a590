"""A scheduled BatchJob's ledger entries, Jobs and one look of policy/runs.py's `plan` to start
from: shared by the tests of runs, catch-up, starting deadline and concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bulkhead.api.batchjob import Run
from bulkhead.api.constants import WAITING_TO_START
from bulkhead.api.times import format_time
from bulkhead.api.views import JobView
from bulkhead.policy import runs
from bulkhead.policy import schedule as cron
from bulkhead.policy.build import job_name, run_token

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
