"""CloudEvents through a cloudEvent trigger: how many events a second the operator's endpoint
answers (a burst of EVENTS_N distinct events), and how long an event waits for its run's Job
when events arrive at EVENTS_RATE per second with room for every run."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any

import kubernetes
from bulkhead.api.constants import ANNOTATION_TRIGGER_RUN
from bulkhead.policy.cloudevent import event_key

from bench.harness import log
from bench.harness.measure import per, process_cpu_seconds
from bench.harness.settings import EVENT_SENDERS, EVENTS_N, EVENTS_RATE, EVENTS_SECONDS
from bench.harness.watch import Watcher
from bench.harness.workload import batchjob, create_dependency, create_namespace
from tests.support.audit import Audit, percentiles
from tests.support.cloudevents import event, send, senders

TRIGGER = "orders"
SOURCE = "/orders"  # the source of tests/support/cloudevents.py's events
# The most runs a trigger may have in flight, and waiting with it: maxInFlight + maxPending is
# at most 28 (every waiting and running run is an entry of status.runs).
EVENT_RUNS = {"maxInFlight": 20, "maxPending": 8}


class Sender:
    """Sends events to one trigger's endpoint, each thread on a connection of its own kept
    alive, and records each answer: "<status> <verdict>" counts, each event's verdict, and the
    milliseconds from its send to its answer (a 503's retries included)."""

    def __init__(self, port: int, namespace: str, batchjob: str, token: str) -> None:
        self.port, self.token = port, token
        self.path = f"/events/{namespace}/{batchjob}/{TRIGGER}"
        self.answers: Counter[str] = Counter()
        self.verdicts: dict[str, str] = {}
        self.answer_ms: list[float] = []
        self._local = threading.local()
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def __call__(self, event_id: str) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self._lock:
                self._connections.append(connection)
        start = time.monotonic()
        status, answer = send(
            self.port, self.path, event(event_id), self.token, connection=connection
        )
        elapsed_ms = (time.monotonic() - start) * 1000
        verdict = answer.get("verdict", "?")
        with self._lock:
            self.answers[f"{status} {verdict}"] += 1
            self.verdicts[event_id] = verdict
            self.answer_ms.append(elapsed_ms)

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


def run(pid: int, audit: Audit, port: int) -> dict[str, Any]:
    """The burst, then the steady stream, against the operator process `pid` serving events
    on `port`."""
    result = burst(pid, audit, port)
    log(f"  events at {EVENTS_RATE:g}/s for {EVENTS_SECONDS:g} s")
    result.update(steady(pid, audit, port))
    return result


def _sending_namespace(name: str) -> str:
    """Creates namespace name, whose ServiceAccount `sender` may trigger its BatchJobs; returns
    its token. One namespace per stream: a watch of its Jobs sees that stream's runs alone."""
    create_namespace(name)
    return senders(name)[0]


def burst(pid: int, audit: Audit, port: int) -> dict[str, Any]:
    """EVENTS_N distinct events sent as fast as EVENT_SENDERS threads can to a BatchJob that uses
    no Dependency: the events per second answered (from the first send to the last answer),
    the answers, their latency, and what became of the events (most are coalesced into
    waiting runs by design: at most EVENT_RUNS are in flight or waiting)."""
    namespace, name = "bench-events-burst", "burst"
    token = _sending_namespace(namespace)
    _create_triggered(namespace, name)
    jobs = Watcher(namespace, "jobs", job_key=ANNOTATION_TRIGGER_RUN)
    sender = Sender(port, namespace, name, token)
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    start = time.monotonic()
    with ThreadPoolExecutor(EVENT_SENDERS) as pool:
        list(pool.map(sender, [f"burst-{i}" for i in range(EVENTS_N)]))
    seconds = time.monotonic() - start
    sender.close()
    trigger = _trigger_status(namespace, name)
    jobs.wait(trigger["runsStarted"], timeout=900)  # the runs end before the next stream
    requests = audit.count(mark, audit.mark())
    cpu = process_cpu_seconds(pid) - cpu_before
    jobs.stop()
    return {
        "events_n": EVENTS_N,
        "events_per_second": round(EVENTS_N / seconds, 1),
        "events_answers": dict(sender.answers.most_common()),
        "events_answer_ms": percentiles(sender.answer_ms),
        "events_trigger_status": {
            k: trigger.get(k, 0) for k in ("runsStarted", "coalesced", "duplicates")
        },
        "events_failed": len(jobs.failed),
        "events_mutating_requests_per_event": round(requests["mutating"] / EVENTS_N, 3),
        "events_mutating_per_event_by_request": per(requests["by"], EVENTS_N),
        "events_operator_cpu_ms_per_event": round(cpu * 1000 / EVENTS_N, 2),
    }


def steady(pid: int, audit: Audit, port: int) -> dict[str, Any]:
    """Events at EVENTS_RATE per second for EVENTS_SECONDS, an open loop (each sent at its
    time, however slow the answers before it), to a BatchJob whose runs use a Dependency with
    room for all of them, pods of 1 s: per event, the milliseconds from its send to its run's
    Job first seen, matched by the Job's annotation bulkhead.dev/trigger-run
    (<trigger>/<event_key(source, id)>). With room, no event should be coalesced."""
    namespace, name = "bench-events-steady", "steady"
    token = _sending_namespace(namespace)
    create_dependency("bench-events-db", 100)
    uses = [{"dependency": "bench-events-db", "units": 1}]
    _create_triggered(namespace, name, uses=uses)
    jobs = Watcher(namespace, "jobs", job_key=ANNOTATION_TRIGGER_RUN)
    sender = Sender(port, namespace, name, token)
    count = max(int(EVENTS_RATE * EVENTS_SECONDS), 1)
    sent: dict[str, float] = {}  # the Job's trigger-run annotation -> when its event was due
    cpu_before = process_cpu_seconds(pid)
    mark = audit.mark()
    start = time.monotonic()
    with ThreadPoolExecutor(EVENT_SENDERS) as pool:
        pending = []
        for i in range(count):
            event_id, due = f"steady-{i}", start + i / EVENTS_RATE
            time.sleep(max(0.0, due - time.monotonic()))
            # from when it was due: a sender thread late to send it is part of its wait
            sent[f"{TRIGGER}/{event_key(SOURCE, event_id)}"] = due
            pending.append(pool.submit(sender, event_id))
        for future in pending:
            future.result()
    sender.close()
    jobs.wait(_trigger_status(namespace, name)["runsStarted"], timeout=600)
    requests = audit.count(mark, audit.mark())
    cpu = process_cpu_seconds(pid) - cpu_before
    jobs.stop()
    to_job = [(jobs.added[key] - due) * 1000 for key, due in sent.items() if key in jobs.added]
    coalesced = sum(1 for verdict in sender.verdicts.values() if verdict == "Coalesced")
    if coalesced:
        log(f"  {coalesced} of {count} events coalesced at {EVENTS_RATE:g}/s with room")
    return {
        "events_steady_n": count,
        "events_to_job_ms": {**percentiles(to_job), "max": round(max(to_job, default=0), 1)},
        "events_steady_answer_ms": percentiles(sender.answer_ms),
        "events_steady_answers": dict(sender.answers.most_common()),
        "events_steady_coalesced": coalesced,
        "events_steady_failed": len(jobs.failed),
        "events_steady_mutating_requests_per_event": round(requests["mutating"] / count, 2),
        "events_steady_operator_cpu_ms_per_event": round(cpu * 1000 / count, 2),
    }


def _create_triggered(namespace: str, name: str, **spec: Any) -> None:
    """Creates BatchJob name in namespace, with the cloudEvent trigger TRIGGER and EVENT_RUNS,
    `spec` on top; returns once the operator has given it a status (its endpoint then knows
    it)."""
    body = batchjob(
        name,
        triggers=[{"name": TRIGGER, "cloudEvent": {"types": ["order.exported"]}}],
        eventRuns=EVENT_RUNS,
        **spec,
    )
    kubernetes.client.CustomObjectsApi().create_namespaced_custom_object(
        "bulkhead.dev", "v1alpha1", namespace, "batchjobs", body
    )
    deadline = time.monotonic() + 60
    while not _status(namespace, name).get("phase"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: no status within 60 s")
        time.sleep(0.2)


def _trigger_status(namespace: str, name: str) -> dict[str, Any]:
    """BatchJob name's status.triggers[0]: TRIGGER's runsStarted, coalesced, duplicates."""
    [trigger] = _status(namespace, name)["triggers"]
    return dict(trigger)


def _status(namespace: str, name: str) -> dict[str, Any]:
    body: Any = kubernetes.client.CustomObjectsApi().get_namespaced_custom_object(
        "bulkhead.dev", "v1alpha1", namespace, "batchjobs", name
    )
    return dict(body.get("status") or {})
