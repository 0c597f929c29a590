"""The closed loop (issue 11): a real PostgreSQL under the batch load of BatchJobs that use a
Dependency, its probe latency read by a real Prometheus, and bulkhead admitting by it
(closed_loop/ builds all of it around the e2e cluster and operator).

- health off: a static capacity twice the database's knee lets the queue push the probe's p99
  past the target;
- health on, same queue and capacity: the adaptive limit finds the knee, the p99 stays near the
  target, every BatchJob succeeds;
- the breaker opens when the database stops, starts nothing while open, admits one probe run
  half-open, and closes once the database is back;
- signal loss (Prometheus stops) turns SignalAvailable False and decays the effective capacity
  to minCapacity (onSignalLoss DecayToMin).

The p99 figures of the first two are printed and written to health_loop.json in the pytest
base temporary directory. The whole file takes about 5 minutes on the 2-core machine,
the cluster's boot included.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3

from tests.e2e.closed_loop.load import CLIENT_RATE, LoadDriver
from tests.e2e.closed_loop.postgresql import PostgreSQL
from tests.e2e.closed_loop.probe import LatencyProbe, failures_query, p99_query
from tests.e2e.closed_loop.prometheus import Prometheus
from tests.support.kube import condition, create, get, wait_for
from tests.support.objects import all_phase, batchjob, dependency, unique

# The knee with CLIENT_RATE transactions a second per client: throughput stops growing near 16
# clients and the probe's p99 climbs beyond (BATCH_SCRIPT in closed_loop/postgresql.py;
# docs/dependencies.md, "The closed loop").
KNEE = 16
CAPACITY = 2 * KNEE  # the static capacity: past the knee, as a guess made on a quiet day
UNITS = 2  # each BatchJob's units, so pgbench clients while it runs
QUEUE = 40  # BatchJobs, 80 units in all: 2.5 times the capacity, 5 times the knee
RUN_FOR = "15s"  # each BatchJob's pod runs this long (kwok)
# The p99 target, seconds. Past the knee every client waits behind all the others, about
# clients / throughput; at the knee that is clients / (clients x CLIENT_RATE) = 1 / CLIENT_RATE,
# 42 ms, however fast the machine is today. A target there is met up to the knee and missed
# beyond it (the table in docs/dependencies.md).
TARGET = 0.040
P99_WINDOW = "15s"  # the signal's window: 75 probes, enough for a p99


@dataclass
class Loop:
    database: PostgreSQL
    probe: LatencyProbe
    prometheus: Prometheus


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    """A fresh database, its probe, and Prometheus scraping the probe."""
    with (
        PostgreSQL(tmp_path) as database,
        LatencyProbe(database) as probe,
        Prometheus(tmp_path, [f"127.0.0.1:{probe.port}"]) as prometheus,
    ):
        yield Loop(database, probe, prometheus)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The figures the tests measure, written to health_loop.json at the end."""
    found: dict[str, Any] = {
        "capacity": CAPACITY, "units": UNITS, "queue": QUEUE, "run_for": RUN_FOR,
        "target_ms": TARGET * 1000, "client_rate": CLIENT_RATE, "p99_window": P99_WINDOW,
    }  # fmt: skip
    yield found
    path = tmp_path_factory.getbasetemp() / "health_loop.json"
    path.write_text(json.dumps(found, indent=2))
    print(f"\nhealth loop figures ({path}): {json.dumps(found)}")


class DependencySampler(threading.Thread):
    """Every 0.5 s: (Unix time, status) of the Dependency."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True)
        self.name = name
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self._api = kubernetes.config.new_client_from_config(os.environ["KUBECONFIG"])
        self._halt = threading.Event()

    def run(self) -> None:
        custom = kubernetes.client.CustomObjectsApi(self._api)
        while not self._halt.wait(0.5):
            try:
                body = custom.get_cluster_custom_object(
                    "bulkhead.dev", "v1alpha1", "dependencies", self.name, _request_timeout=5
                )
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError):
                continue
            self.samples.append((time.time(), body.get("status") or {}))

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self._api.close()


def status_of(name: str) -> dict[str, Any]:
    return (get("dependency", name) or {}).get("status") or {}


def prometheus_signal(loop: Loop, name: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "prometheus": {"address": loop.prometheus.url, "query": query, "timeout": "2s"},
    }


def jobs_in(namespace: str) -> set[str]:
    return {j["metadata"]["labels"]["bulkhead.dev/batchjob"] for j in get("jobs", None, namespace)}


@dataclass
class QueueRun:
    """What run_queue saw: Unix times, the Dependency's status samples, the load's history."""

    first_wave: float  # the first pgbench clients started
    unloaded: float  # the last pgbench client stopped
    statuses: list[tuple[float, dict[str, Any]]]
    driver: LoadDriver

    def p99(self, loop: Loop, since: float) -> float:
        """The probe's p99 (seconds) from `since` (Unix time) until the load ended: the last
        BatchJobs' runs are load that admission let in, as much as the earlier ones."""
        window = f"{int(self.unloaded - since)}s"
        value = loop.prometheus.query(p99_query(window), at=self.unloaded)
        assert value is not None
        return value


