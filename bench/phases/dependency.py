"""N BatchJobs through a Dependency of capacity 10: how fast a freed unit starts the next."""

from __future__ import annotations

import time
from typing import Any

from bench.harness.measure import freed_to_next_ms, per
from bench.harness.settings import N
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_dependency, create_namespace
from tests.support.audit import Audit


def run(audit: Audit, capacity: int = 10) -> dict[str, Any]:
    """Returns the seconds N BatchJobs took through a Dependency of `capacity`, admissions
    per second, the operator's requests, and the latency from a unit freed to the next Job."""
    namespace = "bench-dependency"
    create_namespace(namespace)
    create_dependency("bench-db", capacity)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    uses = [{"dependency": "bench-db", "units": 1}]
    mark = audit.mark()
    start = time.monotonic()
    create_all(namespace, [batchjob(f"dep-{i}", uses=uses) for i in range(N)], "batchjobs")
    end = batchjobs.wait(N, timeout=1800)
    requests = audit.count(mark, audit.mark())
    jobs.stop()
    batchjobs.stop()
    return {
        "dependency_seconds": round(end - start, 2),
        "admissions_per_second": round(N / (max(jobs.added.values()) - start), 1),
        "dependency_mutating_requests_per_batchjob": round(requests["mutating"] / N, 2),
        "dependency_mutating_per_batchjob_by_request": per(requests["by"], N),
        "dependency_api_p99_ms_by_request": requests["p99_ms"],
        "dependency_freed_to_next_ms": freed_to_next_ms(jobs.done, jobs.added, capacity),
    }
