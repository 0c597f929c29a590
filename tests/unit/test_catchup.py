"""policy/catchup.py: which instants get a run, and catchUp after downtime or a suspension,
saying what it did."""

from __future__ import annotations

import pytest
from bulkhead.api.batchjob import BatchJobStatus, Run
from bulkhead.api.constants import (
    NOT_CAUGHT_UP,
    SUSPENDED,
    WAITING_TO_START,
)
from bulkhead.policy import runs

from tests.support.runs_factories import deferred, iso, job, plan, spec, summary


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
