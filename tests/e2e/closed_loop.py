"""The closed loop around a health-driven Dependency (tests/e2e/test_health_loop.py): a real
PostgreSQL, a probe that measures its query latency and serves it to a real Prometheus, and a
load driver that makes the database feel the batch load of the BatchJobs that run on the kwok
cluster (kwok pods run no code).

    PostgreSQL   Debian's server (hack/tools/postgresql.sh) in a temporary directory, on a free
                 loopback port, no Unix socket, no root service; `pgbench -i` tables at scale 1.
                 Its knee is a hot row, not the CPU: every batch transaction (BATCH_SCRIPT)
                 holds the lock that guards it (HOT_LOCK) for about a millisecond of the
                 client's own work, so throughput stops near 1 / that time and, past the
                 knee, every user of the row queues behind the batch clients. A knee set by
                 the CPU moved with whatever else the 2 cores ran (about 16 clients beside the
                 cluster, near 28 alone); this one moves little, and leaves the CPU to the
                 control plane.
    LatencyProbe one psql on one connection runs a query every PROBE_PERIOD and serves the
                 timings on /metrics (prometheus-client): the Histogram PROBE_HISTOGRAM_seconds
                 and the counter PROBE_FAILURES_total. A probe that fails or takes longer than
                 PROBE_TIMEOUT is counted and observed as PROBE_TIMEOUT.
    Prometheus   Debian's (hack/tools/prometheus.sh), scraping the probe every second.
    LoadDriver   watches the pods of a namespace and runs one pgbench client per unit of the
                 Dependency for every Running pod of a BatchJob that uses it, until the pod ends.

Each is a context manager (start on enter, stop on exit); PostgreSQL and Prometheus can also
be stopped and started again in between, keeping their data, for the breaker and signal-loss
tests. PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
`postgres` system user (setpriv, no login session), its data in a directory of its own under
/tmp (the pytest temporary directory is private to root) that close() deletes; its log goes
to the caller's directory.

`python -m tests.e2e.closed_loop knee` (from the repository root) measures the database on this
machine, no cluster: pgbench throughput and the probe's p99 at each number of clients (the table
in docs/dependencies.md).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode
from urllib.request import urlopen

import kubernetes
import urllib3
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.support.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's; initdb and postgres are not on PATH
PG_USER = "bench"  # the superuser initdb creates; trust auth, loopback only
PG_DATABASE = "postgres"
PGBENCH_SCALE = 1  # 100,000 accounts and one branch: every write meets on the branch row

# Each pgbench client (one per unit of a running BatchJob) asks this many transactions a
# second, as a batch job paced by its own work would: below the knee the database keeps up and
# the latency stays low, past it the queue grows (docs/dependencies.md, "The closed loop").
CLIENT_RATE = 24

# The hot row's guard: a transaction-level advisory lock, whose waiters PostgreSQL's lock
# manager serves in order, so the time a user waits follows the number of clients ahead of it
# (a row lock alone wakes every waiter to race for it, and the tail is luck).
HOT_LOCK = "SELECT pg_advisory_xact_lock(1);"
# A batch client's transaction: pgbench's own writes, with the hot lock held across the
# client's work (pg_sleep 1 ms, about 2.7 ms with the timer's rounding: the knee near 370
# transactions a second, 16 clients at CLIENT_RATE).
BATCH_SCRIPT = f"""\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
{HOT_LOCK}
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = 1;
SELECT pg_sleep(0.001);
END;
"""

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


def _as_postgres_user() -> list[str]:
    """The prefix that runs a server command as the `postgres` system user when we are root
    (postgres refuses uid 0); nothing otherwise."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _stop_process(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM) -> None:
    """Signals proc and waits for it; SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Service:
    """start() on enter; on exit stop(), then close() (what start() left behind)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Deletes what outlives stop(); nothing by default."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.close()


