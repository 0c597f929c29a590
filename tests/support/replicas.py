"""Two operator replicas electing a leader on a Lease of their own: what the leader-election
tests and the tests of a leader change mid-run share."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.kube import wait_for
from tests.support.operator import OperatorProcess

# Within 15 s of the leader's death (the leader-election issue's requirement): the chart's
# defaults.
LEASE = {"BULKHEAD_LEASE_DURATION": "12", "BULKHEAD_RENEW_DEADLINE": "8"}


def replica_pair(work: Path, kubeconfig: Path) -> list[OperatorProcess]:
    """Two operator processes (not started) on a new Lease, each named after it."""
    lease = f"bulkhead-{uuid.uuid4().hex[:6]}"
    return [
        OperatorProcess(
            work,
            kubeconfig,
            env={
                "BULKHEAD_LEADER_ELECTION": "true",
                "BULKHEAD_LEASE_NAME": lease,
                "BULKHEAD_IDENTITY": f"{lease}-{name}",
                **LEASE,
            },
            name=f"{lease}-{name}",
        )
        for name in ("a", "b")
    ]


def leading(process: OperatorProcess) -> bool:
    return process.gauge("bulkhead_leader") == 1


def start_leader_then_standby(replicas: list[OperatorProcess]) -> tuple[OperatorProcess, ...]:
    """Starts the first replica and waits until it leads, then the second, which stands by."""
    first, second = replicas
    first.start()
    wait_for(lambda: leading(first), timeout=30, what="the first replica leading")
    second.start()
    assert not leading(second), "the second replica stands by"
    return first, second
