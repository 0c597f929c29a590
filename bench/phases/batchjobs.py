"""A burst: N BatchJobs created at once, each run by the operator to the end."""

from __future__ import annotations

import time
from typing import Any

from bench.harness.measure import Load, peak_rss_mib, per, process_cpu_seconds
from bench.harness.settings import N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_namespace
from tests.support.audit import Audit, percentiles


def run(pid: int, audit: Audit, load: Load) -> dict[str, Any]:
    """Returns the seconds N BatchJobs took, the latencies create -> Job and Job done ->
    status, the operator's requests, CPU and peak memory per BatchJob."""
    namespace = "bench-bulkhead"
    create_namespace(namespace)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    cpu = load.mark()
    start = time.monotonic()
    created = create_all(namespace, [batchjob(f"bj-{i}") for i in range(N)], "batchjobs")
    end = batchjobs.wait(N, timeout=900)
    used = load.since(cpu, N)
    requests = audit.count(mark, audit.mark())
    jobs.wait(N, timeout=60)
    jobs.stop()
    batchjobs.stop()
    operator_cpu = process_cpu_seconds(pid) - cpu_before
    return {
        "bulkhead_seconds": round(end - start, 2),
        "failed": len(batchjobs.failed),
        "create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "job_to_status_ms": percentiles(
            [(batchjobs.done[n] - jobs.done[n]) * 1000 for n in created if n in jobs.done]
        ),
        "mutating_requests_per_batchjob": round(requests["mutating"] / N, 2),
        "mutating_per_batchjob_by_request": per(requests["by"], N),
        "requests_per_batchjob": round(requests["total"] / N, 2),
        "api_p99_ms_by_request": requests["p99_ms"],
        "cpu_ms_per_batchjob": used["cpu_ms"],
        "cores_busy": used["cores_busy"],
        "operator_cpu_seconds": round(operator_cpu, 2),
        "operator_cpu_ms_per_batchjob": round(operator_cpu * 1000 / N, 1),
        "operator_peak_rss_mib": peak_rss_mib(pid),
    }
