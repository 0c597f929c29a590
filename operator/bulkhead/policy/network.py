"""Pure: the egress NetworkPolicy of a BatchJob's runs, from the Dependencies it uses.

Opt-in per Dependency: when at least one Dependency a BatchJob uses declares `network`, the
BatchJob's run pods may reach only the Dependencies that declare it, and DNS. One policy per
BatchJob, owned by it, written before each run's Job is created (controllers/egress.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from bulkhead.api.network import DependencyNetwork, NetworkPort
from bulkhead.policy.build import controller_reference, run_labels


def dns_rule() -> dict[str, Any]:
    """DNS, from the cluster's resolver only: the kube-dns pods in kube-system (CoreDNS carries
    the same label), on UDP and TCP 53. Not "port 53 anywhere": any pod listening on 53 in any
    namespace could then receive what a run sends, and port 53 off the cluster is a way out."""
    return {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def network_policy_name(name: str, uid: str) -> str:
    """The NetworkPolicy of BatchJob `name` (uid `uid`). The uid part keeps a re-created BatchJob
    of the same name clear of its predecessor's policy until the garbage collector removes it."""
    return f"{name}-egress-{hashlib.sha256(uid.encode()).hexdigest()[:8]}"


def _port(port: NetworkPort) -> dict[str, Any]:
    wire: dict[str, Any] = {"protocol": port.protocol, "port": port.port}
    if port.end_port is not None:
        wire["endPort"] = port.end_port
    return wire


def egress_rule(network: DependencyNetwork) -> dict[str, Any]:
    """The egress rule that reaches one Dependency: its CIDRs and its selected pods, on its
    ports (all ports when it names none)."""
    peers: list[dict[str, Any]] = [{"ipBlock": {"cidr": cidr}} for cidr in network.cidrs or []]
    if network.namespace_selector is not None:
        peer = {"namespaceSelector": network.namespace_selector.wire()}
        if network.pod_selector is not None:
            peer["podSelector"] = network.pod_selector.wire()
        peers.append(peer)
    rule: dict[str, Any] = {"to": peers}
    if network.ports:
        rule["ports"] = [_port(p) for p in network.ports]
    return rule


def build_network_policy(
    *, name: str, namespace: str, uid: str, networks: Mapping[str, DependencyNetwork | None]
) -> dict[str, Any] | None:
    """The networking.k8s.io/v1 NetworkPolicy for the runs of BatchJob `namespace/name` (uid
    `uid`), given the declared network of each Dependency it uses, by name (None: not declared).
    None when no Dependency declares one. Otherwise an Egress-only policy that selects exactly
    that BatchJob's run pods and allows DNS and one rule per declared Dependency, in name order;
    a Dependency that declares nothing is not reachable then."""
    declared = sorted(
        ((dep, net) for dep, net in networks.items() if net is not None), key=lambda d: d[0]
    )
    if not declared:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": network_policy_name(name, uid),
            "namespace": namespace,
            "labels": run_labels(name, uid),
            "ownerReferences": [controller_reference(name, uid)],
        },
        "spec": {
            "podSelector": {"matchLabels": run_labels(name, uid)},
            "policyTypes": ["Egress"],
            "egress": [
                dns_rule(),
                *(egress_rule(net) for _, net in declared),
            ],
        },
    }
