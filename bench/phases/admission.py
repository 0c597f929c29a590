"""A large queue: ADMISSION_N BatchJobs waiting on one Dependency, to set the operator's
admission rate and cost beside Kueue's scheduler baseline; and the same queue from 20
namespaces in 4 shares of a fair-shared Dependency (phase `fair`), to set fair sharing's cost
beside the single line's."""

from __future__ import annotations

import time
from typing import Any

from bench.harness.measure import Load, freed_to_next_ms, peak_rss_mib, process_cpu_seconds
from bench.harness.settings import ADMISSION_N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_dependency, create_namespace
from tests.support.audit import Audit, percentiles

FAIR_NAMESPACES = 20
FAIR_SHARES = 4


def run(pid: int, audit: Audit, load: Load, fair: bool = False) -> dict[str, Any]:
    """ADMISSION_N BatchJobs created at once, waiting on a Dependency of capacity
    ADMISSION_N / 25 (5,000 through 200 at N=1000): admissions per second, the latency from a
    unit freed to the next start, and what the operator spends on them, to set beside Kueue's
    scheduler baseline (not one run: see docs/benchmark.md). With `fair`, the BatchJobs come
    from FAIR_NAMESPACES namespaces in FAIR_SHARES shares (weights 1 to 4) of the Dependency's
    fairSharing, round robin, and the results' keys start with fair_ instead of admission_."""
    key = "fair" if fair else "admission"
    capacity = max(ADMISSION_N // 25, 2)
    dep = f"bench-{key}-db"
    spec: dict[str, Any] = {}
    if fair:
        namespaces = [f"bench-fair-{i:02d}" for i in range(FAIR_NAMESPACES)]
        spec["fairSharing"] = {
            "shares": [
                {
                    "name": f"team-{s}",
                    "weight": s + 1,
                    "namespaceSelector": {"matchLabels": {"bench.bulkhead.dev/team": str(s)}},
                }
                for s in range(FAIR_SHARES)
            ]
        }
        for i, namespace in enumerate(namespaces):
            create_namespace(namespace, {"bench.bulkhead.dev/team": str(i % FAIR_SHARES)})
        jobs = Watcher("bench-fair-", "jobs", prefix=True)
        batchjobs = Watcher("bench-fair-", "batchjobs", prefix=True)
    else:
        namespaces = ["bench-admission"]
        create_namespace(namespaces[0])
        jobs, batchjobs = Watcher(namespaces[0], "jobs"), Watcher(namespaces[0], "batchjobs")
    create_dependency(dep, capacity, **spec)
    uses = [{"dependency": dep, "units": 1}]
    # Runs removed once finished (the TTL controller), so 5,000 Jobs and pods do not stay on
    # the 2-core control plane through the later phases.
    extra = {"uses": uses, "ttlSecondsAfterFinished": 0}
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    machine_cpu = load.mark()
    start = time.monotonic()
    created: dict[str, float] = {}
    for at, namespace in enumerate(namespaces):
        bodies = [batchjob(f"adm-{i}", **extra) for i in range(at, ADMISSION_N, len(namespaces))]
        created |= create_all(namespace, bodies, "batchjobs")
    end = batchjobs.wait(ADMISSION_N, timeout=3600)
    wall = end - start
    cpu = process_cpu_seconds(pid) - cpu_before
    used = load.since(machine_cpu, ADMISSION_N)
    requests = audit.count(mark, audit.mark())
    jobs.stop()
    batchjobs.stop()
    figures = {
        "n": ADMISSION_N,
        "capacity": capacity,
        "seconds": round(wall, 1),
        "admissions_per_second": round(ADMISSION_N / (max(jobs.added.values()) - start), 1),
        "create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "freed_to_next_ms": freed_to_next_ms(jobs.done, jobs.added, capacity),
        "operator_mcpu": round(cpu * 1000 / wall),
        "operator_cpu_ms_per_admission": round(cpu * 1000 / ADMISSION_N, 2),
        "mutating_requests_per_batchjob": round(requests["mutating"] / ADMISSION_N, 2),
        "failed": len(batchjobs.failed),
        "operator_peak_rss_mib": peak_rss_mib(pid),
        "cpu_ms_per_admission": used["cpu_ms"],
        "cores_busy": used["cores_busy"],
    }
    return {f"{key}_{name}": value for name, value in figures.items()}
