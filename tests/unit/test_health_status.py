"""health_status: why waiting BatchJobs wait because of a Dependency's health."""

from __future__ import annotations

from dataclasses import replace

import pytest
from bulkhead.policy.health_state import LoopState, Probe, Step
from bulkhead.policy.health_status import readings_text, waiting_message

from tests.support.health_factories import HALF_OPEN, HEALTHY, OPEN, PROBE, T0, at, p99

WAITING_CASES = [
    ("closed at capacity", HEALTHY, 12, None),
    ("throttled", replace(HEALTHY, limit=8), 8,
     "waiting for orders-db: effective capacity 8 of 12 (p99 0.31)"),
    ("open", replace(OPEN, opened_at=at(4), open_until=at(124)), 0,
     "waiting for orders-db: circuit open since 12:00:04 (p99 0.31), half-open at 12:02:04"),
    ("half-open", HALF_OPEN, 0,
     "waiting for orders-db: circuit half-open, one probe run may start"),
    ("probing", replace(HALF_OPEN, probe=Probe(PROBE, T0)), 0,
     "waiting for orders-db: circuit half-open, probe billing/nightly-invoices running"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "effective", "message"),
    [case[1:] for case in WAITING_CASES],
    ids=[case[0] for case in WAITING_CASES],
)
def test_waiting_batchjobs_say_why_health_holds_them(
    state: LoopState, effective: int, message: str | None
) -> None:
    result = Step(state, effective, effective, available=True, lost=False)
    values = readings_text(p99(0.31))
    assert waiting_message("orders-db", result, 12, values) == message


@pytest.mark.parametrize("state", [replace(HEALTHY, limit=8), OPEN], ids=["throttled", "open"])
def test_dry_run_holds_no_batchjob_back(state: LoopState) -> None:
    result = Step(state, 0 if state == OPEN else 8, 12, available=True, lost=False)
    assert waiting_message("orders-db", result, 12, "p99 0.31") is None
