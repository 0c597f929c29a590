"""Kueue on the local cluster (hack/cluster/kueue.py), started from its build and its module's
CRDs: it admits suspended Jobs through a ClusterQueue's quota of an extended resource that the
kwok nodes advertise, and leaves alone the Jobs that name no queue (bulkhead's, in CI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hack.cluster import Kueue, start_kueue
from tests.support.kube import condition, create, get, kubectl, wait_condition
from tests.support.sampler import AdmittedSampler

QUEUE_NAME = "kueue.x-k8s.io/queue-name"
ORDERS_DB = "bulkhead.dev/orders-db"
JOBS = 6


@pytest.fixture
def kueue(cluster, tmp_path) -> Iterator[Kueue]:
    process = start_kueue(cluster.kubeconfig, cluster.bin_dir, tmp_path / "kueue")
    yield process
    process.stop()


def queues(name: str, namespace: str) -> list[dict]:
    """A ResourceFlavor, a ClusterQueue of `name` with 2 units of ORDERS_DB (and ample cpu),
    and the LocalQueue `name` in namespace that points at it."""
    return [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ResourceFlavor",
            "metadata": {"name": name},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", ORDERS_DB],
                        "flavors": [
                            {
                                "name": name,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "100"},
                                    {"name": ORDERS_DB, "nominalQuota": "2"},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterQueue": name},
        },
    ]


def job(name: str, queue: str | None) -> dict:
    """A Job whose pod takes 1 unit of ORDERS_DB and 100m cpu for 1 s. With a queue: suspended
    and labelled with it, as Kueue's webhook (not registered here) would leave it."""
    labels = {QUEUE_NAME: queue} if queue else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "suspend": queue is not None,
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {
                                "requests": {"cpu": "100m", ORDERS_DB: "1"},
                                "limits": {ORDERS_DB: "1"},
                            },
                        }
                    ],
                },
            },
        },
    }


def test_kueue_admits_jobs_within_quota_and_ignores_unlabelled(kueue, namespace):
    create(queues(namespace, namespace))
    try:
        wait_condition("clusterqueue", namespace, None, "Active", timeout=30)
        wait_condition("localqueue", namespace, namespace, "Active", timeout=30)
        sampler = AdmittedSampler(namespace)
        sampler.start()
        try:
            names = [f"queued-{i}" for i in range(JOBS)]
            create([job(name, namespace) for name in names], namespace)
            create(job("unqueued", None), namespace)
            for name in names:
                wait_condition("job", name, namespace, "Complete", timeout=60)
        finally:
            sampler.stop()
        assert (sampler.peak, sampler.samples > 20) == (2, True)

        unqueued = wait_condition("job", "unqueued", namespace, "Complete", timeout=30)
        assert QUEUE_NAME not in unqueued["metadata"].get("labels", {})
        workloads = get("workloads.kueue.x-k8s.io", namespace=namespace)
        owners = sorted(w["metadata"]["ownerReferences"][0]["name"] for w in workloads)
        finished = [condition(w, "Finished")["status"] for w in workloads]
        assert (owners, finished) == (names, ["True"] * JOBS)
        assert kueue.proc.poll() is None  # still running: nothing here made it exit
    finally:
        kubectl("delete", "localqueue", namespace, "-n", namespace, "--ignore-not-found")
        kubectl("delete", "clusterqueue,resourceflavor", namespace, "--ignore-not-found")
