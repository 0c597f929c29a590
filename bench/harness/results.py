"""A run's results: the machine it ran on, the table of every figure beside issue 12's
targets (and the peer phase's table, bulkhead beside Kueue), and the files written to
BENCH_OUT (latest.json, latest.md). The README links bench/results/latest.md; nothing rewrites
the README."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

import kopf

TARGETS = {  # issue 12's
    "ratio": ">= 0.85",
    "open_create_to_job_ms": "p99 <= 1000",
    "open_job_to_status_ms": "p99 <= 1000",
    "mutating_requests_per_batchjob": "<= 4",
    "dependency_mutating_requests_per_batchjob": "<= 5",
    "operator_cpu_ms_per_batchjob": "<= 5",
    "dependency_freed_to_next_ms": "p99 <= 250",
    "operator_peak_rss_mib": "<= 100",
    "rss_10k_at_rest_mib": "<= 200",
    "restart_10k_seconds": "<= 10",
    "restart_10k_writes": "0",
}


def machine(bin_dir: Path) -> dict[str, Any]:
    """Returns the machine's cores, memory and CPU model, and the versions of Python, kopf
    and the control plane's binaries in bin_dir."""

    def version(*cmd: str) -> str:
        result = subprocess.run(cmd, capture_output=True, text=True)
        return (result.stdout or result.stderr).strip().splitlines()[0]

    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "python": platform.python_version(),
        "kopf": getattr(kopf, "__version__", "?"),
        "kubernetes": version(str(bin_dir / "kube-apiserver"), "--version"),
        "etcd": version(str(bin_dir / "etcd"), "--version"),
        "kwok": version(str(bin_dir / "kwok"), "--version"),
    }


def table(result: dict[str, Any]) -> str:
    """Returns the Markdown table of result (a row per figure, in the order measured, with
    its target) and a line on the machine."""
    rows = ["| metric | value | target |", "|---|---|---|"]
    for key, value in result.items():
        if key in ("machine", "peer"):
            continue
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        rows.append(f"| {key} | {shown} | {TARGETS.get(key, '')} |")
    m = result["machine"]
    rows.append("")
    rows.append(
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; {m['kubernetes']}, "
        f"{m['etcd'].split(':')[-1].strip() if ':' in m['etcd'] else m['etcd']}, kwok "
        f"{m['kwok']}, Python {m['python']}. N = {result['n']}, "
        f"{result['rest_n']} BatchJobs at rest."
    )
    if "peer" in result:
        rows += ["", peer_table(result["peer"])]
    return "\n".join(rows) + "\n"


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over runs of the same shape, nested dicts key by key; a key
    that a run lacks counts 0 there (a request it did not make)."""
    keys = list(dict.fromkeys(k for figures in runs for k in figures))
    result: dict[str, Any] = {}
    for key in keys:
        values = [figures.get(key) for figures in runs]
        if any(isinstance(v, dict) for v in values):
            result[key] = medians([v or {} for v in values])
        else:
            result[key] = round(statistics.median(v or 0 for v in values), 2)
    return result


# The peer phase's rows: label (its workload's Jobs and capacity filled in), workload, figure.
PEER_ROWS = (
    ("admissions per second", "big", ("admissions_per_second",)),
    ("create to start p50 ms", "latency", ("create_to_start_ms", "p50")),
    ("create to start p99 ms", "latency", ("create_to_start_ms", "p99")),
    ("freed to next p99 ms", "latency", ("freed_to_next_ms", "p99")),
    ("controller CPU ms per Job", "big", ("controller_cpu_ms_per_job",)),
    ("controller CPU ms per Job", "latency", ("controller_cpu_ms_per_job",)),
    ("controller peak RSS MiB", "big", ("controller_peak_rss_mib",)),
    ("API writes per Job", "big", ("writes_per_job",)),
    ("API writes per Job, by request", "big", ("writes_per_job_by_request",)),
    ("API writes per Job", "latency", ("writes_per_job",)),
    ("machine CPU ms per Job", "big", ("cpu_ms_per_job", "all")),
    ("API server CPU ms per Job", "big", ("cpu_ms_per_job", "kube-apiserver")),
    # each controller in every run: what the other system's Jobs cost a bystander
    ("bulkhead operator CPU ms per Job", "big", ("cpu_ms_per_job", "operator")),
    ("Kueue CPU ms per Job", "big", ("cpu_ms_per_job", "kueue")),
    ("machine CPU ms per Job", "latency", ("cpu_ms_per_job", "all")),
    ("cores busy", "big", ("cores_busy",)),
    ("seconds", "big", ("seconds",)),
    ("seconds", "latency", ("seconds",)),
)


def peer_table(peer: dict[str, Any]) -> str:
    """The peer phase's Markdown table: a row per figure, bulkhead beside Kueue, each the
    median of the rounds with every round's value in brackets; then each controller's
    memory over the phase."""
    systems = peer["systems"]

    def at(figures: dict[str, Any], path: tuple[str, ...]) -> Any:
        for key in path:
            figures = figures.get(key, {}) if isinstance(figures, dict) else {}
        return figures

    def shown(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        return str(value)

    rows = [
        f"Peer phase: medians of {peer['rounds']} rounds [each round]",
        "",
        "| metric | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for label, workload, path in PEER_ROWS:
        n, capacity = peer["workloads"][workload]
        cells = []
        for system in systems:
            median = shown(at(systems[system]["median"], (workload, *path)))
            if path == ("writes_per_job_by_request",):  # too wide for every round's
                cells.append(median)
                continue
            runs = systems[system]["runs"]
            each = ", ".join(shown(at(figures, (workload, *path))) for figures in runs)
            cells.append(f"{median} [{each}]")
        rows.append(f"| {label}, {n} behind {capacity} | " + " | ".join(cells) + " |")
    rss = [systems[s]["rss_mib"] for s in systems]
    cells = [f"{r['start']} -> {r['end']}, peak {r['peak']}" for r in rss]
    rows.append("| RSS MiB at the phase's start -> end, peak | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write(result: dict[str, Any], out: Path) -> str:
    """Writes result to out/latest.json and its table to out/latest.md; returns the table."""
    out.mkdir(parents=True, exist_ok=True)
    text = table(result)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latest.md").write_text(text)
    return text
