"""Two operator replicas with leader election on a Lease: one decides, the other stands by and
takes over when the leader dies or stalls, with the budget kept and no run started twice.

Who wrote what is read from the API server's audit log (hack/cluster logs every request of
the bulkhead-system service accounts); each replica's user agent carries its identity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import all_phase, batchjob, dependency, unique
from tests.support.operator import OperatorProcess
from tests.support.replicas import leading, start_leader_then_standby
from tests.support.sampler import ActiveSampler

TAKEOVER_BOUND = 15.0
CAPACITY = 2
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass(frozen=True)
class Write:
    at: datetime
    verb: str
    resource: str
    name: str


def writes_of(audit_log: Path, identity: str) -> list[Write]:
    """Every write the API server received from the replica `identity`, oldest first."""
    found = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event["verb"] not in WRITES or f"({identity})" not in event.get("userAgent", ""):
            continue
        ref = event.get("objectRef") or {}
        found.append(
            Write(
                datetime.fromisoformat(event["requestReceivedTimestamp"]),
                event["verb"],
                ref.get("resource", ""),
                ref.get("name", ""),
            )
        )
    return sorted(found, key=lambda w: w.at)


def decisions(writes: list[Write]) -> list[Write]:
    """The writes that act on the cluster's work: all but the replica's own Lease."""
    return [w for w in writes if w.resource != "leases"]


@pytest.fixture
def audit_log(cluster) -> Path:
    path = getattr(cluster, "dir", None)
    if path is None:
        pytest.skip("needs the audit log of a cluster this session started")
    return Path(path) / "logs" / "audit.log"


def stream(namespace: str, dep: str, names: range) -> None:
    """BatchJobs that each hold one unit of `dep` for 3 s."""
    uses = [{"dependency": dep, "units": 1}]
    create([batchjob(f"bj-{i:02d}", delay="3s", uses=uses) for i in names], namespace)


def assert_each_ran_once(namespace: str, count: int) -> None:
    owners = sorted(
        j["metadata"]["labels"]["bulkhead.dev/batchjob"] for j in get("jobs", None, namespace)
    )
    assert owners == [f"bj-{i:02d}" for i in range(count)], "exactly one Job per BatchJob"


def stream_through_takeover(
    replicas: list[OperatorProcess],
    namespace: str,
    fault: Callable[[OperatorProcess], None],
    after_takeover: Callable[[OperatorProcess], None] = lambda leader: None,
) -> tuple[OperatorProcess, OperatorProcess]:
    """16 BatchJobs through a Dependency of CAPACITY; once three runs started, `fault` hits the
    leader and the standby must lead within TAKEOVER_BOUND; `after_takeover(old leader)` runs
    then. Checks what every takeover must keep (never above capacity, one Job per BatchJob,
    all Succeeded) and returns (old leader, new leader)."""
    dep = unique("db", namespace)
    create(dependency(dep, CAPACITY))
    leader, standby = start_leader_then_standby(replicas)
    sampler = ActiveSampler(namespace)
    sampler.start()
    try:
        stream(namespace, dep, range(0, 8))
        wait_for(lambda: len(sampler.first_seen) >= 3, timeout=60, what="runs before the fault")
        hit = time.monotonic()
        fault(leader)
        stream(namespace, dep, range(8, 16))
        wait_for(lambda: leading(standby), timeout=40, interval=0.1, what="the standby leading")
        takeover = time.monotonic() - hit
        after_takeover(leader)
        wait_for(lambda: all_phase(namespace, "Succeeded", 16), timeout=180, what="16 Succeeded")
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    print(f"takeover {takeover:.1f}s after the fault; peak {sampler.peak} in {sampler.samples}")
    # The bound: lease duration (12 s) + at most one retry period to see the last renewal.
    assert takeover <= TAKEOVER_BOUND
    assert sampler.samples > 50
    assert sampler.peak <= CAPACITY, f"saw {sampler.peak} active Jobs at once"
    assert_each_ran_once(namespace, 16)
    return leader, standby


def test_standby_takes_over_within_15s_of_the_leader_killed(replicas, namespace, audit_log):
    leader, standby = stream_through_takeover(replicas, namespace, OperatorProcess.kill)
    old, new = writes_of(audit_log, leader.name), writes_of(audit_log, standby.name)
    assert decisions(old), "the first leader decided"
    # The standby's first write is the Lease it took; nothing before, and its decisions came
    # after the last one of the dead leader.
    assert (new[0].resource, new[0].verb) == ("leases", "update")
    assert decisions(new)[0].at > decisions(old)[-1].at


def test_a_leader_that_cannot_renew_stops_deciding_and_exits(replicas, namespace, audit_log):
    def resume_and_exit(leader: OperatorProcess) -> None:
        # Resumed, the old leader finds its lease gone: it must not write and must exit.
        leader.resume()
        assert leader.proc is not None
        wait_for(lambda: leader.proc.poll() is not None, timeout=30, what="the old leader exit")

    # Frozen past its renew deadline and its lease: the standby takes over.
    leader, standby = stream_through_takeover(
        replicas, namespace, OperatorProcess.freeze, resume_and_exit
    )
    assert leader.proc is not None and leader.proc.returncode == 1
    old, new = (
        decisions(writes_of(audit_log, leader.name)),
        decisions(writes_of(audit_log, standby.name)),
    )
    assert old and new
    assert new[0].at > old[-1].at, "the two replicas never decided at the same time"


def test_the_standby_writes_nothing(replicas, namespace, audit_log):
    dep = unique("db", namespace)
    create(dependency(dep, CAPACITY))
    leader, standby = start_leader_then_standby(replicas)
    try:
        stream(namespace, dep, range(0, 4))
        wait_for(lambda: all_phase(namespace, "Succeeded", 4), timeout=120, what="4 Succeeded")
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")
    assert decisions(writes_of(audit_log, leader.name))
    assert writes_of(audit_log, standby.name) == []
    assert not leading(standby)
