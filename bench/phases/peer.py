"""bulkhead beside Kueue on the same workload, on one cluster (issue 26). A shared service's
budget is, in bulkhead, a Dependency of `capacity` that BatchJobs `use` 1 unit of; in Kueue, a
ClusterQueue's quota of the extended resource bulkhead.dev/orders-db (the kwok nodes advertise
it, so it never keeps a pod from scheduling), that Jobs request 1 unit of and reach through a
LocalQueue. Same N, same pods (1 s), same capacity. Each round runs bulkhead, then Kueue, each
through two workloads in fresh namespaces: a big queue (PEER_N behind PEER_N / 25: admissions
per second) and a latency one (PEER_LATENCY_N behind 10: create to start, freed to next).
Medians over PEER_ROUNDS rounds, with each round's values.

Kueue runs as a process (hack/cluster/kueue.py) that the phase starts and stops, under the
ServiceAccount kueue-system/kueue-controller-manager, bound to cluster-admin (what it may do
does not change what it asks), whose requests the cluster's audit policy logs as it logs
bulkhead's: each system's writes come from the API server's audit log. A Job starts when a
watch first sees it unsuspended: Kueue unsuspends the Jobs it admits, bulkhead creates its
Jobs at admission. Each controller's CPU and peak memory come from /proc the same way (its
VmHWM reset at each run's start). Both controllers run through every run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kubernetes

from bench.harness import log
from bench.harness.measure import (
    Load,
    freed_to_next_ms,
    peak_rss_mib,
    per,
    process_cpu_seconds,
    reset_peak_rss,
    rss_mib,
)
from bench.harness.results import medians
from bench.harness.settings import PEER_LATENCY_CAPACITY, PEER_LATENCY_N, PEER_N, PEER_ROUNDS
from bench.harness.watch import Watcher
from bench.harness.workload import (
    batchjob,
    create_all,
    create_dependency,
    create_namespace,
    raw_job,
)
from hack.cluster import start_kueue
from hack.install import service_account_kubeconfig
from tests.support.audit import KUEUE_USER, OPERATOR_USER, Audit, percentiles

SYSTEMS = ("bulkhead", "kueue")
KUEUE_NAMESPACE, KUEUE_ACCOUNT = KUEUE_USER.rsplit(":", 2)[1:]
KUEUE_API = ("kueue.x-k8s.io", "v1beta2")
QUEUE_NAME = "kueue.x-k8s.io/queue-name"
ORDERS_DB = "bulkhead.dev/orders-db"


def workloads() -> dict[str, tuple[int, int]]:
    """The phase's two workloads: name -> (Jobs, capacity)."""
    return {
        "big": (PEER_N, max(PEER_N // 25, 2)),
        "latency": (PEER_LATENCY_N, PEER_LATENCY_CAPACITY),
    }


def run(cluster: Any, operator_pid: int, audit: Audit, load: Load) -> dict[str, Any]:
    """Runs both systems through both workloads PEER_ROUNDS times; returns {"peer": {"rounds",
    "workloads", "systems": {"bulkhead": {"median", "runs", "rss_mib"}, "kueue": {...}}},
    "peer_failed": Jobs failed}."""
    work = cluster.dir / "bench"
    kueue = start_kueue(kueue_identity(work / "kueue-kubeconfig"), cluster.bin_dir, work / "kueue")
    controllers = {"bulkhead": (operator_pid, OPERATOR_USER), "kueue": (kueue.pid, KUEUE_USER)}
    runs: dict[str, list[dict[str, Any]]] = {system: [] for system in SYSTEMS}
    try:
        load = Load(cluster, load.operator, {"kueue": kueue.pid})
        rss_start = {system: rss_mib(pid) for system, (pid, _) in controllers.items()}
        for r in range(PEER_ROUNDS):
            for system in SYSTEMS:
                pid, user = controllers[system]
                figures = {}
                for name, (n, capacity) in workloads().items():
                    log(f"  round {r + 1}: {system}, {n} Jobs behind {capacity}")
                    namespace = f"bench-peer-{system}-{name}-{r}"
                    figures[name] = one_run(system, namespace, n, capacity, audit, load, pid, user)
                runs[system].append(figures)
        rss_end = {system: rss_mib(pid) for system, (pid, _) in controllers.items()}
    finally:
        kueue.stop()
    peer: dict[str, Any] = {"rounds": PEER_ROUNDS, "workloads": workloads(), "systems": {}}
    for system in SYSTEMS:
        peaks = [f[w]["controller_peak_rss_mib"] for f in runs[system] for w in f]
        peer["systems"][system] = {
            "median": medians(runs[system]),
            "runs": runs[system],
            "rss_mib": {"start": rss_start[system], "end": rss_end[system], "peak": max(peaks)},
        }
    failed = sum(f[w]["failed"] for s in SYSTEMS for f in runs[s] for w in f)
    return {"peer": peer, "peer_failed": failed}


def one_run(
    system: str,
    namespace: str,
    n: int,
    capacity: int,
    audit: Audit,
    load: Load,
    pid: int,
    user: str,
) -> dict[str, Any]:
    """n Jobs created at once in a fresh namespace, waiting on a budget of `capacity` in
    `system`, whose controller is process `pid` and API user `user`; returns what the run
    measured, once everything in it is finished, and deletes the namespace and the budget
    (waiting until the namespace is gone)."""
    create_namespace(namespace)
    budget = namespace  # the Dependency, or the ClusterQueue and its LocalQueue
    if system == "bulkhead":
        create_dependency(budget, capacity)
        # Runs removed once finished (the TTL controller), as in the admission phase
        extra = {"uses": [{"dependency": budget, "units": 1}], "ttlSecondsAfterFinished": 0}
        bodies, kind = [batchjob(f"j-{i}", **extra) for i in range(n)], "batchjobs"
    else:
        create_queues(budget, namespace, capacity)
        bodies, kind = [kueue_job(f"j-{i}", namespace, budget) for i in range(n)], "jobs"
    jobs = Watcher(namespace, "jobs")
    finished = Watcher(namespace, "batchjobs") if system == "bulkhead" else jobs
    mark = audit.mark()
    reset_peak_rss(pid)
    cpu_before, machine = process_cpu_seconds(pid), load.mark()
    start = time.monotonic()
    created = create_all(namespace, bodies, kind)
    finished.wait(n, timeout=3600)
    if system == "kueue":
        wait_for_workloads_gone(namespace)
    cpu = process_cpu_seconds(pid) - cpu_before
    used = load.since(machine, n)
    writes = audit.count(mark, audit.mark(), user=user)
    jobs.stop()
    finished.stop()
    figures = {
        "seconds": round(max(finished.done.values()) - start, 1),
        "admissions_per_second": round(n / (max(jobs.started.values()) - start), 1),
        "create_to_start_ms": percentiles(
            [(jobs.started[k] - created[k]) * 1000 for k in created if k in jobs.started]
        ),
        "freed_to_next_ms": freed_to_next_ms(jobs.done, jobs.started, capacity),
        "controller_cpu_ms_per_job": round(cpu * 1000 / n, 2),
        "controller_peak_rss_mib": peak_rss_mib(pid),
        "writes_per_job": round(writes["mutating"] / n, 2),
        "writes_per_job_by_request": per(writes["by"], n),
        "cpu_ms_per_job": used["cpu_ms"],
        "cores_busy": used["cores_busy"],
        "failed": len(finished.failed),
    }
    delete(system, namespace, budget)
    return figures


def kueue_identity(out: Path) -> Path:
    """Creates the ServiceAccount Kueue runs as (KUEUE_USER), bound to cluster-admin; returns
    a kubeconfig for it written to out."""
    core = kubernetes.client.CoreV1Api()
    core.create_namespace({"metadata": {"name": KUEUE_NAMESPACE}})
    core.create_namespaced_service_account(KUEUE_NAMESPACE, {"metadata": {"name": KUEUE_ACCOUNT}})
    kubernetes.client.RbacAuthorizationV1Api().create_cluster_role_binding(
        {
            "metadata": {"name": "bench-kueue"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": KUEUE_ACCOUNT, "namespace": KUEUE_NAMESPACE}
            ],
        }
    )
    return service_account_kubeconfig(KUEUE_NAMESPACE, KUEUE_ACCOUNT, out)


def create_queues(name: str, namespace: str, capacity: int) -> None:
    """A ResourceFlavor and a ClusterQueue `name` whose quota of ORDERS_DB is `capacity` (cpu
    and memory as ample as the nodes), and the LocalQueue `name` in namespace that points at
    it; returns once Kueue reports both queues Active (a Job for a queue it does not know yet
    would wait for a requeue)."""
    custom = kubernetes.client.CustomObjectsApi()
    quotas = {"cpu": "1k", "memory": "4Ti", ORDERS_DB: str(capacity)}
    cluster_queue = {
        "namespaceSelector": {},
        "resourceGroups": [
            {
                "coveredResources": list(quotas),
                "flavors": [
                    {
                        "name": name,
                        "resources": [{"name": r, "nominalQuota": q} for r, q in quotas.items()],
                    }
                ],
            }
        ],
    }
    for plural, body in (
        ("resourceflavors", {"kind": "ResourceFlavor", "metadata": {"name": name}}),
        (
            "clusterqueues",
            {"kind": "ClusterQueue", "metadata": {"name": name}, "spec": cluster_queue},
        ),
    ):
        body["apiVersion"] = "/".join(KUEUE_API)
        custom.create_cluster_custom_object(*KUEUE_API, plural, body)
    local_queue = {
        "apiVersion": "/".join(KUEUE_API),
        "kind": "LocalQueue",
        "metadata": {"name": name},
        "spec": {"clusterQueue": name},
    }
    custom.create_namespaced_custom_object(*KUEUE_API, namespace, "localqueues", local_queue)
    deadline = time.monotonic() + 60
    while not all(
        _active(get())
        for get in (
            lambda: custom.get_cluster_custom_object(*KUEUE_API, "clusterqueues", name),
            lambda: custom.get_namespaced_custom_object(*KUEUE_API, namespace, "localqueues", name),
        )
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Kueue's queues {name} not Active within 60 s")
        time.sleep(0.2)


def _active(queue: dict[str, Any]) -> bool:
    conditions = (queue.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)


def kueue_job(name: str, namespace: str, queue: str) -> dict[str, Any]:
    """Job `name`: the pod of a BatchJob's run (raw_job) that also requests 1 unit of ORDERS_DB,
    created as Kueue's webhook (not registered here) would leave it: suspended, labelled with
    its LocalQueue; removed once finished, as the BatchJobs' runs are. Without bulkhead's
    label, so bulkhead's operator does not watch it."""
    job = raw_job(name, namespace)
    job["metadata"]["name"] = name
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        labels.pop("bulkhead.dev/batchjob")
    job["metadata"]["labels"][QUEUE_NAME] = queue
    job["spec"] |= {"suspend": True, "ttlSecondsAfterFinished": 0}
    for container in job["spec"]["template"]["spec"]["containers"]:
        for amounts in container["resources"].values():
            amounts[ORDERS_DB] = "1"  # an extended resource's request equals its limit
    return job


def wait_for_workloads_gone(namespace: str, timeout: float = 120) -> None:
    """Waits (at most timeout seconds) until no Kueue Workload is left in namespace: each
    goes with its Job (removed once finished) after Kueue has recorded it finished and
    released its finalizer, the last of Kueue's writes for it."""
    custom = kubernetes.client.CustomObjectsApi()
    deadline = time.monotonic() + timeout
    while True:
        left = custom.list_namespaced_custom_object(*KUEUE_API, namespace, "workloads", limit=1)
        if not left["items"]:
            return
        if time.monotonic() > deadline:
            log(f"  {namespace}: Workloads still there after {timeout:g} s")
            return
        time.sleep(0.5)


def delete(system: str, namespace: str, budget: str) -> None:
    """Deletes a run's namespace and budget, and waits (at most 10 min) until the namespace
    is gone, so that the next run does not pay for this one's deletions."""
    custom = kubernetes.client.CustomObjectsApi()
    core = kubernetes.client.CoreV1Api()
    core.delete_namespace(namespace)
    if system == "bulkhead":
        custom.delete_cluster_custom_object("bulkhead.dev", "v1alpha1", "dependencies", budget)
    else:
        for plural in ("clusterqueues", "resourceflavors"):
            custom.delete_cluster_custom_object(*KUEUE_API, plural, budget)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            core.read_namespace(namespace)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return
            raise
        time.sleep(1)
    raise TimeoutError(f"namespace {namespace} not gone within 10 min")