class PostgreSQL(_Service):
    """A PostgreSQL server on 127.0.0.1:port. The first start() creates the cluster and the
    pgbench tables; stop() shuts it down (fast: clients are cut off) keeping its data, and a
    later start() brings the same database back."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.home: Path | None = None  # the server's own directory (data), owned by its user
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.batch_script = log_dir / "batch.sql"  # pgbench -f: BATCH_SCRIPT
        self.batch_script.write_text(BATCH_SCRIPT)

    def client_args(self) -> list[str]:
        """Connection options for psql and pgbench."""
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER]

    def start(self) -> None:
        fresh = self.home is None
        if fresh:
            self.home = Path(tempfile.mkdtemp(prefix="bulkhead-pg-"))
            if os.geteuid() == 0:
                shutil.chown(self.home, "postgres", "postgres")
            subprocess.run(
                [*_as_postgres_user(), str(PG_BIN / "initdb"), "-D", str(self.home / "data"),
                 "-U", PG_USER, "--auth=trust", "--no-locale", "-E", "UTF8"],
                check=True, capture_output=True,
            )  # fmt: skip
        self.starts += 1
        with open(self.log_dir / f"postgresql-{self.starts}.log", "wb") as log:
            # Durability is not under test: without fsync the disk (which other work on the
            # machine shares) plays no part in the knee.
            self.proc = subprocess.Popen(
                [*_as_postgres_user(), str(PG_BIN / "postgres"), "-D", str(self.home / "data"),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", "unix_socket_directories=", "-c", "fsync=off",
                 "-c", "synchronous_commit=off"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", *self.client_args()], check=False
        ).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start; see {self.log_dir}")
            time.sleep(0.1)
        if fresh:
            subprocess.run(
                [str(PG_BIN / "pgbench"), *self.client_args(), "-i", "-q",
                 "-s", str(PGBENCH_SCALE), PG_DATABASE],
                check=True, capture_output=True,
            )  # fmt: skip

    def stop(self) -> None:
        _stop_process(self.proc, signal.SIGINT)  # fast shutdown

    def close(self) -> None:
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


class LatencyProbe(_Service):
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
        _stop_process(self._psql)
        self._psql = None


class Prometheus(_Service):
    """Debian's Prometheus on 127.0.0.1:port scraping `targets` (host:port) every second as
    scrape job `job`, evaluating `rule_files` every second. stop() and a later start() keep
    its data and port."""

    def __init__(
        self,
        home: Path,
        targets: list[str],
        job: str = "probe",
        rule_files: tuple[Path, ...] = (),
        honor_labels: bool = False,
    ) -> None:
        self.home = home
        self.job = job
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        scrape = {"job_name": job, "static_configs": [{"targets": targets}]}
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{**scrape, "honor_labels": honor_labels}],
        }
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))

    def start(self) -> None:
        self.starts += 1
        with open(self.home / f"prometheus-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.home / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.home / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._scraped():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not scrape its targets; see {self.home}")
            time.sleep(0.2)

    def stop(self) -> None:
        _stop_process(self.proc)

    def vector(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector (each {"metric": labels, "value": [t, "v"]}),
        evaluated now or `at` (Unix time)."""
        params = {"query": expr, **({"time": str(at)} if at is not None else {})}
        with urlopen(f"{self.url}/api/v1/query?{urlencode(params)}", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query(self, expr: str, at: float | None = None) -> float | None:
        """The value of an instant query that returns one sample (None: no sample, or NaN),
        evaluated now or `at` (Unix time)."""
        result = self.vector(expr, at)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def _scraped(self) -> bool:
        try:
            return self.query(f'min(up{{job="{self.job}"}})') == 1
        except OSError:
            return False


class LoadDriver(_Service):
    """Makes the database feel the batch load: for every Running pod of a BatchJob of
    `namespace` that uses `dependency`, one pgbench process with a client per unit (each asking
    CLIENT_RATE transactions a second), stopped when the pod ends. Pods are watched; every
    second the processes are matched to the pods again, so a pgbench that died (the database
    went down) is started again while its pod runs.

    `clients` is the number of pgbench clients now; `history` holds (Unix time, clients) at
    every change."""

    def __init__(self, database: PostgreSQL, namespace: str, dependency: str) -> None:
        self.database = database
        self.namespace = namespace
        self.dependency = dependency
        self.history: list[tuple[float, int]] = [(time.time(), 0)]
        self._api = kubernetes.config.new_client_from_config(os.environ["KUBECONFIG"])
        self._running: dict[str, int] = {}  # Running pod -> its units, from the watch
        self._units: dict[str, int] = {}  # BatchJob -> its units of the Dependency
        self._load: dict[str, subprocess.Popen[bytes]] = {}  # pod -> its pgbench
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def clients(self) -> int:
        return self.history[-1][1]

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._watch, name="load-watch", daemon=True),
            threading.Thread(target=self._drive, name="load-drive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        for thread in self._threads:
            thread.join(40)
        for pod in list(self._load):
            _stop_process(self._load.pop(pod))
        self._api.close()

    def peak(self, since: float = 0.0) -> int:
        """The most pgbench clients at once since `since` (Unix time)."""
        before = [c for t, c in self.history if t <= since][-1:]
        return max(before + [c for t, c in self.history if t > since])

    def _watch(self) -> None:
        core = kubernetes.client.CoreV1Api(self._api)
        while not self._stop.is_set():
            try:
                listed = core.list_namespaced_pod(self.namespace, _request_timeout=10)
                with self._lock:
                    self._running = {}
                    for pod in listed.items:
                        self._see(pod, deleted=False)
                self._changed.set()
                stream = kubernetes.watch.Watch().stream(
                    core.list_namespaced_pod, self.namespace,
                    resource_version=listed.metadata.resource_version, timeout_seconds=5,
                )  # fmt: skip
                for event in stream:
                    with self._lock:
                        self._see(event["object"], deleted=event["type"] == "DELETED")
                    self._changed.set()
                    if self._stop.is_set():
                        break
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
                self._stop.wait(0.5)  # listed again from scratch

    def _see(self, pod: Any, deleted: bool) -> None:
        """Records whether pod runs, and with how many units (caller holds the lock)."""
        name = pod.metadata.name
        owner = (pod.metadata.labels or {}).get("bulkhead.dev/batchjob")
        running = (
            not deleted
            and owner is not None
            and pod.metadata.deletion_timestamp is None
            and pod.status.phase == "Running"
        )
        units = self._units_of(owner) if running else 0
        if units:
            self._running[name] = units
        else:
            self._running.pop(name, None)

    def _units_of(self, batchjob: str) -> int:
        """The units of the Dependency that BatchJob uses (its spec cannot change once a Job
        exists, so it is read once)."""
        if batchjob not in self._units:
            custom = kubernetes.client.CustomObjectsApi(self._api)
            body = custom.get_namespaced_custom_object(
                "bulkhead.dev", "v1alpha1", self.namespace, "batchjobs", batchjob
            )
            self._units[batchjob] = sum(
                use.get("units", 1)
                for use in body["spec"].get("uses") or []
                if use["dependency"] == self.dependency
            )
        return self._units[batchjob]

    def _drive(self) -> None:
        while not self._stop.is_set():
            self._changed.wait(1)
            self._changed.clear()
            with self._lock:
                running = dict(self._running)
            for pod in [
                p for p, proc in self._load.items() if p not in running or proc.poll() is not None
            ]:
                _stop_process(self._load.pop(pod))
            for pod, units in running.items():
                if pod not in self._load and not self._stop.is_set():
                    self._load[pod] = subprocess.Popen(
                        [str(PG_BIN / "pgbench"), *self.database.client_args(), "-n",
                         "-c", str(units), "-j", "1", "-T", "86400",
                         "-R", str(CLIENT_RATE * units), "-f", str(self.database.batch_script),
                         PG_DATABASE],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
            clients = sum(running[p] for p in self._load)
            if clients != self.clients:
                self.history.append((time.time(), clients))


def knee(clients: list[int], seconds: int, rate: float = 0) -> Iterator[tuple[int, float, float]]:
    """(clients, pgbench tps, probe p99 in seconds) for each number of clients, on a fresh
    database in a temporary directory, each run `seconds` long, each client asking `rate`
    transactions a second (0: as fast as it can)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        PostgreSQL(Path(tmp)) as database,
        LatencyProbe(database) as probe,
    ):
        for n in clients:
            since = time.monotonic()
            run = subprocess.run(
                [str(PG_BIN / "pgbench"), *database.client_args(), "-n", "-c", str(n),
                 "-j", str(min(n, 2)), "-T", str(seconds),
                 *(["-R", str(rate * n)] if rate else []), "-f", str(database.batch_script),
                 PG_DATABASE],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            tps = next(
                float(line.split()[2])
                for line in run.stdout.splitlines()
                if line.startswith("tps = ")
            )
            yield n, tps, probe.p99(since)


if __name__ == "__main__":
    if sys.argv[1:2] != ["knee"]:
        sys.exit(
            "usage: python -m tests.e2e.closed_loop knee"
            " [SECONDS_PER_STEP [RATE_PER_CLIENT, 0: unpaced]]"
        )
    step_seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    client_rate = float(sys.argv[3]) if len(sys.argv) > 3 else CLIENT_RATE
    print("clients  tps     probe p99 (ms)")
    for n, tps, p99 in knee([1, 2, 4, 8, 12, 16, 24, 32], step_seconds, client_rate):
        print(f"{n:7d}  {tps:6.0f}  {p99 * 1000:8.1f}", flush=True)
