"""The latency probe: a query on the database every PROBE_PERIOD, its timings served to
Prometheus, and the PromQL the health signals read them with."""

from __future__ import annotations

import math
import queue
import subprocess
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.e2e.closed_loop.postgresql import HOT_LOCK, PG_BIN, PG_DATABASE, PostgreSQL
from tests.e2e.closed_loop.service import Service, stop_process
from tests.support.ports import free_port

PROBE_HISTOGRAM = "bulkhead_probe_latency"
PROBE_FAILURES = "bulkhead_probe_failures"
PROBE_PERIOD = 0.2  # seconds between probes: 5 a second
PROBE_TIMEOUT = 2.0  # a probe slower than this (or failed) is observed as this
# The probe writes the hot row as any user of the database would, so it waits behind the
# batch load.
PROBE_SQL = (
    f"BEGIN; {HOT_LOCK} UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 1; COMMIT;"
)
# Buckets resolve the range measured on the 2-core machine (docs/dependencies.md, "The closed
# loop"): a few ms idle, tens to hundreds of ms past the knee, PROBE_TIMEOUT when down.
LATENCY_BUCKETS = (
    0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
)  # fmt: skip


def p99_query(window: str) -> str:
    """PromQL for the probe's p99 latency in seconds over the last `window`."""
    return (
        f"histogram_quantile(0.99, sum by (le) (rate({PROBE_HISTOGRAM}_seconds_bucket[{window}])))"
    )


def failures_query(window: str) -> str:
    """PromQL for failed probes a second over the last `window`."""
    return f"sum(rate({PROBE_FAILURES}_total[{window}]))"


class LatencyProbe(Service):
    """Runs PROBE_SQL every PROBE_PERIOD on one psql connection and serves the timings on
    http://127.0.0.1:port/metrics. psql reports each statement's time (\\timing); the probe's
    latency is the sum for its statements. A probe that gets no answer within PROBE_TIMEOUT,
    or whose psql exits (the database is down), counts as failed and is observed as
    PROBE_TIMEOUT; the next probe connects again."""

    STATEMENTS = PROBE_SQL.count(";")

    def __init__(self, database: PostgreSQL) -> None:
        self.database = database
        self.port = free_port()
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            PROBE_HISTOGRAM, "Latency of the probe's transaction on the database.",
            unit="seconds", buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.failures = Counter(
            PROBE_FAILURES, "Probes that failed or timed out.", registry=self.registry
        )
        self.samples: list[tuple[float, float]] = []  # (monotonic time, latency), for knee()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._psql: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, "127.0.0.1", self.registry)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="latency-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(PROBE_TIMEOUT + 5)
        self._close_psql()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def p99(self, since: float) -> float:
        """The p99 of the probe latencies measured since `since` (time.monotonic())."""
        values = sorted(v for t, v in self.samples if t >= since)
        return values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)]

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            latency = self._probe()
            if latency is None:
                self.failures.inc()
                latency = PROBE_TIMEOUT
            self.latency.observe(latency)
            self.samples.append((began, latency))
            self._stop.wait(max(0.0, PROBE_PERIOD - (time.monotonic() - began)))

    def _probe(self) -> float | None:
        """The probe's latency in seconds, None when it failed."""
        if self._psql is None or self._psql.poll() is not None:
            self._open_psql()
        assert self._psql is not None and self._psql.stdin is not None
        try:
            self._psql.stdin.write(PROBE_SQL + "\n")
            self._psql.stdin.flush()
        except OSError:
            self._close_psql()
            return None
        deadline = time.monotonic() + PROBE_TIMEOUT
        total_ms = 0.0
        for _ in range(self.STATEMENTS):
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:  # psql exited, or too slow: a fresh connection next time
                self._close_psql()
                return None
            total_ms += float(line.split()[1])
        return total_ms / 1000

    def _open_psql(self) -> None:
        self._close_psql()
        self._lines = queue.Queue()
        self._psql = subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", *self.database.client_args(),
             "-v", "ON_ERROR_STOP=1", "-c", "\\timing on", "-f", "-", PG_DATABASE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1,
        )  # fmt: skip
        threading.Thread(
            target=self._read_timings, args=(self._psql, self._lines), daemon=True
        ).start()

    @staticmethod
    def _read_timings(psql: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        """Hands every "Time: x ms" line of psql's output to the probe; None at its end."""
        assert psql.stdout is not None
        for line in psql.stdout:
            if line.startswith("Time: "):
                lines.put(line)
        lines.put(None)

    def _close_psql(self) -> None:
        stop_process(self._psql)
        self._psql = None
