"""make bench: bulkhead on the local cluster, side by side with the API server's own limit.

One run, one fresh cluster (hack/cluster), the operator as a process under the chart's
ServiceAccount. Request counts come from the API server's audit log (the cluster logs the
bulkhead-system service accounts' requests), never from the operator's own counting.
Timestamps are the bench's own observations through watches, in milliseconds.

Phases (BENCH_PHASES selects some; one module each in bench/phases/): raw Jobs (the limit),
BatchJobs, an open loop (raw Jobs, then BatchJobs, arriving at BENCH_OPEN_RATE per second
for BENCH_OPEN_SECONDS, then at each lower rate of BENCH_OPEN_SWEEP),
BatchJobs through a Dependency of capacity 10, BENCH_ADMISSION_N (5 N) through one of
capacity 5 N / 25 (the admission rate, beside Kueue's baseline), N/2 scheduled BatchJobs
firing at one instant, CloudEvents through a cloudEvent trigger (BENCH_EVENTS_N sent as fast
as 16 threads can: events answered per second; then BENCH_EVENTS_RATE per second for
BENCH_EVENTS_SECONDS: event to Job latency), bulkhead beside Kueue (phase `peer`: Kueue as a
process, both systems through BENCH_PEER_N Jobs behind BENCH_PEER_N / 25 and
BENCH_PEER_LATENCY_N behind 10, BENCH_PEER_ROUNDS rounds; its own table), then BatchJobs at
rest and a restart. `make bench` prints progress as it goes.

BENCH_N (default 1000): BatchJobs per phase. BENCH_REST_N (default 10000): finished BatchJobs
for the memory-at-rest and restart phase. BENCH_OUT: where results go (default bench/results:
latest.json and latest.md, which the README links). BENCH_PROFILE: a file the operator's
cProfile profile is written to (the operator then runs under cProfile: slower, so never for
committed numbers). The harness the phases share is bench/harness/.
"""

from __future__ import annotations

import os
from typing import Any

import kubernetes

from bench.harness import log
from bench.harness.measure import Load
from bench.harness.results import machine, write
from bench.harness.settings import (
    ADMISSION_N,
    EVENTS_N,
    EVENTS_RATE,
    OPEN_RATE,
    OPEN_SECONDS,
    OUT,
    PEER_LATENCY_N,
    PEER_N,
    PEER_ROUNDS,
    PROFILE,
    REST_N,
    SCHEDULED_N,
    SELECTED,
    N,
)
from bench.phases import (
    admission,
    batchjobs,
    dependency,
    events,
    open_loop,
    peer,
    raw,
    rest,
    schedule,
)
from hack.cluster import Cluster
from hack.install import install
from tests.support.audit import Audit
from tests.support.operator import OperatorProcess


def main() -> None:
    """Runs the selected phases on a fresh cluster, writes the results to BENCH_OUT and
    prints their table; exits with an error when any BatchJob failed."""
    cluster = Cluster(f"bench-{os.getpid()}").up()
    os.environ.update(cluster.env())
    operator: OperatorProcess | None = None
    try:
        kubernetes.config.load_kube_config(str(cluster.kubeconfig))
        work = cluster.dir / "bench"
        work.mkdir(exist_ok=True)
        operator_kubeconfig = install(work / "operator-kubeconfig")
        audit = Audit(cluster.dir / "logs" / "audit.log")
        result: dict[str, Any] = {"n": N, "rest_n": REST_N}
        if "raw" in SELECTED:
            log(f"N={N}: raw Jobs")
            result.update(raw.run(Load(cluster)))
        operator = OperatorProcess(
            work, operator_kubeconfig, env={"BULKHEAD_LOG_LEVEL": "WARNING"}, profile=PROFILE
        )
        operator.start()
        assert operator.proc is not None
        pid = operator.proc.pid  # the same process until the last phase (rest) restarts it
        load = Load(cluster, operator)
        if "bulkhead" in SELECTED:
            log(f"N={N}: BatchJobs")
            result.update(batchjobs.run(pid, audit, load))
            if "raw_seconds" in result:
                result["ratio"] = round(result["raw_seconds"] / result["bulkhead_seconds"], 3)
        if "open" in SELECTED:
            log(f"open loop: raw Jobs, then BatchJobs, {OPEN_RATE:g}/s for {OPEN_SECONDS:g} s")
            result.update(open_loop.run(pid, audit, load))
        if "dependency" in SELECTED:
            log(f"N={N}: through a Dependency of capacity 10")
            result.update(dependency.run(audit))
        if "admission" in SELECTED:
            log(f"admission: {ADMISSION_N} BatchJobs through one Dependency")
            result.update(admission.run(pid, audit, load))
        if "fair" in SELECTED:
            log(f"fair: {ADMISSION_N} BatchJobs from 20 namespaces in 4 shares of one Dependency")
            result.update(admission.run(pid, audit, load, fair=True))
        if "schedule" in SELECTED:
            log(f"{SCHEDULED_N} scheduled BatchJobs firing at one instant")
            result.update(schedule.run(pid, audit))
        if "events" in SELECTED:
            log(f"{EVENTS_N} CloudEvents at once, then {EVENTS_RATE:g}/s")
            result.update(events.run(pid, audit, operator.events_port))
        if "peer" in SELECTED:
            log(
                f"peer: bulkhead and Kueue, {PEER_N} and {PEER_LATENCY_N} Jobs, "
                f"{PEER_ROUNDS} rounds"
            )
            result.update(peer.run(cluster, pid, audit, load))
        if "rest" in SELECTED:
            log(f"{REST_N} BatchJobs at rest, then a restart")
            result.update(rest.run(operator, audit))
        result["machine"] = machine(cluster.bin_dir)
    finally:
        if operator:
            operator.stop()
        cluster.down(purge=True)
    print(write(result, OUT))
    failed_keys = (
        "failed",
        "open_failed",
        "admission_failed",
        "fair_failed",
        "scheduled_failed",
        "events_failed",
        "events_steady_failed",
        "peer_failed",
    )
    failed = sum(result.get(k, 0) for k in failed_keys)
    if failed:
        raise SystemExit(f"{failed} BatchJobs (or the peer phase's Jobs) failed")


if __name__ == "__main__":
    main()
