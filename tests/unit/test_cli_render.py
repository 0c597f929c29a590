"""cli/render: what `kubectl bulkhead` shows, given the objects the API server returns."""

from __future__ import annotations

from typing import Any

import pytest
from bulkhead.cli import render

from tests.support.cli_objects import NOW, WAITING, WAITING_MESSAGE, batchjob, dependency

DB = dependency("orders-db", 2, ("billing", "nightly", 2))
CACHE = dependency("cache", 4, windows=[{"start": "22:00", "end": "23:00"}])
URGENT = batchjob(
    "urgent",
    namespace="shop",
    uses=(("orders-db", 2),),
    created="2026-11-18T01:45:00Z",
    spec={"priority": 10},
    phase="Queued",
    reason="WaitingForDependency",
    queue={"dependency": "orders-db"},
)
LATE = batchjob(
    "late",
    namespace="shop",
    uses=(("orders-db", 1),),
    created="2026-11-18T01:30:00Z",
    phase="Queued",
    reason="WaitingForDependency",
    queue={"dependency": "orders-db"},
)
HOLDER = batchjob("nightly", uses=(("orders-db", 2),), phase="Running", reason="Running")


def test_why_names_the_holder_its_place_in_line_and_when_the_window_opens() -> None:
    everyone = [WAITING, LATE, URGENT, HOLDER]
    report = render.why_report(WAITING, {"orders-db": DB, "cache": CACHE}, NOW, everyone)
    assert report == {
        "batchJob": "billing/invoices",
        "phase": "Queued",
        "reason": "WaitingForDependency",
        "message": WAITING_MESSAGE,
        "uses": [
            {
                "dependency": "orders-db",
                "units": 1,
                "capacity": 2,
                "inUse": 2,
                "holders": [{"namespace": "billing", "name": "nightly", "units": 2}],
            },
            {
                "dependency": "cache",
                "units": 1,
                "capacity": 4,
                "inUse": 0,
                "holders": [],
                "windowOpens": "2026-11-18T22:00:00Z",
            },
        ],
        "queue": {"dependency": "orders-db", "position": 2, "of": 3},
    }
    assert render.why_text(report) == "\n".join(
        [
            "BatchJob:  billing/invoices",
            "Phase:     Queued",
            "Reason:    WaitingForDependency",
            f"Message:   {WAITING_MESSAGE}",
            "Queue:     position 2 of 3 waiting for orders-db",
            "Uses:      orders-db: needs 1, 2/2 in use, held by billing/nightly (2)",
            "Uses:      cache: needs 1, 0/4 in use, held by nobody",
            "Window:    cache opens at 2026-11-18T22:00:00Z",
        ]
    )


def test_why_puts_the_blocking_dependency_first_and_reports_a_missing_one() -> None:
    waiting = batchjob(
        "report",
        uses=(("gone", 1), ("orders-db", 1)),
        spec={"schedule": "0 2 * * *", "suspend": True},
        phase="Suspended",
        queue={"dependency": "orders-db"},
        nextScheduleTime="2026-11-19T02:00:00Z",
    )
    report = render.why_report(waiting, {"orders-db": DB}, NOW)
    assert render.why_text(report) == "\n".join(
        [
            "BatchJob:  billing/report",
            "Phase:     Suspended (suspended)",
            "Queue:     waiting for orders-db",
            "Uses:      orders-db: needs 1, 2/2 in use, held by billing/nightly (2)",
            "Uses:      gone: needs 1, no such Dependency",
            "Next run:  2026-11-19T02:00:00Z",
        ]
    )


def test_why_without_a_name_lists_what_needs_attention() -> None:
    failed = batchjob("broken", phase="Failed", reason="BackoffLimitExceeded", message="exit 2")
    stalled = batchjob(
        "nightly-report",
        phase="Scheduled",
        conditions=[{"type": "Stalled", "status": "True", "reason": "LastRunFailed"}],
    )
    listed = [WAITING, HOLDER, failed, stalled, batchjob("done", phase="Succeeded")]
    assert render.not_ok_text(listed, all_namespaces=False) == "\n".join(
        [
            "NAME             PHASE       REASON                 MESSAGE",
            "invoices         Queued      WaitingForDependency   waiting for orders-db: all 2"
            " units are held or promised to BatchJobs ahead in line",
            "broken           Failed      BackoffLimitExceeded   exit 2",
            "nightly-report   Scheduled",
        ]
    )
    assert render.not_ok_text([HOLDER], all_namespaces=True) == (
        "every BatchJob is running, scheduled or succeeded"
    )


