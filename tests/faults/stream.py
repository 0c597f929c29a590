"""A stream of BatchJobs through a Dependency of small capacity, with a fault injected in the
middle, and the checks every fault test makes afterwards."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.audit import Audit
from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import all_phase, batchjob, dependency, unique
from tests.support.operator import OperatorProcess
from tests.support.sampler import ActiveSampler

# The fault tier's operator runs with these watch timeouts (seconds), short enough that the
# freezes in the tests (15 s) outlast both.
WATCH_SERVER_TIMEOUT = 5
WATCH_CLIENT_TIMEOUT = 8


@dataclass
class Stream:
    """What a run of the stream saw: the sampler, and seconds from the end of the fault to
    the first Job created after it and to the last BatchJob Succeeded."""

    dependency: str
    names: list[str]
    sampler: ActiveSampler
    first_admission: float = 0.0
    all_done: float = 0.0
    writes: int = 0
    requests: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_stream(
    cluster: Any,
    operator: OperatorProcess,
    namespace: str,
    fault: Callable[[Stream], None],
    *,
    count: int = 12,
    capacity: int = 2,
    delay: str = "3s",
    fault_after: int = 4,
    timeout: float = 180,
) -> Stream:
    """Creates a Dependency of `capacity` and `count` BatchJobs using one unit each (pods
    running `delay`), calls `fault(stream)` once `fault_after` of their Jobs exist, and waits
    until every BatchJob that still exists has Succeeded. Returns what it measured."""
    audit = Audit(cluster.dir / "logs" / "audit.log")
    dep = unique("db", namespace)
    create(dependency(dep, capacity))
    names = [f"bj-{i:02d}" for i in range(count)]
    sampler = ActiveSampler(namespace)
    stream = Stream(dep, names, sampler)
    mark = audit.mark()
    sampler.start()
    try:
        create(
            [batchjob(n, delay=delay, uses=[{"dependency": dep, "units": 1}]) for n in names],
            namespace,
        )
        wait_for(
            lambda: len(sampler.first_seen) >= fault_after,
            timeout=60,
            what=f"{fault_after} Jobs before the fault",
        )
        fault(stream)
        ended = time.monotonic()
        seen = len(sampler.first_seen)
        if seen < len(stream.names):
            wait_for(
                lambda: len(sampler.first_seen) > seen,
                timeout=timeout,
                what="a Job created after the fault",
            )
            stream.first_admission = round(time.monotonic() - ended, 1)
        wait_for(
            lambda: all_phase(namespace, "Succeeded", len(stream.names)),
            timeout=timeout,
            what=f"{len(stream.names)} Succeeded",
        )
        stream.all_done = round(time.monotonic() - ended, 1)
    finally:
        sampler.stop()
    counts = audit.count(mark, audit.mark())
    stream.writes, stream.requests = counts["mutating"], counts["total"]
    return stream


def check_stream(stream: Stream, operator: OperatorProcess, namespace: str, pid: int) -> None:
    """Never above capacity (and the budget used fully), then `check_outcome`."""
    capacity = get("dependency", stream.dependency)["spec"]["capacity"]
    assert stream.sampler.peak <= capacity, f"{stream.sampler.peak} Jobs active at once"
    assert stream.sampler.peak == capacity, "the budget was never used fully"
    check_outcome(stream.dependency, stream.names, operator, namespace, pid)


def check_outcome(
    dep: str, names: list[str], operator: OperatorProcess, namespace: str, pid: int
) -> None:
    """Exactly one Job per BatchJob in `names` (controlled by it) and no other, no unit of
    `dep` held at the end, and the operator the same process `pid`, alive and healthy; then
    the Dependency is deleted."""
    jobs = get("jobs", namespace=namespace)
    owners = Counter(
        ref["name"]
        for job in jobs
        for ref in job["metadata"].get("ownerReferences") or []
        if ref.get("controller") and ref["kind"] == "BatchJob"
    )
    assert owners == Counter(names), "exactly one Job per BatchJob"
    wait_for(
        lambda: (get("dependency", dep).get("status") or {}).get("inUse") == 0,
        timeout=30,
        what=f"Dependency {dep} inUse=0",
    )
    assert (get("dependency", dep)["status"].get("holders") or []) == []
    assert operator.proc is not None and operator.proc.poll() is None, "the operator exited"
    assert operator.proc.pid == pid and operator.starts == 1, "the operator was restarted"
    assert operator.health() == 200, "the liveness check fails"
    kubectl("delete", "dependency", dep, "--wait=false")
