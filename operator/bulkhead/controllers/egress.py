"""Egress isolation of runs: a BatchJob's NetworkPolicy is made what the Dependencies it uses
declare (policy/network.py) before each run's Job is created.

Policy first, Job second, in the same reconcile: a crash between the two leaves a policy and no
Job, and the next reconcile does both again (a create of either is a harmless 409), so a run's
pods never start without their policy.
"""

from __future__ import annotations

from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.api.constants import DEPENDENCY_INVALID, NETWORK_POLICY_NAME_TAKEN
from bulkhead.api.network import DependencyNetwork
from bulkhead.api.views import BatchJobView, controller_uid
from bulkhead.kube.client import Kube
from bulkhead.kube.errors import ApiError, Conflict, Invalid
from bulkhead.policy.network import build_network_policy, network_policy_name
from bulkhead.state.store import Store


def _network(store: Store, dependency: str) -> DependencyNetwork | None:
    view = store.dependency(dependency)
    spec = view.parsed_spec() if view else None
    return spec.network if spec else None  # admission refuses a missing or invalid one


async def ensure_egress(
    kube: Kube, store: Store, bj: BatchJobView, spec: BatchJobSpec
) -> tuple[str, str] | None:
    """Make the NetworkPolicy of `bj`'s runs what the Dependencies in `spec.uses` declare now (or
    remove one left from an earlier run when none declares any). Returns None when the run may
    start, or (reason, message) saying why it must not. Raises ApiError when the API server
    fails; the reconcile is retried."""
    networks = {u.dependency: _network(store, u.dependency) for u in spec.uses or []}
    desired = build_network_policy(
        name=bj.name, namespace=bj.namespace, uid=bj.uid, networks=networks
    )
    name = network_policy_name(bj.name, bj.uid)
    if desired is None:
        # Only a BatchJob that runs more than once can have a policy from an earlier run (a first
        # run's could only come from a crash and a spec edit meanwhile, and restricts more,
        # never less): one GET per such run, none for the common one-shot.
        if spec.repeats or bj.run_now:
            found = await kube.get_network_policy(bj.namespace, name)
            if found is not None and controller_uid(found) == bj.uid:
                await kube.delete_network_policy(bj.namespace, name, found["metadata"]["uid"])
        return None
    try:
        try:
            await kube.create_network_policy(desired)
            return None
        except Conflict:
            found = await kube.get_network_policy(bj.namespace, name)
        if found is None:
            raise ApiError(f"NetworkPolicy {bj.namespace}/{name} was deleted while it was read")
        if controller_uid(found) != bj.uid:
            return NETWORK_POLICY_NAME_TAKEN, (
                f"a NetworkPolicy named {name} exists and is not controlled by this BatchJob; it "
                f"is left alone and no run starts without its own policy until it is gone"
            )
        if found.get("spec") != desired["spec"]:
            desired["metadata"]["resourceVersion"] = found["metadata"]["resourceVersion"]
            await kube.replace_network_policy(desired)
    except Invalid as error:
        declared = ", ".join(sorted(d for d, n in networks.items() if n is not None))
        return DEPENDENCY_INVALID, (
            f"the API server refused the NetworkPolicy built from the network of {declared}: "
            f"{error}; no Job was created"
        )
    return None
