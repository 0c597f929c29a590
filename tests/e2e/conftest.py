"""Fixtures for e2e tests against a real local control plane (hack/cluster.py).

* `cluster` (session): starts a cluster of its own named e2e-<pid>, points KUBECONFIG and
  PATH (kubectl, helm, ...) at it for the session, and stops and deletes it at the end
  (BULKHEAD_E2E_KEEP=1 keeps it running, e.g. to read its logs; `hack/cluster.py down
  --name e2e-<pid> --purge` removes it later).
  Fast local iteration: `eval "$(python3 hack/cluster.py up)"` once, then run pytest with
  BULKHEAD_E2E_KUBECONFIG=$KUBECONFIG to reuse that cluster (it is left running).
* `namespace` (function): a fresh namespace for the test, deleted afterwards without waiting.

Every test in this folder is marked `e2e`.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from kube_helpers import get, kubectl, load_module, wait_for

ROOT = Path(__file__).resolve().parents[2]
# The one Secret of the operator's namespace the e2e operator may read (tests/e2e/test_health.py).
SIGNAL_SECRET = "signal-token"
SIGNAL_TOKEN = "s3cret-signal-token"  # in it, under the key "token"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster():
    """The cluster: .kubeconfig (Path), .bin_dir (Path), .name; KUBECONFIG/PATH are set."""
    cm = load_module("bulkhead_hack_cluster", ROOT / "hack" / "cluster.py")
    reuse = os.environ.get("BULKHEAD_E2E_KUBECONFIG")
    started = None
    if reuse:
        info = SimpleNamespace(
            name="external", kubeconfig=Path(reuse), bin_dir=cm.bin_dir_from_build()
        )
    else:
        started = cm.Cluster(f"e2e-{os.getpid()}").up()
        info = started
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(info.kubeconfig))
        mp.setenv("PATH", f"{info.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        try:
            yield info
        finally:
            if started is not None and os.environ.get("BULKHEAD_E2E_KEEP") != "1":
                started.down(purge=True)


@pytest.fixture
def namespace(cluster, request) -> str:
    """A new namespace named after the test (label bulkhead.dev/e2e=true), with its default
    ServiceAccount in place; deleted (without waiting) after the test."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "bulkhead.dev/e2e=true")
    # pods are refused until the namespace's default ServiceAccount exists
    wait_for(
        lambda: get("serviceaccount", "default", name),
        timeout=30,
        what=f"ServiceAccount {name}/default",
    )
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster, tmp_path_factory):
    """The chart's CRDs and RBAC installed; a kubeconfig for the chart's ServiceAccount, so
    the operator runs with exactly the permissions it ships with. It may read one Secret,
    SIGNAL_SECRET in bulkhead-system (the chart's health.secrets), as health signals' tokens."""
    install = load_module("bulkhead_hack_install", ROOT / "hack" / "install.py")
    return install.install(
        tmp_path_factory.mktemp("operator") / "kubeconfig",
        values=(f"health.secrets={{{SIGNAL_SECRET}}}",),
    )


@pytest.fixture(scope="session")
def operator_process(operator_kubeconfig, tmp_path_factory):
    from operator_process import OperatorProcess

    process = OperatorProcess(tmp_path_factory.mktemp("operator"), operator_kubeconfig)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def operator(operator_process):
    """The running operator; a test may kill() and start() it. Restarted if a test left it dead."""
    if operator_process.proc is None or operator_process.proc.poll() is not None:
        operator_process.start()
    return operator_process


@pytest.fixture(scope="session")
def token_secret(operator_kubeconfig) -> None:
    """SIGNAL_SECRET in the operator's namespace, holding SIGNAL_TOKEN."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SIGNAL_SECRET, "namespace": "bulkhead-system"},
        "stringData": {"token": SIGNAL_TOKEN},
    }
    kubectl("apply", "-f", "-", input=secret)
