"""A restart with finished BatchJobs at rest, offline: no cluster, the operator's own startup.

The operator starts against a fake API server that lists BENCH_REST_N finished one-shot
BatchJobs (and, with --jobs, their finished Jobs), as the API server sends them: pages of
LIST_PAGE objects as JSON text with managedFields, defaults and the status bulkhead wrote.
It runs the startup path of a restart (every listing into the store, then a reconcile of every
key) and reports the seconds until the last reconcile began (as bench/run.py times it), the API
calls it made (a restart at rest makes no write), and, with --memory, what the operator holds
after it (tracemalloc; the timing is then tracemalloc's). With --profile, the top costs under
cProfile. Each run varies with what else the machine runs: take the best of a few.

    PYTHONPATH=operator python bench/offline_restart.py [--jobs] [--memory] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.kube.rest import LIST_PAGE
from bulkhead.metrics import Metrics
from bulkhead.operator import LISTED, Operator, freeze_startup_objects, fresh_deps
from bulkhead.policy.build import build_job, job_name
from bulkhead.settings import Settings

REST_N = int(os.environ.get("BENCH_REST_N", "10000"))
NAMESPACE = "bench-rest"
CREATED, STARTED, DONE = "2026-11-23T16:28:02Z", "2026-11-23T16:28:04Z", "2026-11-23T16:28:06Z"
# The bench's BatchJob (bench/run.py) as the API server stores it: the CRD's defaults applied.
SPEC: dict[str, Any] = {
    "backoffLimit": 3,
    "catchUp": "Latest",
    "completions": 1,
    "concurrencyPolicy": "Forbid",
    "failedRunsHistoryLimit": 3,
    "image": "registry.example/bench:1.0",
    "jitterSeconds": 0,
    "maxCatchUpRuns": 5,
    "parallelism": 1,
    "podMetadata": {"annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
    "priority": 0,
    "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
    "successfulRunsHistoryLimit": 3,
    "suspend": False,
    "ttlSecondsAfterFinished": 0,
}


def managed(manager: str, operation: str, fields: dict[str, Any], sub: str = "") -> dict[str, Any]:
    entry = {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": operation,
        "time": DONE,
    }
    return {**entry, "subresource": sub} if sub else entry


def batchjob(i: int) -> dict[str, Any]:
    """A one-shot BatchJob that succeeded, with the status bulkhead wrote for it."""
    name, uid = f"rest-{i}", f"0b7c{i:08d}-5f1e-4c7a-9d1e-3a6b2f0c{i % 10000:04d}"
    job = job_name(name, uid)
    message = f"Job {job} succeeded: 1 of 1 completions succeeded"
    conditions = [
        {
            "lastTransitionTime": DONE if kind != "Stalled" else STARTED,
            "message": message,
            "observedGeneration": 1,
            "reason": "Succeeded",
            "status": "True" if kind in ("Ready", "Succeeded") else "False",
            "type": kind,
        }
        for kind in ("Ready", "Reconciling", "Stalled", "Succeeded")
    ]
    spec_fields = {f"f:{k}": {} for k in ("image", "podMetadata", "resources")}
    status_fields = {
        f"f:{k}": {}
        for k in ("active", "completionTime", "conditions", "failed", "jobName", "message")
    }
    return {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "kind": "BatchJob",
        "metadata": {
            "creationTimestamp": CREATED,
            "generation": 1,
            "managedFields": [
                managed("OpenAPI-Generator", "Update", {"f:spec": spec_fields}),
                managed("bulkhead", "Update", {"f:status": status_fields}, "status"),
            ],
            "name": name,
            "namespace": NAMESPACE,
            "resourceVersion": str(100000 + i),
            "uid": uid,
        },
        "spec": SPEC,
        "status": {
            "active": 0,
            "completionTime": DONE,
            "conditions": conditions,
            "failed": 0,
            "jobName": job,
            "message": message,
            "observedGeneration": 1,
            "phase": "Succeeded",
            "reason": "Succeeded",
            "startTime": STARTED,
            "succeeded": 1,
        },
    }


def finished_job(bj: dict[str, Any]) -> dict[str, Any]:
    """The Job of `bj`'s run as the Job controller leaves it once it completed."""
    meta = bj["metadata"]
    body = build_job(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta["uid"],
        spec=BatchJobSpec.model_validate(bj["spec"]),
    )
    body["metadata"].update(
        uid=f"job-{meta['uid']}", creationTimestamp=CREATED, resourceVersion=meta["resourceVersion"]
    )
    body["status"] = {
        "completionTime": DONE,
        "conditions": [
            {
                "lastProbeTime": DONE,
                "lastTransitionTime": DONE,
                "message": "Reached expected number of succeeded pods",
                "reason": "CompletionsReached",
                "status": "True",
                "type": kind,
            }
            for kind in ("SuccessCriteriaMet", "Complete")
        ],
        "ready": 0,
        "startTime": STARTED,
        "succeeded": 1,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    return body


def pages(items: list[dict[str, Any]]) -> list[bytes]:
    """The listing's responses, as the bytes the API server sends."""
    return [
        json.dumps(
            {"items": items[i : i + LIST_PAGE], "metadata": {"resourceVersion": "1"}}
        ).encode()
        for i in range(0, max(len(items), 1), LIST_PAGE)
    ]


class RestingApiServer:
    """Lists what is at rest (each page parsed from its bytes, as Kube does); watches tell
    nothing; any other call is counted and answers nothing."""

    def __init__(self, listed: dict[str, list[bytes]]) -> None:
        self.listed = listed
        self.calls: Counter[str] = Counter()

    async def list_pages(
        self, path: str, label_selector: str = "", field_selector: str = ""
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
        for page in self.listed.get(path, []):
            await asyncio.sleep(0)
            yield json.loads(page)["items"], "1"

    async def watch(self, *args: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        await asyncio.Event().wait()
        yield "BOOKMARK", {}

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> None:
            self.calls[name] += 1

        return call


async def restart(server: RestingApiServer, n: int) -> tuple[float, float, Operator]:
    """Seconds (wall clock and CPU) from the start of an operator (default settings) to its
    n-th reconcile begun: what bench/run.py times as a restart."""
    metrics = Metrics()
    started, cpu = time.perf_counter(), time.process_time()
    operator = Operator(fresh_deps(server, metrics, Settings.from_env({})))  # type: ignore[arg-type]
    operator.start()
    while (metrics.registry.get_sample_value("bulkhead_reconciles_total") or 0) < n:
        await asyncio.sleep(0.001)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await operator.stop()
    return seconds, cpu, operator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", action="store_true", help="their finished Jobs listed too")
    parser.add_argument("--memory", action="store_true", help="the store's size (tracemalloc)")
    parser.add_argument("--profile", action="store_true", help="the top costs (cProfile)")
    args = parser.parse_args()
    bodies = [batchjob(i) for i in range(REST_N)]
    listed = {LISTED["batchjobs"][0]: pages(bodies)}
    if args.jobs:
        listed[LISTED["jobs"][0]] = pages([finished_job(bj) for bj in bodies])
    del bodies
    freeze_startup_objects()  # as the operator process does before it starts
    server = RestingApiServer(listed)
    if args.memory:
        tracemalloc.start()
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    seconds, cpu, operator = asyncio.run(restart(server, REST_N))  # what it holds: --memory
    if profile:
        profile.disable()
    print(
        f"{REST_N} finished BatchJobs{' and their Jobs' if args.jobs else ''}: ready in "
        f"{seconds:.2f} s, {cpu:.2f} CPU-s{' (under cProfile)' if profile else ''}; "
        f"API calls beyond the listings: {dict(server.calls) or 0}"
    )
    if args.memory:
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        print(
            f"what the operator holds after it ({len(list(operator.deps.store.all_batchjobs()))} "
            f"BatchJobs in its store, and its caches): {held / 2**20:.1f} MiB"
        )
    if profile:
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
