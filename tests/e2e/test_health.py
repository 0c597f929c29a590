"""Dependency health on the real cluster, with a signal the test controls: an HTTP JSON endpoint
served here (the operator runs on this host), read with a bearer token from a Secret the chart
lets it read. Throttling and recovery, the breaker with its one probe, signal loss, dryRun.
The closed loop with a real database and Prometheus is tests/e2e/test_health_loop.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.health_signal import Signal, health
from tests.support.kube import create, get, kubectl_json, wait_for
from tests.support.objects import batchjob, condition, dependency, status_of, unique, wait_phase

LABEL_BATCHJOB = "bulkhead.dev/batchjob"  # on each Job: the BatchJob it runs


@pytest.fixture
def signal(token_secret) -> Iterator[Signal]:
    served = Signal(0.1)
    yield served
    served.stop()


def dep_status(name: str) -> dict[str, Any]:
    return (get("dependency", name) or {}).get("status") or {}


def wait_dep(name: str, what: str, check: Any, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = dep_status(name)
        return status if check(status) else None

    result: dict[str, Any] = wait_for(reached, timeout=timeout, what=f"{name}: {what}")
    return result


def events(name: str) -> list[tuple[str, str]]:
    listed = kubectl_json(
        "get", "events", "-A", "--field-selector", f"involvedObject.name={name}", "-o", "json"
    )
    return [(e["reason"], e["message"]) for e in listed["items"]]


def jobs(namespace: str) -> dict[str, str]:
    """The namespace's Jobs: their BatchJob's name -> the Job's creationTimestamp."""
    listed = kubectl_json("get", "jobs", "-n", namespace, "-o", "json")["items"]
    return {
        j["metadata"]["labels"][LABEL_BATCHJOB]: j["metadata"]["creationTimestamp"] for j in listed
    }


def test_a_degraded_signal_cuts_the_effective_capacity_and_recovery_raises_it(
    operator, namespace, signal
):
    dep = unique("health-db", namespace)
    create(dependency(dep, 6, health=health(signal.url)))
    status = wait_dep(dep, "healthy", lambda s: s.get("health") == "Healthy")
    assert status["effectiveCapacity"] == 6
    assert condition(status, "SignalAvailable")["status"] == "True"
    assert [(s["name"], s["value"]) for s in status["signals"]] == [("p99", 0.1)]

    signal.value = 1.0  # twice the target: each cut halves the limit (the largest cut allowed)
    status = wait_dep(dep, "at the floor", lambda s: s.get("effectiveCapacity") == 1)
    assert status["health"] == "Degraded"
    assert condition(status, "Throttled")["status"] == "True"
    cuts = [message for reason, message in events(dep) if reason == "CapacityCut"]
    assert sorted(cuts) == [
        "effective capacity 2 -> 1: p99 1 above target 0.5",
        "effective capacity 3 -> 2: p99 1 above target 0.5",
        "effective capacity 6 -> 3: p99 1 above target 0.5",
    ]

    for i in range(4):
        create(
            batchjob(f"bj-{i}", delay="120s", uses=[{"dependency": dep, "units": 1}], priority=-i),
            namespace,
        )
    wait_phase("bj-0", namespace, "Running")
    waiting = wait_for(
        lambda: (s := status_of("bj-3", namespace)).get("phase") == "Queued" and s,
        timeout=30,
        what="bj-3 waiting",
    )
    assert waiting["message"] == f"waiting for {dep}: effective capacity 1 of 6 (p99 1)"
    assert list(jobs(namespace)) == ["bj-0"]

    signal.value = 0.1  # healthy, all of the limit in use: it grows a step per settleTime
    wait_dep(dep, "recovered", lambda s: s.get("health") == "Healthy")
    wait_for(lambda: len(jobs(namespace)) == 4, timeout=60, what="all four started")
    raised = [message for reason, message in events(dep) if reason == "CapacityRaised"]
    assert "effective capacity 1 -> 2: healthy and fully used (in use: 1)" in raised


