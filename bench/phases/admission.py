"""A large queue: ADMISSION_N BatchJobs waiting on one Dependency, to set the operator's
admission rate and cost beside Kueue's scheduler baseline."""

from __future__ import annotations

import time
from typing import Any

from bench.harness.measure import Load, peak_rss_mib, process_cpu_seconds
from bench.harness.settings import ADMISSION_N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_dependency, create_namespace
from tests.support.audit import Audit, percentiles


def run(pid: int, audit: Audit, load: Load) -> dict[str, Any]:
    """ADMISSION_N BatchJobs created at once, waiting on a Dependency of capacity
    ADMISSION_N / 25 (5,000 through 200 at N=1000): admissions per second, and what the
    operator spends on them, to set beside Kueue's scheduler baseline (not one run: see README)."""
    namespace = "bench-admission"
    capacity = max(ADMISSION_N // 25, 2)
    create_namespace(namespace)
    create_dependency("bench-admission-db", capacity)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    uses = [{"dependency": "bench-admission-db", "units": 1}]
    # Runs removed once finished (the TTL controller), so 5,000 Jobs and pods do not stay on
    # the 2-core control plane through the later phases.
    extra = {"uses": uses, "ttlSecondsAfterFinished": 0}
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    machine_cpu = load.mark()
    start = time.monotonic()
    bodies = [batchjob(f"adm-{i}", **extra) for i in range(ADMISSION_N)]
    created = create_all(namespace, bodies, "batchjobs")
    end = batchjobs.wait(ADMISSION_N, timeout=3600)
    wall = end - start
    cpu = process_cpu_seconds(pid) - cpu_before
    used = load.since(machine_cpu, ADMISSION_N)
    requests = audit.count(mark, audit.mark())
    jobs.stop()
    batchjobs.stop()
    return {
        "admission_n": ADMISSION_N,
        "admission_capacity": capacity,
        "admission_seconds": round(wall, 1),
        "admission_admissions_per_second": round(
            ADMISSION_N / (max(jobs.added.values()) - start), 1
        ),
        "admission_create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "admission_operator_mcpu": round(cpu * 1000 / wall),
        "admission_operator_cpu_ms_per_admission": round(cpu * 1000 / ADMISSION_N, 2),
        "admission_mutating_requests_per_batchjob": round(requests["mutating"] / ADMISSION_N, 2),
        "admission_failed": len(batchjobs.failed),
        "admission_operator_peak_rss_mib": peak_rss_mib(pid),
        "admission_cpu_ms_per_admission": used["cpu_ms"],
        "admission_cores_busy": used["cores_busy"],
    }