def run_queue(loop: Loop, namespace: str, dep: str) -> QueueRun:
    """Runs QUEUE BatchJobs of UNITS units each through `dep` under the load driver, until all
    succeed."""
    with LoadDriver(loop.database, namespace, dep) as driver:
        sampler = DependencySampler(dep)
        sampler.start()
        create(
            [
                batchjob(f"bj-{i:02d}", delay=RUN_FOR, uses=[{"dependency": dep, "units": UNITS}])
                for i in range(QUEUE)
            ],
            namespace,
        )
        try:
            wait_for(lambda: driver.clients > 0, timeout=60, what="the first wave running")
            first_wave = time.time()
            wait_for(
                lambda: len(jobs_in(namespace)) == QUEUE,
                timeout=420,
                interval=1,
                what=f"every BatchJob of {namespace} admitted",
            )
            wait_for(
                lambda: all_phase(namespace, "Succeeded", QUEUE),
                timeout=120,
                what=f"{QUEUE} BatchJobs Succeeded",
            )
            wait_for(lambda: driver.clients == 0, timeout=30, what="the load stopped")
        finally:
            sampler.stop()
    return QueueRun(first_wave, driver.history[-1][0], sampler.samples, driver)


def test_health_off_lets_the_queue_push_p99_past_the_target(operator, namespace, loop, results):
    dep = unique("pg-static", namespace)
    create(dependency(dep, CAPACITY))
    run = run_queue(loop, namespace, dep)
    p99 = run.p99(loop, run.first_wave)
    results["health_off"] = {
        "p99_ms": round(p99 * 1000, 1),
        "loaded_seconds": round(run.unloaded - run.first_wave),
        "peak_clients": run.driver.peak(),
    }
    assert results["health_off"]["peak_clients"] == CAPACITY
    assert p99 > TARGET, results["health_off"]


def adaptive_health(loop: Loop, **extra: Any) -> dict[str, Any]:
    """spec.health with the adaptive limit on the probe's p99 and settle times short enough for
    a test: read every 2 s, a change at most once per the p99's window (so each decision sees
    only the load the one before it let in)."""
    return {
        "signals": [
            prometheus_signal(loop, "p99", p99_query(P99_WINDOW)),
            prometheus_signal(loop, "failures", failures_query("3s")),
        ],
        "interval": "2s",
        "for": "2s",
        "adaptive": {
            "minCapacity": UNITS,
            "target": {"signal": "p99", "value": TARGET},
            "settleTime": P99_WINDOW,
            "increaseStep": UNITS,
        },
        **extra,
    }


def changes(run: QueueRun) -> list[tuple[int, int]]:
    """(seconds since the first wave, effective capacity) at each change, while the queue ran."""
    found: list[tuple[int, int]] = []
    for t, status in run.statuses:
        effective = status.get("effectiveCapacity")
        if effective is not None and (not found or found[-1][1] != effective):
            found.append((round(t - run.first_wave), effective))
    return found


