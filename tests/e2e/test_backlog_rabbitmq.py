"""A backlog trigger's signal against a real RabbitMQ (issue 24), without the cluster: a queue's
depth read from the management API (an http signal, jsonPath $.messages, basicAuth of a
monitoring user from a Secret the fake API server holds) by the SignalReader, then by the
BacklogPoller's loop as messages are worked off. About 25 s, the node's start and stop
included."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bulkhead.api.constants import Key
from bulkhead.api.health import SignalSource
from bulkhead.api.triggers import BacklogTrigger
from bulkhead.controllers.backlog import BacklogPoller
from bulkhead.controllers.signals import SignalReader
from bulkhead.monitoring import Monitoring
from bulkhead.operator import wall_clock

from tests.support.fakes import FakeKube
from tests.support.rabbitmq import RabbitMQ

NAMESPACE = "bulkhead-system"  # the operator's, where its signals' Secrets are
SECRET = "rabbitmq-monitoring"
KEY: Key = ("billing", "invoices")


def source(node: RabbitMQ, queue: str) -> SignalSource:
    return SignalSource.model_validate(
        {
            "http": {"url": node.queue_url(queue), "jsonPath": "$.messages", "timeout": "2s"},
            "basicAuth": {"secretName": SECRET},
        }
    )


def reader(node: RabbitMQ, password: str = "w4tch3r") -> tuple[SignalReader, Monitoring]:
    """A reader whose Secret holds the monitoring user `watcher` (made on `node`) and
    `password`."""
    node.add_user("watcher", "w4tch3r")
    kube = FakeKube()
    kube.secrets[NAMESPACE, SECRET] = {"username": "watcher", "password": password}
    monitoring = Monitoring()
    return SignalReader(kube, monitoring, NAMESPACE), monitoring  # type: ignore[arg-type]


async def read_until(read: Any, wanted: float | str, timeout: float = 10.0) -> float | str:
    """Reads until the value is `wanted` (the management API's statistics lag up to about a
    second) or `timeout` passes: the last value."""
    deadline = time.monotonic() + timeout
    while (value := await read()) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return value


def test_the_reader_reads_a_queues_depth_with_basic_auth(rabbitmq_node: RabbitMQ) -> None:
    node = rabbitmq_node
    node.declare("invoices")
    node.publish("invoices", 500)
    signal = source(node, "invoices")

    async def scenario() -> list[float | str]:
        signals, monitoring = reader(node)
        refused, refused_monitoring = reader(node, password="guess")
        try:
            full = await read_until(lambda: signals.read(signal), 500.0)
            assert node.consume("invoices", 500) == 500
            empty = await read_until(lambda: signals.read(signal), 0.0)
            return [full, empty, await refused.read(signal)]
        finally:
            await monitoring.close()
            await refused_monitoring.close()

    assert asyncio.run(scenario()) == [500.0, 0.0, "HTTP 401: not_authorized"]


def test_the_poller_reads_every_poll_interval_and_enqueues_each_change(
    rabbitmq_node: RabbitMQ,
) -> None:
    node = rabbitmq_node
    node.declare("refunds")
    node.publish("refunds", 500)
    node.wait_depth("refunds", 500)
    trigger = BacklogTrigger(signal=source(node, "refunds"), items_per_run=100, poll_interval="1s")

    async def scenario() -> tuple[list[float | None], int]:
        signals, monitoring = reader(node)
        seen: list[float | None] = []  # the reading of each enqueue
        reads = 0

        class Counted:
            async def read(self, source: SignalSource) -> float | str:
                nonlocal reads
                reads += 1
                return await signals.read(source)

        poller = BacklogPoller(Counted(), lambda key: seen.append(value()), wall_clock)  # type: ignore[arg-type]

        def value() -> float | None:
            reading = poller.reading(KEY, "refunds")
            return reading.value if reading else None

        try:
            poller.ensure(KEY, {"refunds": trigger})
            while value() != 500:
                await asyncio.sleep(0.1)
            # a run works off 250 items (two and a half runs' worth)
            assert await asyncio.to_thread(node.consume, "refunds", 250) == 250
            deadline = time.monotonic() + 10
            while value() != 250 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            reads_at_250 = reads
            await asyncio.sleep(3.5)  # three more reads of an unchanged backlog
            return seen, reads - reads_at_250
        finally:
            poller.stop()
            await monitoring.close()

    seen, quiet_reads = asyncio.run(scenario())
    # 500 first, 250 last; a read that caught the get half done may show a value between
    assert seen[0] == 500 and seen[-1] == 250 and seen == sorted(seen, reverse=True)
    assert len(set(seen)) == len(seen)  # each enqueue told a change
    assert quiet_reads >= 3  # and the unchanged reads enqueued nothing
