"""controllers/egress.py: a run's NetworkPolicy is written before its Job, idempotently, survives a
crash between the two, follows its Dependencies' network and never takes over someone's policy."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from bulkhead.api.constants import ANNOTATION_RUN_NOW
from bulkhead.api.network import DependencyNetwork
from bulkhead.api.views import BatchJobView, DependencyView
from bulkhead.controllers.egress import ensure_egress
from bulkhead.kube.errors import Invalid
from bulkhead.operator import Operator
from bulkhead.policy.network import build_network_policy, network_policy_name
from bulkhead.state.store import Store

from tests.support.factories import make_operator, make_spec, spec_dict
from tests.support.fakes import METADATA, FakeKube

DB = {"cidrs": ["10.20.0.0/16"], "ports": [{"port": 5432}]}
USES = [{"dependency": "orders-db", "units": 1}]
POLICY = network_policy_name(METADATA["name"], METADATA["uid"])


def dependency(network: dict[str, Any] | None) -> DependencyView:
    spec: dict[str, Any] = {"capacity": 2, **({"network": network} if network else {})}
    return DependencyView.from_body({"metadata": {"name": "orders-db", "uid": "d"}, "spec": spec})


def batchjob(**spec: Any) -> BatchJobView:
    return BatchJobView.from_body({"metadata": METADATA, "spec": spec_dict(**spec)})


def desired(network: dict[str, Any]) -> dict[str, Any]:
    built = build_network_policy(
        name=METADATA["name"],
        namespace=METADATA["namespace"],
        uid=METADATA["uid"],
        networks={"orders-db": DependencyNetwork.model_validate(network)},
    )
    assert built is not None
    return built


def as_stored(policy: dict[str, Any]) -> dict[str, Any]:
    """What FakeKube keeps of a policy written."""
    return {**policy, "metadata": {**policy["metadata"], "uid": "np", "resourceVersion": "1"}}


KEY = ("billing", "nightly-invoices")


async def admitted_run(kube: FakeKube, network: dict[str, Any] | None) -> Operator:
    """A BatchJob that uses orders-db, reconciled until admission lets it start."""
    operator = make_operator(kube)
    operator.deps.store.put_dependency("orders-db", dependency(network))
    view = batchjob(uses=USES)
    operator.deps.store.put_batchjob(view.key, view)
    await operator.batchjobs.reconcile(view.key)  # asks for admission
    operator.admission.admit()
    return operator


def test_a_run_gets_its_policy_before_its_job() -> None:
    async def run() -> FakeKube:
        kube = FakeKube()
        await (await admitted_run(kube, DB)).batchjobs.reconcile(KEY)
        return kube

    kube = asyncio.run(run())
    assert kube.writes == ["create NetworkPolicy", "create Job"]
    assert kube.network_policies == {POLICY: as_stored(desired(DB))}


def test_a_crash_between_policy_and_job_leaves_no_run_without_its_policy() -> None:
    async def run() -> FakeKube:
        kube = FakeKube()
        operator = await admitted_run(kube, DB)
        with (
            mock.patch.object(kube, "create_job", side_effect=ConnectionError("crash")),
            pytest.raises(ConnectionError),
        ):
            await operator.batchjobs.reconcile(KEY)
        await operator.batchjobs.reconcile(KEY)
        return kube

    kube = asyncio.run(run())
    # The second pass finds the policy as it should be (no write) and creates the Job.
    assert kube.writes == ["create NetworkPolicy", "create Job"]
    assert kube.network_policies == {POLICY: as_stored(desired(DB))}


def test_no_network_declared_no_policy() -> None:
    async def run() -> FakeKube:
        kube = FakeKube()
        await (await admitted_run(kube, None)).batchjobs.reconcile(KEY)
        return kube

    assert asyncio.run(run()).writes == ["create Job"]


def ensure(kube: FakeKube, network: dict[str, Any] | None, **spec: Any) -> Any:
    store = Store()
    store.put_dependency("orders-db", dependency(network))
    view = BatchJobView.from_body(
        {
            "metadata": {**METADATA, "annotations": {ANNOTATION_RUN_NOW: "again"}},
            "spec": spec_dict(uses=USES, **spec),
        }
    )
    return asyncio.run(
        ensure_egress(kube, store, view, make_spec(uses=USES, **spec))  # type: ignore[arg-type]
    )


def test_a_changed_network_replaces_the_policy_and_a_removed_one_deletes_it() -> None:
    kube = FakeKube()
    assert ensure(kube, DB) is None
    wider = {"cidrs": ["10.20.0.0/16", "10.30.0.0/16"]}
    assert ensure(kube, wider) is None
    assert kube.network_policies == {POLICY: as_stored(desired(wider))}
    assert ensure(kube, wider) is None  # as it should be: no write
    assert ensure(kube, None) is None  # a run-now run after the network was removed
    assert kube.network_policies == {}
    assert kube.writes == ["create NetworkPolicy", "replace NetworkPolicy", "delete NetworkPolicy"]


def test_someone_elses_policy_under_the_name_is_left_alone_and_nothing_starts() -> None:
    kube = FakeKube()
    theirs = {"metadata": {"name": POLICY, "uid": "x", "resourceVersion": "7"}, "spec": {}}
    kube.network_policies[POLICY] = theirs
    assert ensure(kube, DB) == (
        "NetworkPolicyNameTaken",
        f"a NetworkPolicy named {POLICY} exists and is not controlled by this BatchJob; it is "
        "left alone and no run starts without its own policy until it is gone",
    )
    assert ensure(kube, None) is None  # not ours: never deleted either
    assert kube.network_policies == {POLICY: theirs} and kube.writes == []


def test_a_policy_the_api_server_refuses_blames_the_dependency() -> None:
    kube = FakeKube()
    refused = Invalid('NetworkPolicy.networking.k8s.io "x" is invalid: spec.egress[1]...')
    with mock.patch.object(kube, "create_network_policy", side_effect=refused):
        assert ensure(kube, DB) == (
            "DependencyInvalid",
            "the API server refused the NetworkPolicy built from the network of orders-db: "
            f"{refused}; no Job was created",
        )