def test_the_breaker_opens_admits_one_probe_half_open_and_closes(operator, namespace, signal):
    dep = unique("breaker-db", namespace)
    create(dependency(dep, 4, health=health(signal.url)))
    wait_dep(dep, "healthy", lambda s: s.get("health") == "Healthy")
    signal.value = 9.0
    status = wait_dep(dep, "open", lambda s: (s.get("breaker") or {}).get("state") == "Open")
    assert status["effectiveCapacity"] == 0
    assert condition(status, "CircuitOpen")["status"] == "True"
    for i in range(3):
        create(
            batchjob(f"bj-{i}", delay="60s", uses=[{"dependency": dep, "units": 1}], priority=-i),
            namespace,
        )
    waiting = wait_for(
        lambda: (
            "circuit open" in json.dumps(status_of("bj-0", namespace))
            and status_of("bj-0", namespace)
        ),
        timeout=30,
        what="bj-0 says the circuit is open",
    )
    assert waiting["phase"] == "Queued"
    assert jobs(namespace) == {}

    signal.value = 0.1  # healthy again: half-open at the end of the wait, one probe
    status = wait_dep(
        dep,
        "half-open with a probe",
        lambda s: ((s.get("breaker") or {}).get("probe") or {}).get("name"),
    )
    assert status["breaker"]["probe"] == {
        "namespace": namespace,
        "name": "bj-0",
        "startTime": status["breaker"]["probe"]["startTime"],
    }
    assert condition(status, "Probing")["reason"] == "ProbeRunning"
    status = wait_dep(dep, "closed", lambda s: (s.get("breaker") or {}).get("state") == "Closed")
    assert status["effectiveCapacity"] >= 1
    wait_for(lambda: len(jobs(namespace)) == 3, timeout=60, what="the rest started")
    found = {reason: message for reason, message in events(dep)}
    assert {"CircuitOpen", "CircuitHalfOpen", "CircuitClosed"} <= set(found)
    assert found["CircuitClosed"].startswith(
        f"circuit closed: healthy for 3s after probe {namespace}/bj-0"
    )
    # the probe alone while it was judged: every other Job came after the breaker closed
    closed = next(
        e["lastTimestamp"]
        for e in kubectl_json(
            "get", "events", "-A", "--field-selector", f"involvedObject.name={dep}", "-o", "json"
        )["items"]
        if e["reason"] == "CircuitClosed"
    )
    started = jobs(namespace)
    assert min(started, key=lambda name: started[name]) == "bj-0"
    assert all(started[name] >= closed for name in ("bj-1", "bj-2"))


def test_signal_loss_follows_on_signal_loss(operator, namespace, signal):
    dep = unique("blind-db", namespace)
    spec = health(signal.url, onSignalLoss={"action": "FailClosed", "after": "2s"})
    create(dependency(dep, 4, health=spec))
    wait_dep(dep, "healthy", lambda s: s.get("health") == "Healthy")
    signal.stop()
    status = wait_dep(
        dep, "signals lost", lambda s: condition(s, "SignalAvailable").get("reason") == "SignalLost"
    )
    assert status["effectiveCapacity"] == 0
    assert status["health"] == "Unknown"
    assert status["signals"][0]["value"] == 0.1  # the last good read stays shown
    assert "unreachable" in status["signals"][0]["error"]
    create(batchjob("bj", uses=[{"dependency": dep, "units": 1}]), namespace)
    wait_for(
        lambda: status_of("bj", namespace).get("reason") == "WaitingForDependency",
        timeout=30,
        what="bj waits",
    )
    assert jobs(namespace) == {}


def test_dry_run_shows_the_cut_and_admits_by_capacity(operator, namespace, signal):
    dep = unique("dry-db", namespace)
    create(dependency(dep, 4, health=health(signal.url, dryRun=True)))
    signal.value = 1.0
    status = wait_dep(dep, "cut shown", lambda s: s.get("effectiveCapacity", 4) <= 2)
    assert condition(status, "DryRun")["status"] == "True"
    for i in range(4):
        create(batchjob(f"bj-{i}", delay="60s", uses=[{"dependency": dep, "units": 1}]), namespace)
    wait_for(lambda: len(jobs(namespace)) == 4, timeout=60, what="all four started")


def test_a_secret_the_chart_does_not_name_is_not_readable(operator, namespace, signal):
    dep = unique("forbidden-db", namespace)
    spec = health(signal.url)
    spec["signals"][0]["bearerTokenSecretRef"] = {"name": "not-listed", "key": "token"}
    create(dependency(dep, 4, health=spec))
    status = wait_dep(dep, "unread", lambda s: (s.get("signals") or [{}])[0].get("error"))
    assert "403" in status["signals"][0]["error"]
    assert signal.reads == 0
    assert get("dependency", dep) is not None


def test_an_open_breaker_survives_an_operator_kill(operator, namespace, signal):
    dep = unique("restart-db", namespace)
    spec = health(signal.url)
    spec["breaker"] = {"baseWait": "30s", "maxWait": "60s", "observeFor": "3s", "jitter": 0}
    create(dependency(dep, 4, health=spec))
    wait_dep(dep, "healthy", lambda s: s.get("health") == "Healthy")
    signal.value = 9.0
    opened = wait_dep(dep, "open", lambda s: (s.get("breaker") or {}).get("state") == "Open")
    operator.kill()
    signal.value = 0.1  # healthy now, but the wait is not over: it stays open until openUntil
    create(batchjob("bj", uses=[{"dependency": dep, "units": 1}]), namespace)
    operator.start()
    wait_for(
        lambda: (s := status_of("bj", namespace)).get("phase") == "Queued" and s,
        timeout=30,
        what="bj waiting",
    )
    status = wait_dep(dep, "read again", lambda s: s["signals"][0]["value"] == 0.1)
    assert status["breaker"] == opened["breaker"]  # the same opening, not a new one
    assert status["effectiveCapacity"] == 0
    assert jobs(namespace) == {}
