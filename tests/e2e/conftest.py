"""Fixtures of the e2e tier, on the cluster of tests/support/cluster.py (`cluster`, `namespace`,
`operator_kubeconfig`, and the `e2e` marker on every test in this folder):

* `operator_process` (session) and `operator` (function): the operator as a process under the
  chart's ServiceAccount, restarted for a test that finds it dead.
* `replicas` (function): two operator replicas electing a leader (tests/support/replicas.py),
  not started; the session's operator is stopped meanwhile.
* `token_secret` (session): the Secret health signals' tokens are read from.
* `rabbitmq_node` (module): a private RabbitMQ node on loopback and its management API driver
  (tests/support/rabbitmq.py); it needs no cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.health_signal import SIGNAL_SECRET, SIGNAL_TOKEN
from tests.support.kube import kubectl
from tests.support.operator import OperatorProcess
from tests.support.rabbitmq import RabbitMQ, rabbitmq
from tests.support.replicas import replica_pair


@pytest.fixture(scope="session")
def operator_process(operator_kubeconfig, tmp_path_factory):
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


@pytest.fixture
def replicas(operator_process, operator_kubeconfig, tmp_path) -> Iterator[list[OperatorProcess]]:
    """Two operator processes electing a leader on a Lease of their own. The session's single
    operator is stopped meanwhile (it would be a third decider); the `operator` fixture starts
    it again for the tests after this one."""
    operator_process.stop()
    processes = replica_pair(tmp_path, operator_kubeconfig)
    try:
        yield processes
    finally:
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.resume()
            process.stop()


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


@pytest.fixture(scope="module")
def rabbitmq_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """A RabbitMQ node of the test module's own, stopped after its last test."""
    with rabbitmq(tmp_path_factory.mktemp("rabbitmq")) as node:
        yield node