def test_queue_shows_holders_and_waiters_in_admission_order() -> None:
    report = render.queue_report(DB, [WAITING, LATE, URGENT, HOLDER], NOW)
    assert [(w["namespace"], w["name"]) for w in report["waiting"]] == [
        ("shop", "urgent"),  # priority first
        ("billing", "invoices"),  # then creation time
        ("shop", "late"),
    ]
    assert render.queue_text(report, NOW) == "\n".join(
        [
            "Dependency: orders-db",
            "Capacity:   [████████████████████] 2/2 units in use",
            "",
            "Holders:",
            "NAMESPACE   NAME      UNITS",
            "billing     nightly   2",
            "",
            "Waiting (admission order):",
            "#   NAMESPACE   NAME       UNITS   REASON",
            "1   shop        urgent     2       WaitingForDependency",
            "2   billing     invoices   1       WaitingForDependency",
            "3   shop        late       1       WaitingForDependency",
        ]
    )
    assert render.queue_text(report, NOW, wide=True).splitlines()[-4:] == [
        "#   NAMESPACE   NAME       UNITS   REASON                 "
        "PRIORITY   WAITING-FOR   IN-LINE",
        "1   shop        urgent     2       WaitingForDependency   10         orders-db     15m",
        "2   billing     invoices   1       WaitingForDependency   0          orders-db     1h",
        "3   shop        late       1       WaitingForDependency   0          orders-db     30m",
    ]


def test_queue_shows_the_dependency_health() -> None:
    status = {
        **DB["status"],
        "effectiveCapacity": 1,
        "health": "Unhealthy",
        "breaker": {"state": "Open", "openUntil": "2026-11-18T02:06:02Z", "opens": 2},
        "signals": [
            {"name": "p99", "value": 1.4, "time": "2026-11-18T02:04:00Z"},
            {"name": "up", "error": "unreachable: connection refused"},
        ],
    }
    report = render.queue_report({**DB, "status": status}, [HOLDER], NOW)
    assert render.queue_text(report, NOW).splitlines()[1:4] == [
        "Capacity:   [████████████████████] 2/2 units in use",
        "Health:     Unhealthy, effective capacity 1 of 2, breaker Open until 2026-11-18T02:06:02Z",
        "Signals:    p99 1.4, up unread",
    ]
    half_open = {
        **status,
        "breaker": {"state": "HalfOpen", "probe": {"namespace": "a", "name": "b"}},
    }
    report = render.queue_report({**DB, "status": half_open}, [HOLDER], NOW)
    assert "breaker HalfOpen, probe a/b" in render.queue_text(report, NOW)


def test_a_scheduled_run_waits_in_line_since_its_instant() -> None:
    runs = [{"scheduledTime": "2026-11-18T00:30:00Z", "result": "Deferred"}]
    nightly = batchjob(
        "nightly-run",
        uses=(("orders-db", 1),),
        created="2026-11-18T01:50:00Z",  # created after the others, its run due before them
        spec={"schedule": "30 0 * * *"},
        phase="Queued",
        reason="WaitingForDependency",
        queue={"dependency": "orders-db"},
        runs=runs,
    )
    report = render.queue_report(DB, [WAITING, LATE, nightly], NOW)
    assert [(w["name"], w["inLineSince"]) for w in report["waiting"]] == [
        ("nightly-run", "2026-11-18T00:30:00Z"),
        ("invoices", "2026-11-18T01:00:00Z"),
        ("late", "2026-11-18T01:30:00Z"),
    ]


def test_an_idle_queue_outside_its_window() -> None:
    report = render.queue_report(CACHE, [WAITING], NOW)
    assert render.queue_text(report, NOW, wide=True) == "\n".join(
        [
            "Dependency: cache",
            "Capacity:   [░░░░░░░░░░░░░░░░░░░░] 0/4 units in use",
            "Window:     closed, opens at 2026-11-18T22:00:00Z",
            "",
            "Holders: none",
            "",
            # it waits for orders-db, and counts in the queue of every dependency it uses,
            # as admission counts it
            "Waiting (admission order):",
            "#   NAMESPACE   NAME       UNITS   REASON                 "
            "PRIORITY   WAITING-FOR   IN-LINE",
            "1   billing     invoices   1       WaitingForDependency   0          orders-db     1h",
        ]
    )
    assert render.queue_text(render.queue_report(CACHE, [HOLDER], NOW), NOW).endswith(
        "Holders: none\n\nWaiting: none"
    )


@pytest.mark.parametrize(
    ("used", "capacity", "drawn"),
    [
        (0, 4, "[░░░░░░░░]"),
        (1, 4, "[██░░░░░░]"),
        (3, 4, "[██████░░]"),
        (5, 4, "[████████]"),
        (0, 0, "[████████]"),  # capacity 0: nothing can start
    ],
)
def test_bar(used: int, capacity: int, drawn: str) -> None:
    assert render.bar(used, capacity, width=8) == drawn


SCHEDULED_SPEC = {"schedule": "0 2 * * *"}


