"""Runs started by events on the local cluster (issue 24): CloudEvents posted to the operator's
endpoint with ServiceAccount tokens (TokenReview, SubjectAccessReview), a resent event, refused
callers and bad events; an after chain with the operator SIGKILLed between the other
BatchJob's success and this one's Job; a real RabbitMQ queue worked off by a backlog trigger;
and a burst of 10,000 events through a Dependency of 5."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
import pytest

from tests.support.cloudevents import event, post, send, senders
from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    batchjob,
    condition,
    dependency,
    events_of,
    jobs_of,
    results,
    runs_of,
    status_of,
    unique,
    wait_phase,
    wait_runs,
)
from tests.support.rabbitmq import RABBITMQ_SECRET, RabbitMQ
from tests.support.replicas import leading, start_leader_then_standby
from tests.support.sampler import ActiveSampler, HeldSampler

CLOUD = {"name": "exported", "cloudEvent": {"types": ["order.exported"]}}
TRIGGER_RUN = "bulkhead.dev/trigger-run"


def test_cloud_events_start_one_run_each_and_refused_ones_change_nothing(operator, namespace):
    sender, stranger = senders(namespace)
    create(batchjob("on-export", triggers=[CLOUD]), namespace)
    path = f"/events/{namespace}/on-export/exported"
    port = operator.events_port
    wait_for(lambda: (status_of("on-export", namespace) or {}).get("phase"), what="status")

    assert send(port, path, event("e-1"), None)[0] == 401
    assert send(port, path, event("e-1"), "not-a-token")[0] == 401
    assert send(port, path, event("e-1"), stranger)[0] == 403
    assert send(port, path, event("e-1", type_="order.deleted"), sender)[0] == 422
    assert send(port, f"/events/{namespace}/on-export/nope", event("e-1"), sender)[0] == 404
    assert (
        post(port, path, b"{not json", {"Content-Type": "application/cloudevents+json"}, sender)[0]
        == 400
    )
    assert send(port, path, event("e-big", "x" * 5000), sender)[0] == 413
    assert not (status_of("on-export", namespace) or {}).get("runs")

    assert send(port, path, event("e-1", {"order": 7}), sender)[0] == 202
    assert send(port, path, event("e-1", {"order": 7}), sender)[0] == 200  # resent: no second run
    assert send(port, path, event("e-2", "plain"), sender, binary=True)[0] == 202
    runs = wait_runs(
        "on-export", namespace, "2 succeeded", lambda r: len(results(r, "Succeeded")) == 2
    )
    assert sorted(r["trigger"] for r in runs) == ["exported", "exported"]
    jobs = jobs_of("on-export", namespace)
    assert len(jobs) == 2
    data = {
        env["value"]
        for job in jobs
        for env in job["spec"]["template"]["spec"]["containers"][0]["env"]
        if env["name"] == "BULKHEAD_EVENT_DATA"
    }
    assert data == {'{"order":7}', "plain"}
    assert send(port, path, event("e-2", "plain"), sender)[0] == 200
    [trigger] = status_of("on-export", namespace)["triggers"]
    assert (trigger["runsStarted"], trigger["duplicates"]) == (2, 2)
    assert len(jobs_of("on-export", namespace)) == 2


def test_an_after_chain_starts_exactly_one_run_across_sigkills(operator, namespace):
    """B follows A through a Dependency of 0 units, so its run waits between the decision and
    its Job: the operator is killed while A's Job finishes unseen, and again once B's run is
    recorded, and B still runs once."""
    gate = unique("chain-gate", namespace)
    create(dependency(gate, 0))
    try:
        create(
            batchjob(
                "load",
                triggers=[{"name": "after-extract", "after": {"batchJob": "extract"}}],
                uses=[{"dependency": gate}],
            ),
            namespace,
        )
        create(batchjob("extract", delay="4s"), namespace)
        wait_phase("extract", namespace, "Running")
        operator.kill()
        wait_for(
            lambda: any(
                c["type"] == "Complete" and c["status"] == "True"
                for j in jobs_of("extract", namespace)
                for c in j.get("status", {}).get("conditions") or []
            ),
            timeout=30,
            what="extract's Job complete while the operator is down",
        )
        operator.start()
        runs = wait_runs("load", namespace, "a waiting run", lambda r: len(r) == 1)
        assert runs[0]["result"] == "Deferred" and runs[0]["key"].startswith("extract-")
        operator.kill()
        operator.start()
        kubectl("patch", "dependency", gate, "--type=merge", "-p", '{"spec":{"capacity":1}}')
        wait_runs(
            "load", namespace, "its run succeeded", lambda r: len(results(r, "Succeeded")) == 1
        )
        time.sleep(3)  # a second run would have had time to appear
        assert len(jobs_of("load", namespace)) == 1
        assert len(runs_of("load", namespace)) == 1
        assert status_of("extract", namespace)["phase"] == "Succeeded"
    finally:
        kubectl("delete", "dependency", gate, "--ignore-not-found", check=False)


def test_a_cycle_of_after_triggers_stalls_with_the_reason(operator, namespace):
    create(
        batchjob("ping", triggers=[{"name": "after-pong", "after": {"batchJob": "pong"}}]),
        namespace,
    )
    create(
        batchjob("pong", triggers=[{"name": "after-ping", "after": {"batchJob": "ping"}}]),
        namespace,
    )
    status = wait_for(
        lambda: (s := status_of("ping", namespace)) and s.get("reason") == "TriggerCycle" and s,
        what="ping stalled",
    )
    assert condition(status, "Stalled")["status"] == "True"
    assert "ping -> pong -> ping" in status["message"]
    assert "TriggerCycle" in events_of("ping", namespace)
    refused = create(
        batchjob("self", triggers=[{"name": "again", "after": {"batchJob": "self"}}]),
        namespace,
        check=False,
    )
    assert refused.returncode != 0 and "must name another BatchJob" in refused.stderr


SIGNAL = {"http": {"url": "http://queue.example/api", "jsonPath": "$.messages"}}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"triggers": [{"name": "nothing"}]}, "exactly one of backlog, cloudEvent, after"),
        (
            {"triggers": [{"name": "two", "cloudEvent": {}, "after": {"batchJob": "a"}}]},
            "exactly one of backlog, cloudEvent, after",
        ),
        (
            {"triggers": [{"name": "q", "backlog": {"signal": SIGNAL, "itemsPerRun": 0}}]},
            "itemsPerRun",
        ),
        (
            {"triggers": [{"name": "q", "backlog": {"signal": {}, "itemsPerRun": 1}}]},
            "exactly one of prometheus, http",
        ),
        ({"triggers": [{"name": "Bad_Name", "cloudEvent": {}}]}, "name"),
        (
            {"triggers": [{"name": "a", "cloudEvent": {}}, {"name": "a", "cloudEvent": {}}]},
            "Duplicate value",
        ),
        ({"schedule": "@daily", "triggers": [{"name": "a", "cloudEvent": {}}]}, "not both"),
        ({"eventRuns": {"maxInFlight": 2}}, "set triggers too"),
        (
            {
                "triggers": [{"name": "a", "cloudEvent": {}}],
                "eventRuns": {"maxInFlight": 20, "maxPending": 20},
            },
            "at most 28",
        ),
        (
            {"triggers": [{"name": "a", "after": {"batchJob": "x", "results": ["Missed"]}}]},
            "results",
        ),
    ],
)
def test_bad_triggers_are_refused_with_the_field_named(operator, namespace, fields, named):
    refused = create(batchjob("bad", **fields), namespace, check=False)
    assert refused.returncode != 0 and named in refused.stderr, refused.stderr
    assert get("batchjob", "bad", namespace) is None


def test_a_rabbitmq_backlog_is_worked_off_with_no_extra_runs(
    operator, namespace, rabbitmq_node: RabbitMQ
):
    """500 messages, 10 a run: 50 runs, at most 3 in flight (eventRuns), and none once the
    queue is empty. The kwok pods run no code: a driver takes 10 messages for each run's Job
    that starts."""
    node = rabbitmq_node
    queue = unique("invoices", namespace)
    node.declare(queue)
    node.add_user("watcher", "w4tch3r")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": RABBITMQ_SECRET, "namespace": "bulkhead-system"},
        "stringData": {"username": "watcher", "password": "w4tch3r"},
    }
    kubectl("apply", "-f", "-", input=secret)
    node.publish(queue, 500)
    node.wait_depth(queue, 500)
    backlog = {
        "name": "queue",
        "backlog": {
            "signal": {
                "http": {"url": node.queue_url(queue), "jsonPath": "$.messages"},
                "basicAuth": {"secretName": RABBITMQ_SECRET},
            },
            "itemsPerRun": 10,
            "pollInterval": "1s",
        },
    }
    sampler = ActiveSampler(namespace)
    driver = Driver(node, queue, namespace, per_run=10)
    sampler.start()
    driver.start()
    try:
        create(
            batchjob(
                "drain",
                delay="2s",
                triggers=[backlog],
                eventRuns={"maxInFlight": 3, "maxPending": 8},
            ),
            namespace,
        )
        wait_for(lambda: node.depth(queue) == 0, timeout=240, interval=1, what="queue drained")
        wait_for(
            lambda: all(_finished(j) for j in jobs_of("drain", namespace)),
            timeout=60,
            what="every run ended",
        )
        time.sleep(5)  # five polls of an empty queue
    finally:
        driver.stop()
        sampler.stop()
    # Every Job the driver saw start (the history limits delete the older ones).
    assert len(driver.seen) == 50, sorted(driver.seen)
    assert sampler.peak <= 3
    assert driver.consumed == 500
    status = status_of("drain", namespace)
    [trigger] = status["triggers"]
    assert (trigger["lastValue"], trigger["runsWanted"]) == (0, 0)
    # Runs recorded beyond the 50 were no longer wanted when their turn came: none started.
    assert all(r["result"] in ("Succeeded", "Missed") for r in status["runs"])


def test_ten_thousand_events_through_a_dependency_of_five(operator, namespace):
    """Every event ends as a run, a duplicate or coalesced into a waiting run; never more than
    5 runs hold the Dependency at once."""
    sender, _ = senders(namespace)
    budget = unique("burst-db", namespace)
    create(dependency(budget, 5))
    try:
        create(
            batchjob(
                "burst",
                triggers=[CLOUD],
                uses=[{"dependency": budget}],
                eventRuns={"maxInFlight": 10, "maxPending": 10},
            ),
            namespace,
        )
        wait_for(lambda: (status_of("burst", namespace) or {}).get("phase"), what="status")
        path = f"/events/{namespace}/burst/exported"
        sampler = HeldSampler([namespace])
        sampler.start()

        # Every 20th event is sent twice, as a sender that did not hear the answer would: a
        # resend within the trigger's 64 newest events is a duplicate.
        def deliver(n: int) -> list[int]:
            times = 2 if n % 20 == 0 else 1
            return [
                send(operator.events_port, path, event(f"e-{n}"), sender)[0] for _ in range(times)
            ]

        try:
            with ThreadPoolExecutor(16) as pool:
                codes = Counter(c for sent in pool.map(deliver, range(10_000)) for c in sent)
            wait_for(
                lambda: (
                    (r := runs_of("burst", namespace))
                    and all(x["result"] in ("Succeeded", "Failed") for x in r)
                    and r
                ),
                timeout=120,
                what="every run ended",
            )
        finally:
            sampler.stop()
        # A 503 is sent again: its event may have been recorded already (then a 200).
        assert set(codes) <= {200, 202} and codes[200] + codes[202] == 10_500, codes
        [trigger] = status_of("burst", namespace)["triggers"]
        assert trigger["runsStarted"] + trigger["coalesced"] == 10_000
        assert trigger["duplicates"] == codes[200] >= 500
        # Every Job seen (the history limits delete the older ones): one per run started.
        assert len(sampler.first_seen) == trigger["runsStarted"]
        assert max(s[namespace] for s in sampler.samples) <= 5
    finally:
        kubectl("delete", "dependency", budget, "--ignore-not-found", check=False)


class Driver(threading.Thread):
    """The kwok pods run no code: takes `per_run` messages off `queue` for each Job of the
    namespace that starts, once per Job, as the run itself would."""

    def __init__(self, node: RabbitMQ, queue: str, namespace: str, per_run: int) -> None:
        super().__init__(daemon=True)
        kubernetes.config.load_kube_config(os.environ["KUBECONFIG"])
        self.api = kubernetes.client.BatchV1Api()
        self.node, self.queue, self.namespace, self.per_run = node, queue, namespace, per_run
        self.seen: set[str] = set()  # the Jobs that started
        self.consumed = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for job in self.api.list_namespaced_job(self.namespace, _request_timeout=5).items:
                if job.metadata.name not in self.seen and job.status.start_time:
                    self.seen.add(job.metadata.name)
                    self.consumed += self.node.consume(self.queue, self.per_run)
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _finished(job: dict[str, Any]) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in job.get("status", {}).get("conditions") or []
    )


def test_accepted_events_survive_a_leader_change(replicas, namespace):
    """Events accepted by the leader wait behind a closed gate; the leader is SIGKILLed, the
    standby takes over, and each accepted event runs exactly once."""
    leader, standby = start_leader_then_standby(replicas)
    sender, _ = senders(namespace)
    gate = unique("handover-gate", namespace)
    create(dependency(gate, 0))
    try:
        bounds = {"maxInFlight": 5, "maxPending": 10}
        create(
            batchjob(
                "handover",
                triggers=[CLOUD],
                uses=[{"dependency": gate}],
                eventRuns=bounds,
                successfulRunsHistoryLimit=20,
            ),
            namespace,
        )
        wait_for(lambda: (status_of("handover", namespace) or {}).get("phase"), what="status")
        path = f"/events/{namespace}/handover/exported"
        with pytest.raises(AssertionError, match="503 1 times"):  # the standby does not decide
            send(standby.events_port, path, event("e-0"), sender, retries=1)
        for n in range(10):
            assert send(leader.events_port, path, event(f"e-{n}"), sender)[0] == 202
        leader.kill()
        wait_for(lambda: leading(standby), timeout=30, what="the standby leading")
        for n in range(3):  # resent to the new leader: recorded before the old one answered
            assert send(standby.events_port, path, event(f"e-{n}"), sender)[0] == 200
        kubectl("patch", "dependency", gate, "--type=merge", "-p", '{"spec":{"capacity":5}}')
        runs = wait_runs(
            "handover", namespace, "10 succeeded", lambda r: len(results(r, "Succeeded")) == 10
        )
        assert len({r["key"] for r in runs}) == 10
        assert len(jobs_of("handover", namespace)) == 10
    finally:
        kubectl("delete", "dependency", gate, "--ignore-not-found", check=False)
