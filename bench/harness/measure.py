"""What a phase measures besides its own timestamps and the audit log's request counts
(tests/support/audit.py): where the CPU went (Load) and a process's memory, read from /proc."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from tests.support.audit import percentiles
from tests.support.operator import OperatorProcess


def per(counts: dict[str, int], n: int) -> dict[str, float]:
    """Each count divided by n, rounded: requests per BatchJob by kind of request."""
    return {key: round(value / n, 2) for key, value in counts.items()}


def freed_to_next_ms(done: dict[str, float], added: dict[str, float], capacity: int) -> dict:
    """The p50 and p99 of the milliseconds from a unit freed to the next Job through a budget of
    `capacity`, given when each Job finished and first appeared: the k-th unit freed lets the
    (capacity + k)-th Job start."""
    freed = sorted(done.values())
    started = sorted(added.values())[capacity:]
    latencies = [(s - f) * 1000 for f, s in zip(freed, started, strict=False)]
    return {k: v for k, v in percentiles(latencies).items() if k in ("p50", "p99")}


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU-seconds a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Returns the resident memory of a process now, in MiB rounded to 0.1."""
    return _status_mib(pid, "VmRSS")


def peak_rss_mib(pid: int) -> float:
    """Returns the most resident memory a process has held, in MiB rounded to 0.1."""
    return _status_mib(pid, "VmHWM")


def reset_peak_rss(pid: int) -> None:
    """Sets a process's peak resident memory (VmHWM) to what it holds now (Linux 4.0+), so
    that peak_rss_mib tells the peak since this call: two processes started at different
    times measured over the same stretch."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_mib(pid: int, field_name: str) -> float:
    """A field of /proc/<pid>/status given in kB (0 when absent), in MiB rounded to 0.1."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def busy_cpu_seconds() -> float:
    """CPU-seconds the machine's cores have been busy since boot (all but idle and iowait)."""
    jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = jiffies[3] + jiffies[4]
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Load:
    """Where a phase's CPU went: each control-plane component (by the cluster's pids), the
    operator, other `processes` by name (Kueue), this harness (its creators and watches), and
    how busy the cores were. Shows whether a phase was limited by the machine, and what each
    BatchJob costs every part."""

    def __init__(
        self,
        cluster: Any,
        operator: OperatorProcess | None = None,
        processes: dict[str, int] | None = None,
    ) -> None:
        self.cluster, self.operator, self.processes = cluster, operator, processes or {}

    def mark(self) -> dict[str, float]:
        used = {comp: process_cpu_seconds(pid) for comp, pid in self.cluster.pids().items()}
        if self.operator and self.operator.proc:
            used["operator"] = process_cpu_seconds(self.operator.proc.pid)
        used |= {name: process_cpu_seconds(pid) for name, pid in self.processes.items()}
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
