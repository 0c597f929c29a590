"""make bench: bulkhead on the local cluster, side by side with the API server's own limit.

One run, one fresh cluster (hack/cluster.py), the operator as a process under the chart's
ServiceAccount. Request counts come from the API server's audit log (the cluster logs the
bulkhead-system service accounts' requests), never from the operator's own counting.
Timestamps are the bench's own observations through watches, in milliseconds.

Phases (BENCH_PHASES selects some): raw Jobs (the limit), BatchJobs, an open loop (raw Jobs,
then BatchJobs, arriving at BENCH_OPEN_RATE per second for BENCH_OPEN_SECONDS, then at
each lower rate of BENCH_OPEN_SWEEP),
BatchJobs through a Dependency of capacity 10, BENCH_ADMISSION_N (5 N) through one of
capacity 5 N / 25 (the admission rate, beside Kueue's baseline), N/2 scheduled BatchJobs
firing at one instant, then BatchJobs at rest and a restart. `make bench` prints progress as
it goes.

BENCH_N (default 1000): BatchJobs per phase. BENCH_REST_N (default 10000): finished BatchJobs
for the memory-at-rest and restart phase. BENCH_OUT: where results go (default bench/results).
BENCH_PROFILE: a file the operator's cProfile profile is written to (the operator then runs
under cProfile: slower, so never for committed numbers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import kopf
import kubernetes
from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.policy.build import build_job

ROOT = Path(__file__).resolve().parents[1]
N = int(os.environ.get("BENCH_N", "1000"))
REST_N = int(os.environ.get("BENCH_REST_N", "10000"))
# Scheduled BatchJobs that fire at one instant (500 at N=1000).
SCHEDULED_N = max(N // 2, 1)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results"))
OPERATOR_USER = "system:serviceaccount:bulkhead-system:bulkhead"
MUTATING = {"create", "update", "patch", "delete", "deletecollection"}
SPEC: dict[str, Any] = {
    "image": "registry.example/bench:1.0",
    "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
    "podMetadata": {"annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
}
CREATORS = 8
# The open-loop phase: raw Jobs, then BatchJobs, arrive at OPEN_RATE per second.
OPEN_RATE = float(os.environ.get("BENCH_OPEN_RATE", "20"))
OPEN_SECONDS = float(os.environ.get("BENCH_OPEN_SECONDS", "60"))
# Lower rates the open loop runs at too (comma-separated; empty: none): the highest rate at
# which plain Jobs, and BatchJobs, hold their p99 on this machine.
OPEN_SWEEP = [float(r) for r in os.environ.get("BENCH_OPEN_SWEEP", "5,10").split(",") if r]
# The admission phase (the queue, not pod runtime, is the limit; Kueue's baseline compares):
# ADMISSION_N BatchJobs waiting on one Dependency of capacity ADMISSION_N / 25, pods of 1 s.
ADMISSION_N = int(os.environ.get("BENCH_ADMISSION_N", str(5 * N)))
PHASES = ("raw", "bulkhead", "open", "dependency", "admission", "schedule", "rest")
# BENCH_PHASES: a comma-separated subset of PHASES, to look at one thing closely.
SELECTED = [p for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",") if p]
# BENCH_PROFILE: a file; the operator then runs under cProfile and writes its profile there.
PROFILE = os.environ.get("BENCH_PROFILE")
PROGRESS_EVERY = 10.0  # seconds between progress lines while a phase runs


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def per(counts: dict[str, int], n: int) -> dict[str, float]:
    """Each count divided by n, rounded: requests per BatchJob by kind of request."""
    return {key: round(value / n, 2) for key, value in counts.items()}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


@dataclass
class Watcher:
    """Watches Jobs or BatchJobs in a namespace; records when each first did something."""

    namespace: str
    kind: str  # "jobs" | "batchjobs"
    added: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _stream(self, version: str | None) -> Any:
        """The watch's events as plain JSON: the client's model classes would cost this
        process (on the same 2 cores as the cluster) about a millisecond per Job event."""
        options = {
            "watch": True,
            "_preload_content": False,
            "timeout_seconds": 300,
            "resource_version": version,
        }
        if self.kind == "jobs":
            api = kubernetes.client.BatchV1Api()
            response = api.list_namespaced_job(self.namespace, **options)
        else:
            response = kubernetes.client.CustomObjectsApi().list_namespaced_custom_object(
                "bulkhead.dev", "v1alpha1", self.namespace, "batchjobs", **options
            )
        try:
            for line in kubernetes.watch.watch.iter_resp_lines(response):
                yield json.loads(line)
        finally:
            response.close()
            response.release_conn()

    def _run(self) -> None:
        """Follows the watch; when the server ends it, resumes from the last version seen
        (after 410 Gone, from now: a watch without a version tells what exists first)."""
        version: str | None = None
        while not self._stop.is_set():
            try:
                for event in self._stream(version):
                    if self._stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        version = None if event["object"].get("code") == 410 else version
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    self._record(event)
            except Exception as error:  # the cluster going away ends the bench anyway
                if not self._stop.is_set():
                    log(f"watch on {self.kind} interrupted, resuming: {error}")
                    time.sleep(0.2)

    def _record(self, event: dict[str, Any]) -> None:
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return
        now = time.monotonic()
        obj = event["object"]
        if self.kind == "jobs":
            meta = obj["metadata"]
            owner = (meta.get("labels") or {}).get("bulkhead.dev/batchjob") or meta["name"]
            self.added.setdefault(owner, now)
            for c in (obj.get("status") or {}).get("conditions") or []:
                if c["status"] == "True" and c["type"] in ("Complete", "Failed"):
                    self.done.setdefault(owner, now)
                    if c["type"] == "Failed":
                        self.failed.add(owner)
        else:
            name = obj["metadata"]["name"]
            status = obj.get("status") or {}
            # a one-shot BatchJob's phase, or the result of a scheduled one's run
            result = status.get("lastRunResult") or status.get("phase")
            if result in ("Succeeded", "Failed"):
                self.done.setdefault(name, now)
                if result == "Failed":
                    self.failed.add(name)

    def wait(self, count: int, timeout: float) -> float:
        """Waits until `count` are done, printing progress every PROGRESS_EVERY seconds;
        returns when the last one was."""
        start = time.monotonic()
        deadline, shown = start + timeout, start
        while len(self.done) < count:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{self.kind}: {len(self.done)} of {count} done")
            if now - shown >= PROGRESS_EVERY:
                log(f"  {self.namespace}: {len(self.done)}/{count} done, {now - start:.0f} s")
                shown = now
            time.sleep(0.05)
        return max(self.done.values())

    def stop(self) -> None:
        self._stop.set()


class Operator:
    def __init__(self, kubeconfig: Path, log_path: Path, port: int) -> None:
        self.kubeconfig, self.log_path, self.port = kubeconfig, log_path, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.monotonic()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "BULKHEAD_METRICS_PORT": str(self.port),
            "BULKHEAD_HEALTH_PORT": str(_free_port()),
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


def create_namespace(name: str) -> None:
    kubernetes.client.CoreV1Api().create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kubernetes.client.CoreV1Api().read_namespaced_service_account("default", name)
            return
        except kubernetes.client.ApiException:
            time.sleep(0.1)


def create_dependency(name: str, capacity: int) -> None:
    kubernetes.client.CustomObjectsApi().create_cluster_custom_object(
        "bulkhead.dev",
        "v1alpha1",
        "dependencies",
        {
            "apiVersion": "bulkhead.dev/v1alpha1",
            "kind": "Dependency",
            "metadata": {"name": name},
            "spec": {"capacity": capacity},
        },
    )


def batchjob(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name},
        "spec": {**SPEC, **extra},
    }


def create_all(
    namespace: str, bodies: list[dict[str, Any]], kind: str, rate: float | None = None
) -> dict[str, float]:
    """Creates everything from CREATORS threads, at once or (rate) on a fixed timetable of
    `rate` per second: an open loop, a slow reply never delays the next arrival. Returns
    name -> time created, printing progress every PROGRESS_EVERY seconds."""
    created: dict[str, float] = {}
    custom = kubernetes.client.CustomObjectsApi()
    batch = kubernetes.client.BatchV1Api()
    start = shown = time.monotonic()
    shown_lock = threading.Lock()

    def one(body: dict[str, Any]) -> None:
        nonlocal shown
        if kind == "jobs":
            batch.create_namespaced_job(namespace, body)
            # a raw Job is known by its label, as the Watcher knows it
            created[body["metadata"]["labels"]["bulkhead.dev/batchjob"]] = time.monotonic()
        else:
            custom.create_namespaced_custom_object(
                "bulkhead.dev", "v1alpha1", namespace, "batchjobs", body
            )
            created[body["metadata"]["name"]] = time.monotonic()
        now = time.monotonic()
        with shown_lock:
            if now - shown >= PROGRESS_EVERY:
                done = f"{len(created)}/{len(bodies)} {kind} created"
                log(f"  {namespace}: {done}, {now - start:.0f} s")
                shown = now

    with ThreadPoolExecutor(CREATORS) as pool:
        if rate is None:
            list(pool.map(one, bodies))
            return created
        pending = []
        for i, body in enumerate(bodies):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            pending.append(pool.submit(one, body))
        for future in pending:
            future.result()
    return created


def raw_job(name: str, namespace: str) -> dict[str, Any]:
    """A plain Job of the same pod shape as a BatchJob's run, owned by nothing."""
    spec = BatchJobSpec.model_validate(SPEC)
    job = build_job(name=name, namespace=namespace, uid=name, spec=spec)
    del job["metadata"]["ownerReferences"]
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        labels.pop("bulkhead.dev/batchjob-uid")
    job["metadata"]["labels"]["bulkhead.dev/batchjob"] = name
    return job


