"""An open loop: raw Jobs, then BatchJobs, arriving at a fixed rate, at OPEN_RATE and at each
lower rate of OPEN_SWEEP."""

from __future__ import annotations

from typing import Any

from bench.harness import log
from bench.harness.measure import Load, process_cpu_seconds
from bench.harness.settings import OPEN_RATE, OPEN_SECONDS, OPEN_SWEEP
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_all, create_namespace, raw_job
from tests.support.audit import Audit, percentiles


def one_rate(pid: int, audit: Audit, load: Load, rate: float) -> dict[str, Any]:
    """Raw Jobs, then BatchJobs, each arriving at `rate` per second for OPEN_SECONDS: the
    latency a steady stream sees, not a burst's queue, beside what the same stream of plain
    Jobs sees on the same cluster (the limit)."""
    count = max(int(rate * OPEN_SECONDS), 1)
    tag = f"{rate:g}".replace(".", "-")
    raw_namespace, namespace = f"bench-open-raw-{tag}", f"bench-open-{tag}"
    create_namespace(raw_namespace)
    create_namespace(namespace)
    raw_jobs = Watcher(raw_namespace, "jobs")
    bodies = [raw_job(f"open-raw-{i}", raw_namespace) for i in range(count)]
    raw_cpu = load.mark()
    raw_created = create_all(raw_namespace, bodies, "jobs", rate)
    raw_jobs.wait(count, timeout=600)
    raw_used = load.since(raw_cpu, count)
    raw_jobs.stop()
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    cpu = load.mark()
    bodies = [batchjob(f"open-{i}") for i in range(count)]
    created = create_all(namespace, bodies, "batchjobs", rate)
    batchjobs.wait(count, timeout=600)
    used = load.since(cpu, count)
    requests = audit.count(mark, audit.mark())
    operator_cpu = process_cpu_seconds(pid) - cpu_before
    jobs.stop()
    batchjobs.stop()
    return {
        "n": count,
        "create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "job_to_status_ms": percentiles(
            [(batchjobs.done[n] - jobs.done[n]) * 1000 for n in created if n in jobs.done]
        ),
        "create_to_done_ms": percentiles(
            [(batchjobs.done[n] - created[n]) * 1000 for n in created if n in batchjobs.done]
        ),
        "raw_create_to_done_ms": percentiles(
            [(raw_jobs.done[n] - raw_created[n]) * 1000 for n in raw_created if n in raw_jobs.done]
        ),
        "failed": len(batchjobs.failed),
        "mutating_requests_per_batchjob": round(requests["mutating"] / count, 2),
        "operator_cpu_ms_per_batchjob": round(operator_cpu * 1000 / count, 1),
        "raw_cores_busy": raw_used["cores_busy"],
        "cores_busy": used["cores_busy"],
    }


def run(pid: int, audit: Audit, load: Load) -> dict[str, Any]:
    """The open loop at OPEN_RATE (the target's rate), then at each lower rate of OPEN_SWEEP:
    where on this machine plain Jobs, and BatchJobs, still hold their p99."""
    loops = {OPEN_RATE: one_rate(pid, audit, load, OPEN_RATE)}
    for rate in sorted({r for r in OPEN_SWEEP if r != OPEN_RATE}, reverse=True):
        log(f"  open loop at {rate:g}/s")
        loops[rate] = one_rate(pid, audit, load, rate)
    target = loops[OPEN_RATE]
    result = {
        "open_n": target["n"],
        "open_create_to_job_ms": target["create_to_job_ms"],
        "open_job_to_status_ms": target["job_to_status_ms"],
        "open_create_to_done_ms": target["create_to_done_ms"],
        "open_raw_create_to_done_ms": target["raw_create_to_done_ms"],
        "open_failed": sum(loop["failed"] for loop in loops.values()),
        "open_mutating_requests_per_batchjob": target["mutating_requests_per_batchjob"],
        "open_operator_cpu_ms_per_batchjob": target["operator_cpu_ms_per_batchjob"],
    }
    if len(loops) > 1:
        by_rate = sorted(loops.items())

        def p99(what: str) -> dict[str, float]:
            return {f"{rate:g}/s": loop[what]["p99"] for rate, loop in by_rate}

        result["open_by_rate_create_to_job_p99_ms"] = p99("create_to_job_ms")
        result["open_by_rate_job_to_status_p99_ms"] = p99("job_to_status_ms")
        result["open_by_rate_create_to_done_p99_ms"] = p99("create_to_done_ms")
        result["open_by_rate_raw_create_to_done_p99_ms"] = p99("raw_create_to_done_ms")
        result["open_by_rate_cores_busy"] = {
            f"{rate:g}/s": f"raw {loop['raw_cores_busy']}, bulkhead {loop['cores_busy']}"
            for rate, loop in by_rate
        }
    return result
