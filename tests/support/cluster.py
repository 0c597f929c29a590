"""The pytest plugin of the tiers that run on a local cluster (tests/e2e, tests/faults,
tests/helm); tests/conftest.py loads it for every tier, and nothing starts until a test asks
for one of its fixtures.

* `cluster` (session): starts a cluster of its own named e2e-<pid>, points KUBECONFIG and
  PATH (kubectl, helm, ...) at it for the session, and stops and deletes it at the end
  (BULKHEAD_E2E_KEEP=1 keeps it running, e.g. to read its logs; `python3 hack/cluster down
  --name e2e-<pid> --purge` removes it later).
  Fast local iteration: `eval "$(python3 hack/cluster up)"` once, then run pytest with
  BULKHEAD_E2E_KUBECONFIG=$KUBECONFIG to reuse that cluster (it is left running).
* `namespace` (function): a fresh namespace for the test, deleted afterwards without waiting.
* `operator_kubeconfig` (session): the chart's CRDs and RBAC installed, and a kubeconfig for
  the chart's ServiceAccount.

Every test in tests/<tier>/ is marked with its tier (TIERS), the markers pyproject.toml declares.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from hack.cluster import Cluster, bin_dir_from_build
from hack.install import install
from tests.support.health_signal import SIGNAL_SECRET
from tests.support.kube import get, kubectl, wait_for
from tests.support.rabbitmq import RABBITMQ_SECRET

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("e2e", "faults", "helm")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for tier in TIERS:
            if ROOT / "tests" / tier in item.path.parents:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def cluster():
    """The cluster: .kubeconfig (Path), .bin_dir (Path), .name; KUBECONFIG/PATH are set."""
    reuse = os.environ.get("BULKHEAD_E2E_KUBECONFIG")
    started = None
    if reuse:
        info = SimpleNamespace(
            name="external", kubeconfig=Path(reuse), bin_dir=bin_dir_from_build()
        )
    else:
        started = Cluster(f"e2e-{os.getpid()}").up()
        info = started
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(info.kubeconfig))
        mp.setenv("PATH", f"{info.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        try:
            yield info
        finally:
            if started is not None and os.environ.get("BULKHEAD_E2E_KEEP") != "1":
                started.down(purge=True)


def make_namespace(slug: str, **labels: str) -> str:
    """Creates a namespace named after `slug` (a unique suffix added), labelled
    bulkhead.dev/e2e=true and `labels`, and returns its name once its default ServiceAccount
    exists (pods are refused until then)."""
    name = f"{slug[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    pairs = [f"{k}={v}" for k, v in {"bulkhead.dev/e2e": "true", **labels}.items()]
    kubectl("label", "namespace", name, *pairs)
    wait_for(
        lambda: get("serviceaccount", "default", name),
        timeout=30,
        what=f"ServiceAccount {name}/default",
    )
    return name


@pytest.fixture
def namespace(cluster, request) -> str:
    """A new namespace named after the test (label bulkhead.dev/e2e=true), with its default
    ServiceAccount in place; deleted (without waiting) after the test."""
    name = make_namespace(re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-"))
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster, tmp_path_factory):
    """The chart's CRDs and RBAC installed; a kubeconfig for the chart's ServiceAccount, so
    the operator runs with exactly the permissions it ships with. It may read one Secret,
    SIGNAL_SECRET in bulkhead-system (the chart's health.secrets), as health signals' tokens,
    and RABBITMQ_SECRET, a backlog trigger's basic auth."""
    return install(
        tmp_path_factory.mktemp("operator") / "kubeconfig",
        values=(f"health.secrets={{{SIGNAL_SECRET},{RABBITMQ_SECRET}}}",),
    )
