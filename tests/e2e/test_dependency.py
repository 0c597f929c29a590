"""Dependency budgets on the real cluster: exact under load, restarts and crosswise use."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    all_phase,
    batchjob,
    dependency,
    status_of,
    unique,
    wait_phase,
    wait_reason,
)
from tests.support.sampler import ActiveSampler


def run_thirty_through_capacity_two(operator, namespace: str, kills: int) -> ActiveSampler:
    dep = unique("db", namespace)
    create(dependency(dep, 0))  # closed while the queue fills, so priority decides the order
    jobs = [
        batchjob(f"bj-{i:02d}", delay="2s", priority=i % 3, uses=[{"dependency": dep, "units": 1}])
        for i in range(30)
    ]
    create(jobs, namespace)
    wait_for(lambda: all_phase(namespace, "Queued", 30), timeout=60, what="30 Queued")
    sampler = ActiveSampler(namespace)
    sampler.start()
    kubectl("patch", "dependency", dep, "--type=merge", "-p", '{"spec":{"capacity":2}}')
    try:
        for k in range(kills):
            wait_for(
                lambda k=k: len(sampler.first_seen) >= 6 * (k + 1),
                timeout=120,
                what="progress before the kill",
            )
            operator.kill()
            operator.start()
        wait_for(lambda: all_phase(namespace, "Succeeded", 30), timeout=240, what="30 Succeeded")
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    return sampler


def priority_of(name: str) -> int:
    return int(name.split("-")[1]) % 3


def test_capacity_two_never_exceeded_and_priority_kept(operator, namespace):
    sampler = run_thirty_through_capacity_two(operator, namespace, kills=0)
    assert sampler.samples > 50
    assert sampler.peak <= 2, f"saw {sampler.peak} active Jobs at once"
    assert sampler.peak == 2, "the budget was never used fully"
    order = [priority_of(n) for n in sampler.first_seen]
    assert len(order) == 30
    # Higher priority first; within a sample two may appear together, so allow one swap.
    assert order[:10].count(2) >= 9 and order[-10:].count(0) >= 9, order


def test_capacity_holds_across_two_sigkills(operator, namespace):
    sampler = run_thirty_through_capacity_two(operator, namespace, kills=2)
    assert sampler.peak <= 2, f"saw {sampler.peak} active Jobs at once"
    jobs = get("jobs", namespace=namespace)
    assert len(jobs) == 30, "no duplicate Jobs after the restarts"


def test_crosswise_dependencies_do_not_deadlock(operator, namespace):
    x, y = unique("x", namespace), unique("y", namespace)
    create([dependency(x, 1), dependency(y, 1)])
    try:
        items = [
            batchjob(f"a-{i}", uses=[{"dependency": x}, {"dependency": y}]) for i in range(5)
        ] + [batchjob(f"b-{i}", uses=[{"dependency": y}, {"dependency": x}]) for i in range(5)]
        create(items, namespace)
        wait_for(lambda: all_phase(namespace, "Succeeded", 10), timeout=120, what="10 Succeeded")
    finally:
        kubectl("delete", "dependency", x, y, "--wait=false")


def _window_around(now: datetime, open_: bool) -> dict[str, Any]:
    start = now - timedelta(hours=1) if open_ else now + timedelta(hours=2)
    end = now + timedelta(hours=1) if open_ else now + timedelta(hours=3)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timeZone": "UTC"}


def test_closed_window_holds_work_until_it_opens(operator, namespace):
    dep = unique("win", namespace)
    now = datetime.now(UTC)
    create(dependency(dep, 5, windows=[_window_around(now, open_=False)]))
    try:
        create(batchjob("nightly", uses=[{"dependency": dep}]), namespace)
        wait_reason("nightly", namespace, "WaitingForWindow")
        status = status_of("nightly", namespace)
        assert status["phase"] == "Queued"
        assert status["queue"] == {"dependency": dep}
        line = wait_for(
            lambda: get("dependency", dep).get("status", {}).get("queue"), timeout=10, what="line"
        )
        assert line == [{"position": 1, "namespace": namespace, "name": "nightly", "units": 1}]
        time.sleep(2)
        assert get("jobs", namespace=namespace) == []
        window = _window_around(now, open_=True)
        kubectl(
            "patch",
            "dependency",
            dep,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"windows": [window]}}),
        )
        wait_phase("nightly", namespace, "Succeeded")
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")


def test_namespace_not_allowed_is_refused_until_labelled(operator, namespace):
    dep = unique("private", namespace)
    create(dependency(dep, 1, allowedNamespaces={"matchLabels": {"team": "billing"}}))
    try:
        create(batchjob("outsider", uses=[{"dependency": dep}]), namespace)
        wait_reason("outsider", namespace, "NamespaceNotAllowed")
        assert get("jobs", namespace=namespace) == []
        kubectl("label", "namespace", namespace, "team=billing")
        wait_phase("outsider", namespace, "Succeeded")
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")


def test_missing_dependency_stalls_then_starts_once_created(operator, namespace):
    dep = unique("later", namespace)
    create(batchjob("early", uses=[{"dependency": dep}]), namespace)
    wait_reason("early", namespace, "DependencyNotFound")
    assert get("jobs", namespace=namespace) == []
    create(dependency(dep, 1))
    try:
        wait_phase("early", namespace, "Succeeded")
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")


def test_metrics_show_the_dependency(operator, namespace):
    dep = unique("metered", namespace)
    create(dependency(dep, 3))
    try:
        create(batchjob("m", uses=[{"dependency": dep}]), namespace)
        wait_phase("m", namespace, "Succeeded")
        wait_for(
            lambda: f'bulkhead_dependency_capacity{{dependency="{dep}"}} 3.0' in operator.metrics(),
            timeout=10,
            what="capacity metric",
        )
        text = operator.metrics()
        assert "bulkhead_admission_seconds_count" in text
        assert 'bulkhead_batchjobs{phase="Succeeded"}' in text
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")
