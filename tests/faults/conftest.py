"""Fixtures for the fault tier: the e2e tier's cluster, namespace and installed chart (imported
from tests/e2e, not copied), and one operator process for the whole session whose watch
timeouts are short, so that a freeze of a few seconds outlasts them.

Every test in this folder is marked `faults`; `make faults` runs them (one cluster, a few
minutes). The measurements each test records are printed at the end of the session.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))  # kube_helpers, operator_process, test_batchjob, ...

# Short enough that the freezes in the tests (15 s) outlast both.
WATCH_SERVER_TIMEOUT = 5
WATCH_CLIENT_TIMEOUT = 8

MEASURED: list[tuple[str, dict[str, Any]]] = []


from kube_helpers import load_module  # noqa: E402  (after the path insert)

_e2e = load_module("bulkhead_e2e_conftest", E2E / "conftest.py")
cluster = _e2e.cluster
namespace = _e2e.namespace
operator_kubeconfig = _e2e.operator_kubeconfig


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def operator(operator_kubeconfig, tmp_path_factory):
    """One operator process for the session, never restarted: each test asserts it is alive
    and the same process after its fault."""
    from operator_process import OperatorProcess

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BULKHEAD_WATCH_SERVER_TIMEOUT", str(WATCH_SERVER_TIMEOUT))
        mp.setenv("BULKHEAD_WATCH_CLIENT_TIMEOUT", str(WATCH_CLIENT_TIMEOUT))
        process = OperatorProcess(tmp_path_factory.mktemp("operator"), operator_kubeconfig)
        process.start()
    yield process
    process.stop()


@pytest.fixture
def measured(request):
    """A dict the test fills with what it measured; printed at the end of the session."""
    values: dict[str, Any] = {}
    MEASURED.append((request.node.name, values))
    return values


def pytest_terminal_summary(terminalreporter):
    if not MEASURED:
        return
    terminalreporter.section("faults: measured")
    for name, values in MEASURED:
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