def raw_phase(load: Load) -> dict[str, Any]:
    """The limit: plain Jobs of the same pod shape, created as fast as the server takes them."""
    namespace = "bench-raw"
    create_namespace(namespace)
    bodies = [raw_job(f"raw-{i}", namespace) for i in range(N)]
    jobs = Watcher(namespace, "jobs")
    cpu = load.mark()
    start = time.monotonic()
    create_all(namespace, bodies, "jobs")
    end = jobs.wait(N, timeout=600)
    used = load.since(cpu, N)
    jobs.stop()
    return {
        "raw_seconds": round(end - start, 2),
        "raw_cpu_ms_per_job": used["cpu_ms"],
        "raw_cores_busy": used["cores_busy"],
    }


def bulkhead_phase(operator: Operator, audit: Audit, load: Load) -> dict[str, Any]:
    namespace = "bench-bulkhead"
    create_namespace(namespace)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    cpu_before = operator.cpu_seconds()
    mark = audit.mark()
    cpu = load.mark()
    start = time.monotonic()
    created = create_all(namespace, [batchjob(f"bj-{i}") for i in range(N)], "batchjobs")
    end = batchjobs.wait(N, timeout=900)
    used = load.since(cpu, N)
    requests = audit.count(mark, audit.mark())
    jobs.wait(N, timeout=60)
    jobs.stop()
    batchjobs.stop()
    return {
        "bulkhead_seconds": round(end - start, 2),
        "failed": len(batchjobs.failed),
        "create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "job_to_status_ms": percentiles(
            [(batchjobs.done[n] - jobs.done[n]) * 1000 for n in created if n in jobs.done]
        ),
        "mutating_requests_per_batchjob": round(requests["mutating"] / N, 2),
        "mutating_per_batchjob_by_request": per(requests["by"], N),
        "requests_per_batchjob": round(requests["total"] / N, 2),
        "api_p99_ms_by_request": requests["p99_ms"],
        "cpu_ms_per_batchjob": used["cpu_ms"],
        "cores_busy": used["cores_busy"],
        "operator_cpu_seconds": round(operator.cpu_seconds() - cpu_before, 2),
        "operator_cpu_ms_per_batchjob": round((operator.cpu_seconds() - cpu_before) * 1000 / N, 1),
        "operator_peak_rss_mib": operator.peak_rss_mib(),
    }


