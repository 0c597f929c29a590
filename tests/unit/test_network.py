"""policy/network.py and Dependency spec.network: the egress NetworkPolicy of a BatchJob's runs,
compared whole; what a Dependency may declare."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from bulkhead.api.dependency import DependencySpec
from bulkhead.api.network import DependencyNetwork
from bulkhead.policy.build import build_job
from bulkhead.policy.network import build_network_policy, dns_rule, network_policy_name
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support.factories import make_spec

NAME, NAMESPACE, UID = "nightly", "billing", "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
LINKS = {"bulkhead.dev/batchjob": NAME, "bulkhead.dev/batchjob-uid": UID}
DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
ORDERS_DB = {"cidrs": ["10.20.0.0/16", "192.0.2.7/32"], "ports": [{"port": 5432}]}
CACHE = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cache"}},
    "podSelector": {"matchLabels": {"app": "redis"}},
    "ports": [{"port": 6379}, {"port": 7000, "endPort": 7010, "protocol": "TCP"}],
}


def network(wire: dict[str, Any]) -> DependencyNetwork:
    return DependencyNetwork.model_validate(wire)


def policy(networks: dict[str, DependencyNetwork | None]) -> dict[str, Any] | None:
    return build_network_policy(name=NAME, namespace=NAMESPACE, uid=UID, networks=networks)


def expected(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": network_policy_name(NAME, UID),
            "namespace": NAMESPACE,
            "labels": LINKS,
            "ownerReferences": [
                {
                    "apiVersion": "bulkhead.dev/v1alpha1",
                    "kind": "BatchJob",
                    "name": NAME,
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "podSelector": {"matchLabels": LINKS},
            "policyTypes": ["Egress"],
            "egress": [DNS, *rules],
        },
    }


ORDERS_RULE = {
    "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}, {"ipBlock": {"cidr": "192.0.2.7/32"}}],
    "ports": [{"protocol": "TCP", "port": 5432}],
}
CACHE_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cache"}},
            "podSelector": {"matchLabels": {"app": "redis"}},
        }
    ],
    "ports": [
        {"protocol": "TCP", "port": 6379},
        {"protocol": "TCP", "port": 7000, "endPort": 7010},
    ],
}


@pytest.mark.parametrize(
    ("networks", "want"),
    [
        ({}, None),
        ({"orders-db": None, "cache": None}, None),
        ({"orders-db": network(ORDERS_DB)}, expected(ORDERS_RULE)),
        # Name order, whatever order uses lists them; an undeclared Dependency gets no rule.
        (
            {"orders-db": network(ORDERS_DB), "api": None, "cache": network(CACHE)},
            expected(CACHE_RULE, ORDERS_RULE),
        ),
        # No ports: every port of the declared place. Both CIDRs and pods: either is reachable.
        (
            {"all": network({"cidrs": ["fd00::/64"], "namespaceSelector": {}})},
            expected({"to": [{"ipBlock": {"cidr": "fd00::/64"}}, {"namespaceSelector": {}}]}),
        ),
    ],
    ids=["no-uses", "none-declared", "one", "two-and-an-undeclared", "all-ports"],
)
def test_the_policy_allows_dns_and_the_declared_dependencies_only(
    networks: dict[str, DependencyNetwork | None], want: dict[str, Any] | None
) -> None:
    assert policy(networks) == want


def test_it_selects_exactly_the_pods_of_the_batchjobs_runs() -> None:
    built = policy({"orders-db": network(ORDERS_DB)})
    assert built is not None
    pod_labels = build_job(name=NAME, namespace=NAMESPACE, uid=UID, spec=make_spec())["spec"][
        "template"
    ]["metadata"]["labels"]
    selector = built["spec"]["podSelector"]["matchLabels"]
    assert selector == LINKS and selector.items() <= pod_labels.items()
    # A pod label from podMetadata cannot take a run out of its policy.
    spec = make_spec(podMetadata={"labels": {"bulkhead.dev/batchjob": "other"}})
    labels = build_job(name=NAME, namespace=NAMESPACE, uid=UID, spec=spec)["spec"]["template"][
        "metadata"
    ]["labels"]
    assert selector.items() <= labels.items()


CIDRS = st.one_of(
    st.ip_addresses(v=4).flatmap(
        lambda a: st.integers(0, 32).map(lambda p: str(ipaddress.ip_network(f"{a}/{p}", False)))
    ),
    st.ip_addresses(v=6).flatmap(
        lambda a: st.integers(0, 128).map(lambda p: str(ipaddress.ip_network(f"{a}/{p}", False)))
    ),
)
NETWORKS = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    st.one_of(
        st.none(),
        st.lists(CIDRS, min_size=1, max_size=4).map(lambda c: network({"cidrs": c})),
    ),
    max_size=6,
)


@given(NETWORKS)
def test_every_declared_cidr_and_nothing_else_is_reachable(
    networks: dict[str, DependencyNetwork | None],
) -> None:
    built = policy(networks)
    declared = {d: n for d, n in networks.items() if n is not None}
    if not declared:
        assert built is None
        return
    assert built is not None
    dns, *rules = built["spec"]["egress"]
    assert dns == dns_rule()
    reachable = [peer["ipBlock"]["cidr"] for rule in rules for peer in rule["to"]]
    assert reachable == [c for _, n in sorted(declared.items()) for c in n.cidrs or []]
    assert built["spec"]["policyTypes"] == ["Egress"]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"cidrs": ["10.0.0.1/8"]}, "host bits set"),
        ({"cidrs": ["10.0.0.0"]}, "has no prefix length"),
        ({"cidrs": ["10.0.0.0/33"]}, "is not a CIDR"),
        ({"cidrs": ["orders-db.example"]}, "is not a CIDR"),
        ({"cidrs": []}, "at least 1 item"),
        ({"cidrs": ["10.0.0.0/8"], "ports": [{"port": 0}]}, "greater than or equal to 1"),
        ({"cidrs": ["10.0.0.0/8"], "ports": [{"port": 65536}]}, "less than or equal to 65535"),
        ({"cidrs": ["10.0.0.0/8"], "ports": [{"port": 80, "endPort": 79}]}, "endPort must not"),
        ({"cidrs": ["10.0.0.0/8"], "ports": [{"port": 53, "protocol": "ICMP"}]}, "'TCP'"),
        ({"ports": [{"port": 5432}]}, "network must say where the dependency is"),
        ({"podSelector": {"matchLabels": {"app": "db"}}}, "podSelector needs namespaceSelector"),
        ({"cidrs": ["10.0.0.0/8"], "hosts": ["db"]}, "Extra inputs are not permitted"),
    ],
)
def test_a_network_that_says_nothing_or_nonsense_is_refused(
    wire: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DependencySpec.model_validate({"capacity": 1, "network": wire})
