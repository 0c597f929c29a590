"""Fixtures of the fault tier, on the cluster of tests/support/cluster.py (`cluster`,
`namespace`, `operator_kubeconfig`, and the `faults` marker on every test in this folder): one
operator process for the whole session whose watch timeouts are short, so that a freeze of a
few seconds outlasts them.

`make faults` runs this tier (one cluster, a few minutes). The measurements each test records
are printed at the end of the session.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.stream import WATCH_CLIENT_TIMEOUT, WATCH_SERVER_TIMEOUT
from tests.support.operator import OperatorProcess

MEASURED: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture(scope="session")
def operator(operator_kubeconfig, tmp_path_factory):
    """One operator process for the session, never restarted: each test asserts it is alive
    and the same process after its fault."""
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
