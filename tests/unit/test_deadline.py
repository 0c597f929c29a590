"""policy/deadline.py: startingDeadlineSeconds bounds how late a run may start."""

from __future__ import annotations

from bulkhead.api.constants import (
    STARTING_DEADLINE,
)

from tests.support.runs_factories import deferred, missed, plan


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
