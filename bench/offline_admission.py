"""The admission pass, offline: what one pass of AdmissionController.admit costs with
BENCH_ADMISSION_N (5,000) BatchJobs waiting on one Dependency of capacity 200, all of it held,
as in bench/run.py's admission phase (where a pass follows every Job that finishes).

Each pass frees FREED units (a Job finished) and admits as many; the pure decision
(policy/admission.py admit) and the whole pass (the candidates, the decision, the book and
what it hands out) are timed apart, in milliseconds per pass, the median of PASSES.

    PYTHONPATH=operator python bench/offline_admission.py   (BENCH_PASSES: how many, 200)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bulkhead.api.views import BatchJobView, DependencyView, JobView
from bulkhead.controllers.admission import QUEUE_HEAD, AdmissionController
from bulkhead.controllers.dependency import DependencyController
from bulkhead.controllers.health import HealthController
from bulkhead.controllers.signals import SignalReader
from bulkhead.metrics import Metrics
from bulkhead.monitoring import Monitoring
from bulkhead.policy import admission
from bulkhead.policy.line import Candidate
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.admission import dependency_states
from bulkhead.state.store import Store

WAITING = int(os.environ.get("BENCH_ADMISSION_N", "5000"))
CAPACITY = 200
FREED = 1  # units freed (and admitted) per pass
PASSES = int(os.environ.get("BENCH_PASSES", "200"))
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
NAMESPACE, DEPENDENCY = "bench-admission", "bench-admission-db"
USES = f'[{{"dependency":"{DEPENDENCY}","units":1}}]'


class Quiet:
    """The API server side: the Dependency status the pass publishes goes nowhere."""

    async def patch_dependency_status(self, *args: Any) -> bool:
        return True


def batchjob(i: int) -> BatchJobView:
    return BatchJobView.from_body(
        {
            "metadata": {
                "namespace": NAMESPACE,
                "name": f"adm-{i}",
                "uid": f"uid-{i}",
                "creationTimestamp": f"2026-11-23T01:{i // 3600 % 60:02d}:{i // 60 % 60:02d}Z",
            },
            "spec": {"uses": [{"dependency": DEPENDENCY, "units": 1}]},
        }
    )


def holder(bj: BatchJobView) -> JobView:
    """bj's running Job, holding one unit."""
    return JobView(f"{bj.name}-job", owner_uid=bj.uid, uses=USES, created="2026-11-23T01:59:00Z")


def setup() -> tuple[AdmissionController, Store, list[BatchJobView]]:
    """CAPACITY running, WAITING waiting in line (each told its wait by a first pass)."""
    store = Store()
    store.put_dependency(
        DEPENDENCY,
        DependencyView.from_body(
            {"metadata": {"name": DEPENDENCY, "uid": "d"}, "spec": {"capacity": CAPACITY}}
        ),
    )
    metrics = Metrics()
    health = HealthController(
        Quiet(),  # type: ignore[arg-type]
        store,
        metrics,
        SignalReader(Quiet(), Monitoring(), NAMESPACE),  # type: ignore[arg-type]
        lambda: NOW,
        in_use=lambda name: 0,
        changed=lambda: None,
    )
    dependencies = DependencyController(Quiet(), store, metrics, lambda: NOW, health)  # type: ignore[arg-type]
    controller = AdmissionController(store, WorkQueue(), lambda: NOW, dependencies, health)
    batchjobs = [batchjob(i) for i in range(CAPACITY + WAITING)]
    for bj in batchjobs:
        store.put_batchjob(bj.key, bj)
    for bj in batchjobs[:CAPACITY]:
        store.put_job(bj.key, holder(bj).name, holder(bj))
    for i, bj in enumerate(batchjobs[CAPACITY:]):
        controller.book.waiting.put(
            Candidate(bj.key, 0, bj.created, ((DEPENDENCY, 1),), f"run-{i}")
        )
    controller.admit()
    return controller, store, batchjobs


async def main() -> None:
    controller, store, batchjobs = setup()
    running = list(batchjobs[:CAPACITY])
    decision_ms, pass_ms = [], []
    for _ in range(PASSES):
        for bj in running[:FREED]:  # its Job finished and went (TTL 0)
            store.put_job(bj.key, holder(bj).name, None)
        del running[:FREED]
        states = dependency_states(store, controller.book, NOW)
        started = time.perf_counter()
        admission.admit(
            controller.book.waiting, states, NOW, head=QUEUE_HEAD, told=controller.book.decided
        )
        decision_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        controller.admit()
        pass_ms.append((time.perf_counter() - started) * 1000)
        for key in list(controller.book.admitted):  # its Job is seen
            bj = store.batchjob(key)
            assert bj is not None
            store.put_job(key, holder(bj).name, holder(bj))
            running.append(bj)
    print(
        f"{WAITING} waiting, capacity {CAPACITY}, {FREED} admitted a pass: "
        f"admit() {statistics.median(decision_ms):.2f} ms, "
        f"the whole pass {statistics.median(pass_ms):.2f} ms (medians of {PASSES})"
    )


if __name__ == "__main__":
    asyncio.run(main())
