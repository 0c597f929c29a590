"""REST_N finished BatchJobs: the operator's memory at rest, then what a restart costs."""

from __future__ import annotations

import time
from typing import Any

import kubernetes

from bench.harness.measure import rss_mib
from bench.harness.settings import REST_N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_namespace
from tests.support.audit import Audit
from tests.support.operator import OperatorProcess


def batchjobs_on_cluster() -> int:
    """Returns how many BatchJobs the cluster holds, in every namespace."""
    listed = kubernetes.client.CustomObjectsApi().list_cluster_custom_object(
        "bulkhead.dev", "v1alpha1", "batchjobs"
    )
    return len(listed["items"])


def run(operator: OperatorProcess, audit: Audit) -> dict[str, Any]:
    """REST_N finished BatchJobs: memory at rest, and what a restart costs. The earlier phases'
    BatchJobs stay and count (all finished by now); new ones make up the rest."""
    namespace = "bench-rest"
    create_namespace(namespace)
    batchjobs = Watcher(namespace, "batchjobs")
    added = max(REST_N - batchjobs_on_cluster(), 0)
    bodies = [batchjob(f"rest-{i}", ttlSecondsAfterFinished=0) for i in range(added)]
    create_all(namespace, bodies, "batchjobs")
    if added:
        batchjobs.wait(added, timeout=3600)
    batchjobs.stop()
    time.sleep(10)  # the TTL controller removes the Jobs; the operator settles
    assert operator.proc is not None, "run.py started it"
    rss = rss_mib(operator.proc.pid)
    operator.stop()
    reconciled_target = batchjobs_on_cluster()  # each is reconciled once after the restart
    mark = audit.mark()
    started = operator.start()
    deadline = started + 600
    while operator.gauge("bulkhead_reconciles_total") < reconciled_target:
        if time.monotonic() > deadline:
            raise TimeoutError("the restarted operator did not reconcile everything in 600s")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    time.sleep(5)  # anything it would still write lands now
    writes = audit.count(mark, audit.mark())["mutating"]
    return {
        "at_rest_batchjobs": reconciled_target,
        "rss_10k_at_rest_mib": rss,  # the process that ran every phase
        "rss_after_restart_mib": rss_mib(operator.proc.pid),  # a fresh one holding the same objects
        "restart_10k_seconds": round(seconds, 2),
        "restart_10k_writes": writes,
    }
