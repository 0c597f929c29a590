"""What a phase measures besides its own timestamps: where the CPU went (Load), the
operator's requests from the API server's audit log (Audit), and percentiles of latencies."""

from __future__ import annotations

import json
import os
import resource
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness.settings import MUTATING, OPERATOR_USER

if TYPE_CHECKING:
    from harness.operator_process import Operator


def per(counts: dict[str, int], n: int) -> dict[str, float]:
    """Each count divided by n, rounded: requests per BatchJob by kind of request."""
    return {key: round(value / n, 2) for key, value in counts.items()}


def percentiles(values: list[float]) -> dict[str, float]:
    """Returns {"p50", "p95", "p99"} of values, rounded to 0.1 (NaN for none)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU-seconds a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU-seconds the machine's cores have been busy since boot (all but idle and iowait)."""
    jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = jiffies[3] + jiffies[4]
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Load:
    """Where a phase's CPU went: each control-plane component (by the cluster's pids), the
    operator, this harness (its creators and watches), and how busy the cores were. Shows
    whether a phase was limited by the machine, and what each BatchJob costs every part."""

    def __init__(self, cluster: Any, operator: Operator | None = None) -> None:
        self.cluster, self.operator = cluster, operator

    def mark(self) -> dict[str, float]:
        used = {comp: process_cpu_seconds(pid) for comp, pid in self.cluster.pids().items()}
        if self.operator and self.operator.proc:
            used["operator"] = process_cpu_seconds(self.operator.proc.pid)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used["harness"] = usage.ru_utime + usage.ru_stime
        used["busy"] = busy_cpu_seconds()
        used["wall"] = time.monotonic()
        return used

    def since(self, mark: dict[str, float], n: int) -> dict[str, Any]:
        """{"cpu_ms": {part: ms per object, ..., "all": ms per object}, "cores_busy": mean}."""
        now = self.mark()
        parts = [k for k in mark if k not in ("busy", "wall") and k in now]
        per_object = {k: round((now[k] - mark[k]) * 1000 / n, 2) for k in parts}
        busy = now["busy"] - mark["busy"]
        per_object["all"] = round(busy * 1000 / n, 2)
        return {
            "cpu_ms": per_object,
            "cores_busy": round(busy / (now["wall"] - mark["wall"]), 2),
        }


class Audit:
    """The operator's requests, read from the API server's audit log between two marks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        time.sleep(1.0)  # let requests in flight land in the log
        return self.path.stat().st_size if self.path.exists() else 0

    def count(self, start: int, end: int) -> dict[str, Any]:
        """{"mutating": n, "total": n, "by": {"patch batchjobs/status": n, ...}, "p99_ms":
        {"patch batchjobs/status": ms, ...}}: the operator's requests between two marks, the
        mutating ones by verb and resource, and their p99 latency inside the API server
        (received to response complete)."""
        counts: dict[str, Any] = {"mutating": 0, "total": 0, "by": Counter()}
        latencies: dict[str, list[float]] = {}
        with open(self.path, "rb") as handle:
            handle.seek(start)
            for line in handle.read(end - start).splitlines():
                event = json.loads(line)
                if event.get("stage") != "ResponseComplete":
                    continue
                if event.get("user", {}).get("username") != OPERATOR_USER:
                    continue
                counts["total"] += 1
                if event.get("verb") in MUTATING:
                    counts["mutating"] += 1
                    ref = event.get("objectRef", {})
                    resource = ref.get("resource", "?") + (
                        f"/{ref['subresource']}" if ref.get("subresource") else ""
                    )
                    request = f"{event['verb']} {resource}"
                    counts["by"][request] += 1
                    latencies.setdefault(request, []).append(
                        _seconds_between(event["requestReceivedTimestamp"], event["stageTimestamp"])
                        * 1000
                    )
        counts["by"] = dict(counts["by"].most_common())
        counts["p99_ms"] = {k: percentiles(latencies[k])["p99"] for k in counts["by"]}
        return counts


def _seconds_between(start: str, end: str) -> float:
    """Seconds between two of the audit log's RFC 3339 timestamps (microseconds)."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