def open_loop(operator: Operator, audit: Audit, load: Load, rate: float) -> dict[str, Any]:
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
    cpu_before = operator.cpu_seconds()
    mark = audit.mark()
    cpu = load.mark()
    bodies = [batchjob(f"open-{i}") for i in range(count)]
    created = create_all(namespace, bodies, "batchjobs", rate)
    batchjobs.wait(count, timeout=600)
    used = load.since(cpu, count)
    requests = audit.count(mark, audit.mark())
    operator_cpu = operator.cpu_seconds() - cpu_before
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


def open_phase(operator: Operator, audit: Audit, load: Load) -> dict[str, Any]:
    """The open loop at OPEN_RATE (the target's rate), then at each lower rate of OPEN_SWEEP:
    where on this machine plain Jobs, and BatchJobs, still hold their p99."""
    loops = {OPEN_RATE: open_loop(operator, audit, load, OPEN_RATE)}
    for rate in sorted({r for r in OPEN_SWEEP if r != OPEN_RATE}, reverse=True):
        log(f"  open loop at {rate:g}/s")
        loops[rate] = open_loop(operator, audit, load, rate)
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


def dependency_phase(audit: Audit, capacity: int = 10) -> dict[str, Any]:
    namespace = "bench-dependency"
    create_namespace(namespace)
    create_dependency("bench-db", capacity)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    uses = [{"dependency": "bench-db", "units": 1}]
    mark = audit.mark()
    start = time.monotonic()
    create_all(namespace, [batchjob(f"dep-{i}", uses=uses) for i in range(N)], "batchjobs")
    end = batchjobs.wait(N, timeout=1800)
    requests = audit.count(mark, audit.mark())
    jobs.stop()
    batchjobs.stop()
    # The k-th slot freed lets the (capacity + k)-th Job start.
    freed = sorted(jobs.done.values())
    started = sorted(jobs.added.values())[capacity:]
    latencies = [(s - f) * 1000 for f, s in zip(freed, started, strict=False)]
    return {
        "dependency_seconds": round(end - start, 2),
        "admissions_per_second": round(N / (max(jobs.added.values()) - start), 1),
        "dependency_mutating_requests_per_batchjob": round(requests["mutating"] / N, 2),
        "dependency_mutating_per_batchjob_by_request": per(requests["by"], N),
        "dependency_api_p99_ms_by_request": requests["p99_ms"],
        "dependency_freed_to_next_ms": {
            k: v for k, v in percentiles(latencies).items() if k in ("p50", "p99")
        },
    }


