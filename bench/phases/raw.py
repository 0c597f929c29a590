"""The limit: plain Jobs of the same pod shape, created as fast as the server takes them,
before the operator runs."""

from __future__ import annotations

import time
from typing import Any

from bench.harness.measure import Load
from bench.harness.settings import N
from bench.harness.watch import Watcher
from bench.harness.workload import create_all, create_namespace, raw_job


def run(load: Load) -> dict[str, Any]:
    """Returns the seconds N plain Jobs took from the first create until the last finished,
    and the CPU each cost every part of the machine."""
    namespace = "bench-raw"
    create_namespace(namespace)
    bodies = [raw_job(f"raw-{i}", namespace) for i in range(N)]
    jobs = Watcher(namespace, "jobs")
    cpu = load.mark()
    start = time.monotonic()
    create_all(namespace, bodies, "jobs")
    end = jobs.wait(N, timeout=600)
    used = load.since(cpu, N)
    jobs.stop()
    return {
        "raw_seconds": round(end - start, 2),
        "raw_cpu_ms_per_job": used["cpu_ms"],
        "raw_cores_busy": used["cores_busy"],
    }
