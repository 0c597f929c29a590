"""Faults a production cluster brings, injected in the middle of a stream of BatchJobs through
a Dependency of capacity 2: the budget holds, every BatchJob ends right with one Job, no unit
leaks, and the operator recovers by itself (the same process throughout)."""

from __future__ import annotations

import signal
import time

from conftest import WATCH_CLIENT_TIMEOUT, WATCH_SERVER_TIMEOUT
from kube_helpers import kubectl, wait_for
from stream import Stream, check_stream, run_stream
from test_batchjob import jobs_of

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
    (its Job with it) and etcd is compacted; the API server restarts, so its watch cache is
    gone too: every watch resumes with 410 Gone and kopf lists again, which reports no
    deletion. The units of the deleted run must be free again, and no other holder lost or
    counted twice."""
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
            cluster.restart("kube-apiserver")
        finally:
            operator.proc.send_signal(signal.SIGCONT)

    stream = run_stream(cluster, operator, namespace, fault)
    check_stream(stream, operator, namespace, pid)
    record(measured, stream, frozen_s=FREEZE, **stream.extra)
