"""kwok's fake nodes: made through the API server, and Ready once kwok plays their kubelets.
Pods on them run for `pod-complete.stage.kwok.x-k8s.io/delay` (default 1s) and exit with the
code in `local.bulkhead.dev/exit-code` (default 0): see hack/kwok/stages.yaml."""

from __future__ import annotations

from typing import Any

from .client import ApiServer
from .errors import ClusterError

NODES = 4  # fake nodes; each takes 500 pods, so 2,000 pods fit at once
# bulkhead.dev/orders-db: an extended resource, the database connections a queue may ration
# (tests/e2e/test_kueue.py gives a Kueue ClusterQueue a quota of it); 1,000 per node, so it
# never keeps a pod from scheduling.
NODE_CAPACITY = {
    "cpu": "1k",
    "memory": "4Ti",
    "pods": "500",
    "ephemeral-storage": "10Ti",
    "bulkhead.dev/orders-db": "1k",
}


def node(i: int) -> dict[str, Any]:
    """Returns fake node number i (kwok-node-I), for kwok to manage."""
    name = f"kwok-node-{i}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
        },
        # its own pod range per node: kwok's default range has 254 addresses
        "spec": {"podCIDR": f"10.{64 + i}.0.0/16", "podCIDRs": [f"10.{64 + i}.0.0/16"]},
        "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
    }


def create_nodes(api: ApiServer, count: int) -> None:
    """Creates fake nodes 0 to count - 1 (those that exist already stay); raises
    ClusterError when the API server refuses one."""
    for i in range(count):
        body = node(i)
        code, answer = api.request("POST", "/api/v1/nodes", body)
        if code not in (201, 409):
            raise ClusterError(f"creating node {body['metadata']['name']}: HTTP {code}: {answer}")


def usable(api: ApiServer, count: int) -> tuple[bool, str]:
    """Returns (True, "") when the cluster takes work: the API server ready, `count` fake
    nodes Ready (kwok has no health check of its own) and the default ServiceAccount made
    (the controller-manager's work); else (False, what is missing)."""
    if api.get("/readyz") != 200:
        return False, "kube-apiserver /readyz not ok"
    code, nodes = api.request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")
    if code != 200:
        return False, f"listing nodes: HTTP {code}"
    ready = [
        n["metadata"]["name"]
        for n in nodes["items"]
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]
    if len(ready) < count:
        return False, f"{len(ready)} of {count} nodes Ready"
    if api.get("/api/v1/namespaces/default/serviceaccounts/default") != 200:
        return False, "no ServiceAccount default/default yet"
    return True, ""
