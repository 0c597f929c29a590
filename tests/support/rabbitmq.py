"""A private RabbitMQ node on loopback (Debian's rabbitmq-server, hack/tools/rabbitmq.sh), and
the test's driver of its queues through the management HTTP API alone (no AMQP client): declare
a queue, publish and consume messages, read its depth, as a backlog trigger reads it.

The node is a child process with everything of its own under a temporary directory (data, logs,
config, enabled plugins, Erlang cookie) and on free ports (AMQP, management, Erlang
distribution, epmd), so it never meets the package's own node or another test's; stopping it
ends the node's process group and its epmd."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.ports import free_port

# Debian's layout: the scripts that run as the caller (those on PATH switch to the rabbitmq user).
BIN = Path("/usr/lib/rabbitmq/bin")
# The management API's own user; loopback_users = none lets it in (the node listens on
# 127.0.0.1 only).
USER, PASSWORD = "guest", "guest"
# The Secret (in bulkhead-system) the e2e operator may read a backlog trigger's basic auth from
# (the chart's health.secrets, set by the `operator_kubeconfig` fixture).
RABBITMQ_SECRET = "rabbitmq-auth"
# A cold node starts in about 7 s on the benchmark's 2 cores (RabbitMQ 3.10, the management
# plugin); a shared machine may be slower.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RabbitMQ:
    """A running node: its AMQP port, and its management API at `management_url`."""

    amqp_port: int
    management_url: str  # http://127.0.0.1:<port>

    def queue_url(self, queue: str) -> str:
        """The management API's document of `queue` (default vhost): its depth is
        `$.messages`."""
        return f"{self.management_url}/api/queues/%2F/{quote(queue, safe='')}"

    def declare(self, queue: str) -> None:
        """A durable queue `queue` on the default vhost (declared again: no change)."""
        _request("PUT", self.queue_url(queue), {"durable": True, "auto_delete": False})

    def publish(self, queue: str, count: int) -> None:
        """`count` messages to `queue` through the default exchange; each must be routed."""
        url = f"{self.management_url}/api/exchanges/%2F/amq.default/publish"
        for n in range(count):
            message = {
                "properties": {"delivery_mode": 2},
                "routing_key": queue,
                "payload": f"item-{n}",
                "payload_encoding": "string",
            }
            answer = _request("POST", url, message)
            if not answer.get("routed"):
                raise RuntimeError(f"message {n} to {queue} was not routed: {answer}")

    def add_user(self, name: str, password: str) -> None:
        """A user with the management API's `monitoring` tag who may read the default vhost:
        what a backlog trigger's basicAuth names."""
        user = quote(name, safe="")
        api = self.management_url
        _request("PUT", f"{api}/api/users/{user}", {"password": password, "tags": "monitoring"})
        read_only = {"configure": "", "write": "", "read": ".*"}
        _request("PUT", f"{api}/api/permissions/%2F/{user}", read_only)

    def consume(self, queue: str, count: int) -> int:
        """Takes up to `count` messages off `queue` (acknowledged, not requeued): how many."""
        body = {"count": count, "ackmode": "ack_requeue_false", "encoding": "auto"}
        return len(_request("POST", f"{self.queue_url(queue)}/get", body))

    def depth(self, queue: str) -> int:
        """The messages in `queue`, as the management API shows them (its statistics, at most
        collect_statistics_interval = 500 ms old)."""
        return int(_request("GET", self.queue_url(queue)).get("messages") or 0)

    def wait_depth(self, queue: str, expected: int, timeout: float = 10.0) -> None:
        """Until the management API shows `expected` messages in `queue`."""
        deadline = time.monotonic() + timeout
        while (seen := self.depth(queue)) != expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{queue} shows {seen} messages, not {expected}")
            time.sleep(0.1)


def _request(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Any:
    """The decoded JSON answer of the management API (None when empty)."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        text = answer.read()
    return json.loads(text) if text else None


def config(amqp_port: int, management_port: int) -> str:
    """The node's rabbitmq.conf: loopback listeners, the guest user allowed (on loopback), and
    a queue's depth in the management API fresh within about a second: statistics every 500 ms,
    kept in 1 s samples (by default 5 s ones: the depth shown lagged 5 s)."""
    return "\n".join(
        [
            f"listeners.tcp.1 = 127.0.0.1:{amqp_port}",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {management_port}",
            "loopback_users = none",
            "collect_statistics_interval = 500",
            "management.sample_retention_policies.global.minute = 1",
            "management.sample_retention_policies.basic.minute = 1",
            "management.sample_retention_policies.detailed.10 = 1",
            "",
        ]
    )


@contextlib.contextmanager
def rabbitmq(folder: Path) -> Iterator[RabbitMQ]:
    """A node started in `folder` (a test's temporary directory), stopped on exit, also when
    it failed to start."""
    if not (BIN / "rabbitmq-server").exists():
        raise RuntimeError("no RabbitMQ server: run hack/tools/rabbitmq.sh (make tools)")
    amqp, management, dist, epmd = (free_port() for _ in range(4))
    (folder / "rabbitmq.conf").write_text(config(amqp, management))
    (folder / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (folder / "rabbitmq-env.conf").write_text("")
    env = {
        **os.environ,
        "HOME": str(folder),  # the node's Erlang cookie, made at its first start
        "RABBITMQ_NODENAME": f"bulkhead-test-{os.getpid()}-{amqp}@localhost",
        "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        # By default AMQP's port + 20000, which a free port above 45535 would overflow.
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_PORT": str(epmd),
    }
    log = folder / "rabbitmq-server.out"
    with log.open("wb") as out:
        node = subprocess.Popen(
            [str(BIN / "rabbitmq-server")],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: beam and its helpers
        )
    try:
        url = f"http://127.0.0.1:{management}"
        _wait_until_up(node, url, log)
        yield RabbitMQ(amqp, url)
    finally:
        _stop(node, epmd)


def _wait_until_up(node: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until the management API answers; raises with the node's output when it exits or
    takes longer than START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            _request("GET", f"{url}/api/overview", timeout=2.0)
            return
        if node.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"RabbitMQ did not start (exit {node.poll()}):\n{tail}")
        time.sleep(0.2)


def _stop(node: subprocess.Popen[bytes], epmd_port: int) -> None:
    """Stops the node (SIGTERM: RabbitMQ shuts down cleanly; SIGKILL after STOP_TIMEOUT), then
    the epmd it started, which daemonized outside its process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        node.wait(STOP_TIMEOUT)
    # SIGKILL: a node that did not stop, or a helper (inet_gethost) that outlived it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)
    node.wait()
    subprocess.run(
        ["epmd", "-port", str(epmd_port), "-kill"], capture_output=True, timeout=10, check=False
    )
    # epmd exits a moment after it answers -kill: wait until its port is free.
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", epmd_port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.1)