def test_health_on_finds_the_knee_and_holds_p99_near_the_target(operator, namespace, loop, results):
    dep = unique("pg-adaptive", namespace)
    create(dependency(dep, CAPACITY, health=adaptive_health(loop)))
    run = run_queue(loop, namespace, dep)
    # The first wave starts at the capacity before any reading can cut it (the limit starts
    # there), and running work is never stopped: the loop is judged once that wave has ended,
    # until the load ends. The queue is more than two waves at the capacity, so the third
    # wave ends at least 45 s after the first began: 25 s to judge, however fast the
    # database.
    settled = run.first_wave + float(RUN_FOR.rstrip("s")) + 5
    assert run.unloaded - settled > 20, "the load ended before the loop could be judged"
    effective = [s.get("effectiveCapacity") for t, s in run.statuses if t >= settled]
    held = run.p99(loop, settled)
    results["health_on"] = {
        "p99_ms": round(run.p99(loop, run.first_wave) * 1000, 1),
        "p99_held_ms": round(held * 1000, 1),
        "loaded_seconds": round(run.unloaded - run.first_wave),
        "peak_clients": run.driver.peak(),
        "peak_clients_held": run.driver.peak(settled),
        "effective_capacity_held": sorted(set(effective)),
        "effective_capacity_changes": changes(run),
    }
    assert max(effective) < CAPACITY, results["health_on"]
    # near the target: the limit is cut while the p99 is above it and grows again below it,
    # so the p99 hovers around it
    assert held < 2 * TARGET, results["health_on"]


def breaker_of(name: str) -> dict[str, Any]:
    return status_of(name).get("breaker") or {}


def test_breaker_opens_while_the_database_is_down_and_one_probe_closes_it(
    operator, namespace, loop
):
    dep = unique("pg-breaker", namespace)
    health = adaptive_health(
        loop,
        openWhen="signals.failures > 0.0",
        breaker={"baseWait": "5s", "maxWait": "20s", "observeFor": "8s", "jitter": 0},
    )
    create(dependency(dep, 4, health=health))
    wait_for(lambda: status_of(dep).get("health") == "Healthy", timeout=60, what=f"{dep} Healthy")

    loop.database.stop()
    opened = wait_for(
        lambda: breaker_of(dep).get("state") == "Open" and status_of(dep),
        timeout=60,
        what=f"{dep} breaker Open",
    )
    assert opened["effectiveCapacity"] == 0
    assert condition({"status": opened}, "CircuitOpen")["status"] == "True"
    uses = [{"dependency": dep, "units": 1}]
    create([batchjob(f"bj-{i}", delay="3s", uses=uses) for i in range(6)], namespace)
    # the database still down at the end of the wait: open again, longer, and nothing starts
    wait_for(lambda: breaker_of(dep).get("opens", 0) >= 2, timeout=60, what=f"{dep} open again")
    assert breaker_of(dep)["state"] == "Open"
    assert jobs_in(namespace) == set()

    loop.database.start()
    probe = wait_for(
        lambda: breaker_of(dep).get("probe"), timeout=60, what=f"{dep} HalfOpen with a probe"
    )
    assert probe["namespace"] == namespace
    assert jobs_in(namespace) == {probe["name"]}
    wait_for(
        lambda: breaker_of(dep).get("state") == "Closed", timeout=60, what=f"{dep} breaker Closed"
    )
    wait_for(lambda: all_phase(namespace, "Succeeded", 6), timeout=90, what="6 Succeeded")


def test_signal_loss_decays_the_effective_capacity_to_the_floor(operator, namespace, loop):
    dep = unique("pg-loss", namespace)
    health = adaptive_health(loop, onSignalLoss={"after": "4s"})
    create(dependency(dep, 8, health=health))
    wait_for(
        lambda: (
            status_of(dep).get("effectiveCapacity") == 8
            and condition({"status": status_of(dep)}, "SignalAvailable")["status"] == "True"
        ),
        timeout=60,
        what=f"{dep} reading its signals at full capacity",
    )

    sampler = DependencySampler(dep)
    sampler.start()
    loop.prometheus.stop()
    try:
        lost = wait_for(
            lambda: (
                (c := condition({"status": status_of(dep)}, "SignalAvailable"))
                and c["status"] == "False"
                and c["reason"] == "SignalLost"
                and c
            ),
            timeout=60,
            what=f"{dep} SignalAvailable=False SignalLost",
        )
        assert lost
        wait_for(
            lambda: sampler.samples and sampler.samples[-1][1].get("effectiveCapacity") == UNITS,
            timeout=60,
            what=f"{dep} decayed to minCapacity",
        )
    finally:
        sampler.stop()
    seen = [s.get("effectiveCapacity") for _, s in sampler.samples]
    # DecayToMin halves once per settleTime, never up: 8, 4, 2
    assert [c for i, c in enumerate(seen) if i == 0 or c != seen[i - 1]] == [8, 4, UNITS]
