"""A run's results: the machine it ran on, the table of every figure beside issue 12's
targets, and the files written to BENCH_OUT (latest.json, latest.md). The README links
bench/results/latest.md; nothing rewrites the README."""

from __future__ import annotations

import json
import os
import platform
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
        if key == "machine":
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
    return "\n".join(rows) + "\n"


def write(result: dict[str, Any], out: Path) -> str:
    """Writes result to out/latest.json and its table to out/latest.md; returns the table."""
    out.mkdir(parents=True, exist_ok=True)
    text = table(result)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latest.md").write_text(text)
    return text
