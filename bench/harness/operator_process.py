"""The operator under test: `python -m bulkhead` as a process of its own, under the chart's
ServiceAccount, read through its metrics endpoint and /proc. (tests/e2e/operator_process.py
runs it for the e2e tests; one shared helper is to come.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

from bench.harness.measure import process_cpu_seconds
from bench.harness.settings import PROFILE


def free_port() -> int:
    """Returns a port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Operator:
    """The operator process: kubeconfig (its ServiceAccount's), its output appended to
    log_path, its metrics on port (BENCH_PROFILE: under cProfile)."""

    def __init__(self, kubeconfig: Path, log_path: Path, port: int) -> None:
        self.kubeconfig, self.log_path, self.port = kubeconfig, log_path, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Starts it and returns the monotonic time it was started at, once its metrics
        answer; raises RuntimeError if it exits first."""
        started = time.monotonic()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "BULKHEAD_METRICS_PORT": str(self.port),
            "BULKHEAD_HEALTH_PORT": str(free_port()),
            "BULKHEAD_LOG_LEVEL": "WARNING",
        }
        profile = ["-m", "cProfile", "-o", PROFILE] if PROFILE else []
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *profile, "-m", "bulkhead"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        while True:
            try:
                self.metrics()
                return started
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"operator exited; see {self.log_path}") from None
                time.sleep(0.05)

    def metrics(self) -> str:
        with urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    def metric(self, name: str) -> float:
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def _proc(self, field_name: str) -> str:
        assert self.proc
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return line.split()[1]
        return "0"

    def rss_mib(self) -> float:
        return round(int(self._proc("VmRSS")) / 1024, 1)

    def peak_rss_mib(self) -> float:
        return round(int(self._proc("VmHWM")) / 1024, 1)

    def cpu_seconds(self) -> float:
        assert self.proc
        return round(process_cpu_seconds(self.proc.pid), 2)
