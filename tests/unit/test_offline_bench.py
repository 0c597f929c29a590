"""The offline benchmarks (bench/offline_*.py) still run against the operator's code as it is:
each is run small, and must end well and print its figure. (One broke unseen once, when the
admission controller gained the health gate.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_offline_admission_pass_runs() -> None:
    out = run("offline_admission.py", BENCH_ADMISSION_N="50", BENCH_PASSES="20")
    assert out.startswith("50 waiting, capacity 200, 1 admitted a pass: admit() ")


def test_the_offline_restart_runs() -> None:
    out = run("offline_restart.py", BENCH_REST_N="200")
    assert out.startswith("200 finished BatchJobs: ready in ")
    assert out.rstrip().endswith("API calls beyond the listings: 0")