def test_runs_lists_the_history() -> None:
    runs = [
        {
            "scheduledTime": "2026-11-17T02:00:00Z",
            "result": "Failed",
            "jobName": "nightly-a1",
            "startTime": "2026-11-17T02:00:01Z",
            "completionTime": "2026-11-17T02:03:00Z",
            "reason": "BackoffLimitExceeded",
            "message": "container main exited with code 2",
        },
        {
            "scheduledTime": "2026-11-17T09:12:00Z",
            "result": "Succeeded",
            "jobName": "nightly-b2",
            "startTime": "2026-11-17T09:12:01Z",
            "completionTime": "2026-11-17T09:14:00Z",
            "runNow": "2026-11-17T09:12:00.000000Z",
        },
        {"scheduledTime": "2026-11-18T02:00:00Z", "result": "Missed", "reason": "Forbid"},
    ]
    nightly = batchjob("nightly", spec=SCHEDULED_SPEC, runs=runs)
    assert render.runs_text(nightly) == "\n".join(
        [
            "SCHEDULED              RESULT      JOB          STARTED                FINISHED"
            "               REASON",
            "2026-11-17T02:00:00Z   Failed      nightly-a1   2026-11-17T02:00:01Z   "
            "2026-11-17T02:03:00Z   BackoffLimitExceeded",
            "2026-11-17T09:12:00Z   Succeeded   nightly-b2   2026-11-17T09:12:01Z   "
            "2026-11-17T09:14:00Z",
            "2026-11-18T02:00:00Z   Missed" + " " * 65 + "Forbid",  # no job, no times
        ]
    )
    assert (
        render.runs_text(nightly, wide=True).splitlines()[2].endswith("2026-11-17T09:12:00.000000Z")
    )


def test_runs_of_a_triggered_batchjob_name_their_trigger() -> None:
    runs = [
        {
            "scheduledTime": "2026-11-17T02:00:00Z",
            "result": "Succeeded",
            "jobName": "load-a1",
            "trigger": "after-extract",
            "key": "extract-9f",
        },
        {
            "scheduledTime": "2026-11-17T02:05:00Z",
            "result": "Deferred",
            "trigger": "exported",
            "key": "3c1d",
            "coalesced": 4,
            "reason": "MaxInFlight",
        },
        {"scheduledTime": "2026-11-17T02:06:00Z", "result": "Deferred", "runNow": "now"},
    ]
    spec = {**SCHEDULED_SPEC, "triggers": [{"name": "exported", "cloudEvent": {}}]}
    del spec["schedule"]
    load = batchjob("load", spec=spec, runs=runs)
    lines = render.runs_text(load).splitlines()
    assert lines[0].split() == [
        "RECORDED",
        "TRIGGER",
        "RESULT",
        "JOB",
        "STARTED",
        "FINISHED",
        "REASON",
    ]
    assert lines[1].split()[:4] == ["2026-11-17T02:00:00Z", "after-extract", "Succeeded", "load-a1"]
    assert lines[3].split() == ["2026-11-17T02:06:00Z", "run-now", "Deferred"]
    wide = render.runs_text(load, wide=True).splitlines()
    assert wide[0].split()[-4:] == ["RUN-NOW", "KEY", "COALESCED", "MESSAGE"]
    assert wide[2].split()[-3:] == ["MaxInFlight", "3c1d", "4"]


def test_runs_of_a_one_shot_or_a_new_schedule() -> None:
    assert render.runs_text(batchjob("once")) == (
        "billing/once has no schedule nor triggers: it runs once (see `why`)"
    )
    assert render.runs_text(batchjob("new", spec=SCHEDULED_SPEC)) == "billing/new has no runs yet"


STALLED = [{"type": "Stalled", "status": "True", "reason": "LastRunFailed"}]


@pytest.mark.parametrize(
    ("status", "generation", "code"),
    [
        ({"phase": "Succeeded"}, 1, render.SUCCEEDED),
        ({"phase": "Failed"}, 1, render.FAILED),
        ({"phase": "Scheduled", "conditions": STALLED}, 1, render.FAILED),
        ({"phase": "Running"}, 1, None),
        ({"phase": "Queued"}, 1, None),
        ({"phase": "Scheduled"}, 1, None),
        ({"phase": "Succeeded"}, 2, None),  # the status has not seen the latest spec yet
        ({}, 1, None),
    ],
)
def test_verdict(status: dict[str, Any], generation: int, code: int | None) -> None:
    bj = batchjob("job", **status)
    bj["metadata"]["generation"] = generation
    assert render.verdict(bj) == code


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert render.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-1s", "1d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        render.parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45s"), (119, "119s"), (720, "12m"), (3600, "1h"), (12000, "3h20m"), (187200, "2d4h")],
)
def test_duration(seconds: int, text: str) -> None:
    assert render.duration(seconds) == text