def admission_phase(operator: Operator, audit: Audit, load: Load) -> dict[str, Any]:
    """ADMISSION_N BatchJobs created at once, waiting on a Dependency of capacity
    ADMISSION_N / 25 (5,000 through 200 at N=1000): admissions per second, and what the
    operator spends on them, to set beside Kueue's scheduler baseline (not one run: see README)."""
    namespace = "bench-admission"
    capacity = max(ADMISSION_N // 25, 2)
    create_namespace(namespace)
    create_dependency("bench-admission-db", capacity)
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    uses = [{"dependency": "bench-admission-db", "units": 1}]
    # Runs removed once finished (the TTL controller), so 5,000 Jobs and pods do not stay on
    # the 2-core control plane through the later phases.
    extra = {"uses": uses, "ttlSecondsAfterFinished": 0}
    cpu_before = operator.cpu_seconds()
    mark = audit.mark()
    machine_cpu = load.mark()
    start = time.monotonic()
    bodies = [batchjob(f"adm-{i}", **extra) for i in range(ADMISSION_N)]
    created = create_all(namespace, bodies, "batchjobs")
    end = batchjobs.wait(ADMISSION_N, timeout=3600)
    wall = end - start
    cpu = operator.cpu_seconds() - cpu_before
    used = load.since(machine_cpu, ADMISSION_N)
    requests = audit.count(mark, audit.mark())
    jobs.stop()
    batchjobs.stop()
    return {
        "admission_n": ADMISSION_N,
        "admission_capacity": capacity,
        "admission_seconds": round(wall, 1),
        "admission_admissions_per_second": round(
            ADMISSION_N / (max(jobs.added.values()) - start), 1
        ),
        "admission_create_to_job_ms": percentiles(
            [(jobs.added[n] - created[n]) * 1000 for n in created if n in jobs.added]
        ),
        "admission_operator_mcpu": round(cpu * 1000 / wall),
        "admission_operator_cpu_ms_per_admission": round(cpu * 1000 / ADMISSION_N, 2),
        "admission_mutating_requests_per_batchjob": round(requests["mutating"] / ADMISSION_N, 2),
        "admission_failed": len(batchjobs.failed),
        "admission_operator_peak_rss_mib": operator.peak_rss_mib(),
        "admission_cpu_ms_per_admission": used["cpu_ms"],
        "admission_cores_busy": used["cores_busy"],
    }


def schedule_phase(operator: Operator, audit: Audit) -> dict[str, Any]:
    """SCHEDULED_N scheduled BatchJobs that all fire at one instant, against one Dependency that
    has room for all of them (so what is measured is the operator, not the budget's queue)."""
    namespace = "bench-schedule"
    create_namespace(namespace)
    create_dependency("bench-nightly-db", SCHEDULED_N)
    # one instant, at least 40 s away, so every BatchJob exists and has settled before it
    instant = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (instant - datetime.now(UTC)).total_seconds() < 40:
        instant += timedelta(minutes=1)
    schedule = f"{instant.minute} {instant.hour} * * *"
    uses = [{"dependency": "bench-nightly-db", "units": 1}]
    jobs, batchjobs = Watcher(namespace, "jobs"), Watcher(namespace, "batchjobs")
    bodies = [batchjob(f"night-{i}", schedule=schedule, uses=uses) for i in range(SCHEDULED_N)]
    create_all(namespace, bodies, "batchjobs")
    while (instant - datetime.now(UTC)).total_seconds() > 5:
        time.sleep(0.5)
    cpu_before = operator.cpu_seconds()
    mark = audit.mark()
    at_instant = time.monotonic() + (instant - datetime.now(UTC)).total_seconds()
    batchjobs.wait(SCHEDULED_N, timeout=900)
    requests = audit.count(mark, audit.mark())
    cpu = operator.cpu_seconds() - cpu_before
    jobs.stop()
    batchjobs.stop()
    return {
        "scheduled_n": SCHEDULED_N,
        "instant_to_job_ms": percentiles(
            [(added - at_instant) * 1000 for added in jobs.added.values()]
        ),
        "scheduled_failed": len(batchjobs.failed),
        "mutating_requests_per_run": round(requests["mutating"] / SCHEDULED_N, 2),
        "schedule_operator_cpu_seconds": round(cpu, 2),
    }


def batchjobs_on_cluster() -> int:
    listed = kubernetes.client.CustomObjectsApi().list_cluster_custom_object(
        "bulkhead.dev", "v1alpha1", "batchjobs"
    )
    return len(listed["items"])


def rest_phase(operator: Operator, audit: Audit) -> dict[str, Any]:
    """REST_N finished BatchJobs: memory at rest, and what a restart costs. The earlier phases'
    BatchJobs stay and count (all finished by now); new ones make up the rest."""
    namespace = "bench-rest"
    create_namespace(namespace)
    batchjobs = Watcher(namespace, "batchjobs")
    added = max(REST_N - batchjobs_on_cluster(), 0)
    bodies = [batchjob(f"rest-{i}", ttlSecondsAfterFinished=0) for i in range(added)]
    create_all(namespace, bodies, "batchjobs")
    if added:
        batchjobs.wait(added, timeout=3600)
    batchjobs.stop()
    time.sleep(10)  # the TTL controller removes the Jobs; the operator settles
    rss = operator.rss_mib()
    operator.stop()
    reconciled_target = batchjobs_on_cluster()  # each is reconciled once after the restart
    mark = audit.mark()
    started = operator.start()
    deadline = started + 600
    while operator.metric("bulkhead_reconciles_total") < reconciled_target:
        if time.monotonic() > deadline:
            raise TimeoutError("the restarted operator did not reconcile everything in 600s")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    time.sleep(5)  # anything it would still write lands now
    writes = audit.count(mark, audit.mark())["mutating"]
    return {
        "at_rest_batchjobs": reconciled_target,
        "rss_10k_at_rest_mib": rss,  # the process that ran every phase
        "rss_after_restart_mib": operator.rss_mib(),  # a fresh one holding the same objects
        "restart_10k_seconds": round(seconds, 2),
        "restart_10k_writes": writes,
    }


def machine(bin_dir: Path) -> dict[str, Any]:
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
    targets = {  # issue 12's
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
    rows = ["| metric | value | target |", "|---|---|---|"]
    for key, value in result.items():
        if key == "machine":
            continue
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        )
        rows.append(f"| {key} | {shown} | {targets.get(key, '')} |")
    m = result["machine"]
    rows.append("")
    rows.append(
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; {m['kubernetes']}, "
        f"{m['etcd'].split(':')[-1].strip() if ':' in m['etcd'] else m['etcd']}, kwok "
        f"{m['kwok']}, Python {m['python']}. N = {result['n']}, "
        f"{result['rest_n']} BatchJobs at rest."
    )
    return "\n".join(rows) + "\n"


def update_readme(table_text: str) -> None:
    """The README shows the latest committed table, between its bench markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->\n", "<!-- bench:end -->"
    head, rest = text.split(start, 1)
    readme.write_text(head + start + table_text + rest[rest.index(end) :])


def main() -> None:
    if sys.argv[1:] == ["--readme"]:
        update_readme((OUT / "latest.md").read_text())
        return
    cluster_module = _load("bulkhead_hack_cluster", ROOT / "hack" / "cluster.py")
    install = _load("bulkhead_hack_install", ROOT / "hack" / "install.py")
    cluster = cluster_module.Cluster(f"bench-{os.getpid()}").up()
    os.environ.update(cluster.env())
    operator: Operator | None = None
    try:
        kubernetes.config.load_kube_config(str(cluster.kubeconfig))
        work = cluster.dir / "bench"
        work.mkdir(exist_ok=True)
        operator_kubeconfig = install.install(work / "operator-kubeconfig")
        audit = Audit(cluster.dir / "logs" / "audit.log")
        result: dict[str, Any] = {"n": N, "rest_n": REST_N}
        if "raw" in SELECTED:
            log(f"N={N}: raw Jobs")
            result.update(raw_phase(Load(cluster)))
        operator = Operator(operator_kubeconfig, work / "operator.log", _free_port())
        operator.start()
        load = Load(cluster, operator)
        if "bulkhead" in SELECTED:
            log(f"N={N}: BatchJobs")
            result.update(bulkhead_phase(operator, audit, load))
            if "raw_seconds" in result:
                result["ratio"] = round(result["raw_seconds"] / result["bulkhead_seconds"], 3)
        if "open" in SELECTED:
            log(f"open loop: raw Jobs, then BatchJobs, {OPEN_RATE:g}/s for {OPEN_SECONDS:g} s")
            result.update(open_phase(operator, audit, load))
        if "dependency" in SELECTED:
            log(f"N={N}: through a Dependency of capacity 10")
            result.update(dependency_phase(audit))
        if "admission" in SELECTED:
            log(f"admission: {ADMISSION_N} BatchJobs through one Dependency")
            result.update(admission_phase(operator, audit, load))
        if "schedule" in SELECTED:
            log(f"{SCHEDULED_N} scheduled BatchJobs firing at one instant")
            result.update(schedule_phase(operator, audit))
        if "rest" in SELECTED:
            log(f"{REST_N} BatchJobs at rest, then a restart")
            result.update(rest_phase(operator, audit))
        result["machine"] = machine(cluster.bin_dir)
    finally:
        if operator:
            operator.stop()
        cluster.down(purge=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "latest.md").write_text(table(result))
    if OUT == ROOT / "bench" / "results":
        update_readme(table(result))
    print(table(result))
    failed_keys = ("failed", "open_failed", "admission_failed", "scheduled_failed")
    failed = sum(result.get(k, 0) for k in failed_keys)
    if failed:
        raise SystemExit(f"{failed} BatchJobs failed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
