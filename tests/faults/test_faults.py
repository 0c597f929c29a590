"""Faults a production cluster brings, injected in the middle of a stream of BatchJobs through
a Dependency of capacity 2: the budget holds, every BatchJob ends right with one Job, no unit
leaks, and the operator recovers by itself (the same process throughout). CloudEvents across
an API server restart: each accepted event runs once."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from tests.faults.stream import (
    WATCH_CLIENT_TIMEOUT,
    WATCH_SERVER_TIMEOUT,
    Stream,
    check_outcome,
    check_stream,
    run_stream,
)
from tests.support.audit import Audit
from tests.support.cloudevents import event, send, senders
from tests.support.kube import create, kubectl, wait_for
from tests.support.objects import (
    all_phase,
    batchjob,
    dependency,
    jobs_of,
    status_of,
    unique,
)

FREEZE = WATCH_CLIENT_TIMEOUT + WATCH_SERVER_TIMEOUT + 2  # outlasts both watch timeouts
DOWN = 5  # seconds a control-plane component stays down


def record(measured: dict, stream: Stream, **extra: object) -> None:
    measured.update(
        peak=stream.sampler.peak,
        first_admission_s=stream.first_admission,
        all_done_s=stream.all_done,
        operator_writes=stream.writes,
        operator_requests=stream.requests,
        **extra,
    )


def test_no_fault_for_comparison(cluster, operator, namespace, measured):
    """The same stream with no fault: what the numbers of the others compare with."""
    pid = operator.proc.pid
    stream = run_stream(cluster, operator, namespace, lambda stream: None)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream)


def test_apiserver_killed_and_restarted(cluster, operator, namespace, measured):
    pid = operator.proc.pid

    def fault(stream: Stream) -> None:
        stream.extra["healthy_s"] = round(cluster.restart("kube-apiserver", down_for=DOWN), 1)

    stream = run_stream(cluster, operator, namespace, fault)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream, down_s=DOWN, **stream.extra)


def test_etcd_restarted(cluster, operator, namespace, measured):
    pid = operator.proc.pid

    def fault(stream: Stream) -> None:
        stream.extra["healthy_s"] = round(cluster.restart("etcd", down_for=DOWN), 1)

    stream = run_stream(cluster, operator, namespace, fault)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream, down_s=DOWN, **stream.extra)


def test_operator_frozen_longer_than_its_watch_timeouts(cluster, operator, namespace, measured):
    pid = operator.proc.pid

    def fault(stream: Stream) -> None:
        operator.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(FREEZE)
        finally:
            operator.proc.send_signal(signal.SIGCONT)

    stream = run_stream(cluster, operator, namespace, fault)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream, frozen_s=FREEZE)


def test_watches_expire_and_the_store_relists(cluster, operator, namespace, measured):
    """While the operator is frozen (after its watches ended), a running BatchJob is deleted
    (its Job with it), etcd is compacted and the API server stops; it starts again once the
    operator resumes, so its watch cache is gone too: every watch resumes with 410 Gone and
    kopf lists again, which reports no deletion. The units of the deleted run must be free
    again, and no other holder lost or counted twice."""
    pid = operator.proc.pid

    def fault(stream: Stream) -> None:
        running = wait_for(
            lambda: next(
                (
                    n
                    for n in stream.names
                    if any(not j.get("status", {}).get("conditions") for j in jobs_of(n, namespace))
                ),
                None,
            ),
            timeout=30,
            what="a running BatchJob",
        )
        operator.proc.send_signal(signal.SIGSTOP)
        try:
            # first outlast the watches open now, so no DELETED waits in a socket buffer
            time.sleep(FREEZE)
            kubectl("delete", "batchjob", running, "-n", namespace, "--cascade=foreground")
            stream.names.remove(running)
            stream.extra["deleted"] = running
            stream.extra["compacted_to"] = cluster.compact()
            cluster.stop_component("kube-apiserver")
        finally:
            operator.proc.send_signal(signal.SIGCONT)
        # started after the operator resumes: until it reads, the killed server's connections
        # to it keep the port (and the operator resumes against a server that is down)
        cluster.start_component("kube-apiserver")

    stream = run_stream(cluster, operator, namespace, fault)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream, frozen_s=FREEZE, **stream.extra)


BURST = 500
BURST_LEAD = 60  # seconds from the first create to the instant every pod ends


def test_a_burst_of_500_job_completions_at_once(cluster, operator, namespace, measured):
    """500 BatchJobs, all admitted under one Dependency of capacity 500, whose pods all end at
    the same instant (kwok's delay given as a time): every BatchJob Succeeded with one Job,
    every unit free again. No sampler: 500 cannot exceed a capacity of 500."""
    pid = operator.proc.pid
    audit = Audit(cluster.dir / "logs" / "audit.log")
    dep = unique("burst", namespace)
    create(dependency(dep, BURST))
    instant = datetime.now(UTC) + timedelta(seconds=BURST_LEAD)
    at = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [f"bj-{i:03d}" for i in range(BURST)]
    mark = audit.mark()
    create(
        [batchjob(n, delay=at, uses=[{"dependency": dep, "units": 1}]) for n in names],
        namespace,
    )
    running = wait_for(
        lambda: all_phase(namespace, "Running", BURST) and datetime.now(UTC),
        timeout=BURST_LEAD,
        interval=1,
        what=f"{BURST} Running before the instant",
    )
    measured["all_running_s_before_instant"] = round((instant - running).total_seconds(), 1)
    time.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))
    ended = time.monotonic()
    wait_for(
        lambda: all_phase(namespace, "Succeeded", BURST),
        timeout=180,
        interval=1,
        what=f"{BURST} Succeeded",
    )
    measured["all_succeeded_s"] = round(time.monotonic() - ended, 1)
    counts = audit.count(mark, audit.mark())
    check_outcome(dep, names, operator, namespace, pid)
    measured.update(operator_writes=counts["mutating"], operator_requests=counts["total"])


def test_cloud_events_across_an_apiserver_restart(cluster, operator, namespace, measured):
    """Events accepted before the restart wait behind a closed gate; more are sent while the
    API server is down (answered 503 until it is back, then sent again): each runs once."""
    pid = operator.proc.pid
    sender, _ = senders(namespace)
    gate = unique("events-gate", namespace)
    create(dependency(gate, 0))
    try:
        create(
            batchjob(
                "on-event",
                triggers=[{"name": "exported", "cloudEvent": {}}],
                uses=[{"dependency": gate}],
                eventRuns={"maxInFlight": 5, "maxPending": 20},
                successfulRunsHistoryLimit=30,
            ),
            namespace,
        )
        wait_for(lambda: (status_of("on-event", namespace) or {}).get("phase"), what="status")
        path = f"/events/{namespace}/on-event/exported"
        for n in range(10):
            assert send(operator.events_port, path, event(f"e-{n}"), sender)[0] == 202
        with ThreadPoolExecutor(1) as pool:
            restarted = pool.submit(cluster.restart, "kube-apiserver", down_for=DOWN)
            time.sleep(1)
            during = [
                send(operator.events_port, path, event(f"e-{n}"), sender, retries=60)[0]
                for n in range(10, 20)
            ]
            healthy_s = restarted.result()
        assert set(during) <= {200, 202}, during  # 200: recorded, its answer lost in the outage
        kubectl("patch", "dependency", gate, "--type=merge", "-p", '{"spec":{"capacity":5}}')
        # status.runs keeps the newest 10 that ended; the Jobs (history limit 30) are all there.
        jobs = wait_for(
            lambda: (
                len(js := jobs_of("on-event", namespace)) == 20
                and all(_complete(j) for j in js)
                and js
            ),
            timeout=90,
            what="20 runs' Jobs complete",
        )
        assert len({j["metadata"]["annotations"]["bulkhead.dev/trigger-run"] for j in jobs}) == 20
        time.sleep(2)  # a second Job of a run would have had time to appear
        assert len(jobs_of("on-event", namespace)) == 20
        [trigger] = status_of("on-event", namespace)["triggers"]
        assert trigger["runsStarted"] == 20
        assert operator.proc.pid == pid and operator.proc.poll() is None
        measured.update(healthy_s=round(healthy_s, 1), down_s=DOWN, answers_during=during)
    finally:
        kubectl("delete", "dependency", gate, "--ignore-not-found", check=False)


def _complete(job: dict) -> bool:
    return any(
        c["type"] == "Complete" and c["status"] == "True"
        for c in job.get("status", {}).get("conditions") or []
    )
