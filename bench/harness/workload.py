"""What the phases create: namespaces, Dependencies, BatchJobs, and raw Jobs of the same pod
shape, all at once or at a fixed rate."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.policy.build import build_job

from bench.harness import log
from bench.harness.settings import CREATORS, PROGRESS_EVERY, SPEC


def create_namespace(name: str, labels: dict[str, str] | None = None) -> None:
    """Creates namespace name (with `labels`) and returns once its default ServiceAccount
    exists (at most 30 s later)."""
    kubernetes.client.CoreV1Api().create_namespace(
        {"metadata": {"name": name, "labels": labels or {}}}
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kubernetes.client.CoreV1Api().read_namespaced_service_account("default", name)
            return
        except kubernetes.client.ApiException:
            time.sleep(0.1)


def create_dependency(name: str, capacity: int, **spec: Any) -> None:
    """Creates Dependency name of `capacity` units, `spec` on top."""
    kubernetes.client.CustomObjectsApi().create_cluster_custom_object(
        "bulkhead.dev",
        "v1alpha1",
        "dependencies",
        {
            "apiVersion": "bulkhead.dev/v1alpha1",
            "kind": "Dependency",
            "metadata": {"name": name},
            "spec": {"capacity": capacity, **spec},
        },
    )


def batchjob(name: str, **extra: Any) -> dict[str, Any]:
    """Returns BatchJob name of the bench's SPEC, with extra spec fields."""
    return {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name},
        "spec": {**SPEC, **extra},
    }


def raw_job(name: str, namespace: str) -> dict[str, Any]:
    """A plain Job of the same pod shape as a BatchJob's run, owned by nothing."""
    spec = BatchJobSpec.model_validate(SPEC)
    job = build_job(name=name, namespace=namespace, uid=name, spec=spec)
    del job["metadata"]["ownerReferences"]
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        labels.pop("bulkhead.dev/batchjob-uid")
    job["metadata"]["labels"]["bulkhead.dev/batchjob"] = name
    return job


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
            # a raw Job is known by its label, else its name, as the Watcher knows it
            meta = body["metadata"]
            created[meta["labels"].get("bulkhead.dev/batchjob") or meta["name"]] = time.monotonic()
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
