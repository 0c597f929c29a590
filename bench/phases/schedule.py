"""SCHEDULED_N scheduled BatchJobs whose runs are all due at one instant."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness.measure import process_cpu_seconds
from bench.harness.settings import SCHEDULED_N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_dependency, create_namespace
from tests.support.audit import Audit, percentiles


def run(pid: int, audit: Audit) -> dict[str, Any]:
    """SCHEDULED_N scheduled BatchJobs that all fire at one instant, against one Dependency that
    has room for all of them (so what is measured is the operator, not the budget's queue)."""
    namespace = "bench-schedule"
    create_namespace(namespace)
    create_dependency("bench-nightly-db", SCHEDULED_N)
    # one instant, at least 40 s away, so every BatchJob exists and has settled before it
    instant = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (instant - datetime.now(UTC)).total_seconds() < 40:
        instant += timedelta(minutes=1)
    schedule = f"{instant.minute} {instant.hour} * * *"
    uses = [{"dependency": "bench-nightly-db", "units": 1}]
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    bodies = [batchjob(f"night-{i}", schedule=schedule, uses=uses) for i in range(SCHEDULED_N)]
    create_all(namespace, bodies, "batchjobs")
    while (instant - datetime.now(UTC)).total_seconds() > 5:
        time.sleep(0.5)
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    at_instant = time.monotonic() + (instant - datetime.now(UTC)).total_seconds()
    batchjobs.wait(SCHEDULED_N, timeout=900)
    requests = audit.count(mark, audit.mark())
    cpu = process_cpu_seconds(pid) - cpu_before
    jobs.stop()
    batchjobs.stop()
    return {
        "scheduled_n": SCHEDULED_N,
        "instant_to_job_ms": percentiles(
            [(added - at_instant) * 1000 for added in jobs.added.values()]
        ),
        "scheduled_failed": len(batchjobs.failed),
        "mutating_requests_per_run": round(requests["mutating"] / SCHEDULED_N, 2),
        "schedule_operator_cpu_seconds": round(cpu, 2),
    }
