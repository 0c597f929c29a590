"""The bulkhead operator as a real process (`python -m bulkhead`), killable with SIGKILL: the
operator of the e2e and fault tiers and of the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

from tests.support.ports import free_port


class OperatorProcess:
    """One operator process at a time, started again by start() after stop() or kill(), on the
    same metrics and health ports; `proc` is the current one, `starts` counts them."""

    def __init__(
        self,
        log_dir: Path,
        kubeconfig: Path,
        env: dict[str, str] | None = None,
        name: str = "",
        profile: str | None = None,
    ) -> None:
        """`env`: settings of this process on top of the test's environment; `name` tells the
        log files of several processes apart (each start logs to <name>-<n>.log in log_dir);
        `profile`: a file the process writes its cProfile profile to when it exits."""
        self.log_dir = log_dir
        self.kubeconfig = kubeconfig
        self.env = env or {}
        self.name = name or "operator"
        self.profile = profile
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.events_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        """Starts the process and returns the time.monotonic() it was started at, once it
        serves metrics; raises RuntimeError if it exits first or takes longer than 60 s."""
        started = time.monotonic()
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "BULKHEAD_METRICS_PORT": str(self.metrics_port),
            "BULKHEAD_HEALTH_PORT": str(self.health_port),
            "BULKHEAD_EVENTS_PORT": str(self.events_port),
            "BULKHEAD_EVENTS_ADDRESS": "127.0.0.1",
            **self.env,
        }
        profile = ["-m", "cProfile", "-o", self.profile] if self.profile else []
        self.proc = subprocess.Popen(
            [sys.executable, *profile, "-m", "bulkhead"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = started + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited {self.proc.returncode}; see {log.name}")
            try:
                urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).read()
                return started
            except OSError:
                # short: the benchmark times a restart from `started` (one poll is its error)
                time.sleep(0.05)
        raise RuntimeError("operator did not serve metrics within 60s")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last writes, as when a node dies."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets and state but runs no code, as when a node
        stalls or a VM is paused."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a frozen process runs on from where it stopped."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> int:
        """The HTTP status of the liveness endpoint /healthz (500 when a check fails)."""
        try:
            return int(urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=5).status)
        except HTTPError as error:
            return error.code

    def metrics(self) -> str:
        return urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()

    def gauge(self, name: str) -> float:
        """The value of an unlabelled metric (a gauge or counter) the process serves."""
        for line in self.metrics().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise KeyError(name)
