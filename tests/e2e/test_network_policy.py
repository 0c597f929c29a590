"""Egress isolation, opt-in per Dependency: the NetworkPolicy the API server accepts for a
BatchJob's runs, and what its rules allow. The local cluster has no CNI, so nothing enforces
these policies here: the tests check the objects, not packets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kube import create, get, kubectl, wait_for, wait_gone
from tests.support.objects import batchjob, dependency, jobs_of, unique, wait_phase

DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


@pytest.fixture
def dependencies(namespace) -> Iterator[list[str]]:
    """Names to give the test's Dependencies (cluster-scoped, so unique); deleted after."""
    names = [unique(p, namespace) for p in ("db", "cache", "api")]
    yield names
    kubectl("delete", "dependency", *names, "--ignore-not-found", "--wait=false")


def policies(namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get("networkpolicies", namespace=namespace)
    return items


def test_one_dependency_with_network_gets_its_runs_a_policy(operator, namespace, dependencies):
    db = dependencies[0]
    create(dependency(db, 2, network={"cidrs": ["10.20.0.0/16"], "ports": [{"port": 5432}]}))
    create(batchjob("reports", uses=[{"dependency": db, "units": 1}]), namespace)
    wait_phase("reports", namespace, "Succeeded")
    [policy] = policies(namespace)
    bj = get("batchjob", "reports", namespace)
    links = {"bulkhead.dev/batchjob": "reports", "bulkhead.dev/batchjob-uid": bj["metadata"]["uid"]}
    assert policy["spec"] == {
        "podSelector": {"matchLabels": links},
        "policyTypes": ["Egress"],
        "egress": [
            DNS,
            {
                "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            },
        ],
    }
    [owner] = policy["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "BatchJob",
        bj["metadata"]["uid"],
        True,
    )
    # It selects the run's pods (the Job's pod template carries the labels).
    [job] = jobs_of("reports", namespace)
    assert links.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert policy["metadata"]["creationTimestamp"] <= job["metadata"]["creationTimestamp"]
    # Deleted with its BatchJob, by the garbage collector.
    kubectl("delete", "batchjob", "reports", "-n", namespace)
    wait_gone("networkpolicy", policy["metadata"]["name"], namespace)


def test_two_declared_dependencies_are_reachable_and_an_undeclared_one_is_not(
    operator, namespace, dependencies
):
    db, cache, api = dependencies
    create(dependency(db, 2, network={"cidrs": ["10.20.0.0/16", "fd00:20::/64"]}))
    create(
        dependency(
            cache,
            2,
            network={
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cache"}},
                "podSelector": {"matchLabels": {"app": "redis"}},
                "ports": [{"port": 6379}, {"port": 7000, "endPort": 7010}],
            },
        )
    )
    create(dependency(api, 2))
    uses = [{"dependency": d, "units": 1} for d in (api, db, cache)]
    create(batchjob("etl", uses=uses), namespace)
    wait_phase("etl", namespace, "Succeeded")
    [policy] = policies(namespace)
    assert policy["spec"]["egress"] == [
        DNS,
        {  # cache-..., then db-...: name order
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
        },
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}, {"ipBlock": {"cidr": "fd00:20::/64"}}]},
    ]


