"""policy/concurrency.py: a run due while another is active or waiting (Allow, Forbid, Queue,
Replace), one look of `plan` compared whole."""

from __future__ import annotations

from typing import Any

import pytest
from bulkhead.api.constants import (
    CONCURRENCY_FORBID,
    QUEUE_FULL,
    REPLACED,
    WAITING_FOR_ACTIVE_RUN,
)

from tests.support.runs_factories import deferred, iso, job, plan, running, summary


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


def test_run_now_is_forbidden_while_a_run_is_active_under_forbid() -> None:
    p = plan([running(0)], [job(0)], now=5, run_now="m")
    assert [(r.result, r.reason) for r in p.runs] == [
        ("Running", "Running"),
        ("Missed", CONCURRENCY_FORBID),
    ]
    assert p.run_now == "m"