def test_no_declared_network_no_policy(operator, namespace, dependencies):
    create(dependency(dependencies[0], 2))
    create(batchjob("plain", uses=[{"dependency": dependencies[0], "units": 1}]), namespace)
    create(batchjob("no-uses"), namespace)
    wait_phase("plain", namespace, "Succeeded")
    wait_phase("no-uses", namespace, "Succeeded")
    assert policies(namespace) == []


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (
            {"cidrs": ["10.0.0.0/8", "10.20.0.300/16"]},
            'spec.network.cidrs[1]: Invalid value: "10.20.0.300/16": must be a CIDR with no host '
            "bits set, e.g. 10.0.0.0/16, 192.0.2.7/32 or fd00::/64",
        ),
        ({"cidrs": ["10.0.0.1/8"]}, 'spec.network.cidrs[0]: Invalid value: "10.0.0.1/8"'),
        ({"cidrs": ["10.0.0.0"]}, 'spec.network.cidrs[0]: Invalid value: "10.0.0.0"'),
        (
            {"cidrs": ["10.0.0.0/8"], "ports": [{"port": 70000}]},
            "spec.network.ports[0].port: Invalid value: 70000",
        ),
        (
            {"cidrs": ["10.0.0.0/8"], "ports": [{"port": 80, "endPort": 79}]},
            "spec.network.ports[0].endPort: Invalid value",
        ),
        ({"podSelector": {}}, "spec.network.podSelector: Invalid value"),
        (
            {"ports": [{"port": 80}]},
            "spec.network: Invalid value: network must say where the dependency is",
        ),
    ],
    ids=["bad-cidr", "host-bits", "no-prefix", "port-range", "end-port", "pods-alone", "nowhere"],
)
def test_a_bad_network_is_refused_naming_the_field(namespace, network, message):
    refused = create(dependency(unique("bad", namespace), 1, network=network), check=False)
    assert refused.returncode != 0
    assert message in refused.stderr


def test_a_policy_name_taken_by_someone_else_stops_the_run(operator, namespace, dependencies):
    db = dependencies[0]
    create(dependency(db, 0, network={"cidrs": ["10.20.0.0/16"]}))  # holds the run back
    create(batchjob("squatted", uses=[{"dependency": db, "units": 1}]), namespace)
    uid = wait_for(lambda: get("batchjob", "squatted", namespace)["metadata"]["uid"])
    name = f"squatted-egress-{hashlib.sha256(uid.encode()).hexdigest()[:8]}"
    create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
        },
        namespace,
    )
    kubectl("patch", "dependency", db, "--type=merge", "-p", '{"spec":{"capacity":1}}')
    status = wait_for(
        lambda: (
            (s := get("batchjob", "squatted", namespace).get("status") or {}).get("reason")
            == "NetworkPolicyNameTaken"
            and s
        )
    )
    assert name in status["message"]
    assert jobs_of("squatted", namespace) == []
    assert get("networkpolicy", name, namespace)["spec"]["egress"] == [{}]  # left alone


def test_each_scheduled_run_gets_the_policy_its_dependencies_declare_then(
    operator, namespace, dependencies
):
    db = dependencies[0]
    create(dependency(db, 2, network={"cidrs": ["10.20.0.0/16"]}))
    # A yearly schedule: the runs here are the run-now requests.
    create(
        batchjob("nightly", schedule="0 0 1 1 *", uses=[{"dependency": db, "units": 1}]), namespace
    )

    def run_now(value: str, runs: int) -> list[dict[str, Any]]:
        # Once the operator has seen the Dependency as it is now (it echoes the generation).
        wait_for(
            lambda: (
                (d := get("dependency", db))["metadata"]["generation"]
                == (d.get("status") or {}).get("observedGeneration")
            ),
            what=f"{db} observed",
        )
        kubectl(
            "annotate", "--overwrite", "bj", "nightly", "-n", namespace,
            f"bulkhead.dev/run-now={value}",
        )  # fmt: skip
        wait_for(lambda: len(jobs_of("nightly", namespace)) == runs, what=f"run {value}")
        # Read the moment the run's Job shows: its policy was written before it.
        return policies(namespace)

    def cidrs(found: list[dict[str, Any]]) -> list[str]:
        [policy] = found
        return [p["ipBlock"]["cidr"] for p in policy["spec"]["egress"][1]["to"]]

    assert cidrs(run_now("1", 1)) == ["10.20.0.0/16"]
    patch = '{"spec":{"network":{"cidrs":["10.30.0.0/16"]}}}'
    kubectl("patch", "dependency", db, "--type=merge", "-p", patch)
    assert cidrs(run_now("2", 2)) == ["10.30.0.0/16"]
    kubectl("patch", "dependency", db, "--type=merge", "-p", '{"spec":{"network":null}}')
    assert run_now("3", 3) == []
