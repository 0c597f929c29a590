"""Prometheus metrics on the operator's metrics port."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bulkhead.controller import Controller

PHASES = ("Pending", "Queued", "Running", "Succeeded", "Failed", "Suspended", "Scheduled")


class _PhaseCollector(Collector):
    """BatchJobs by phase, counted from the store at scrape time (no state to keep in sync)."""

    def __init__(self) -> None:
        self.controller: Controller | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bulkhead_batchjobs", "BatchJobs by phase", labels=["phase"])
        counts: Counter[str] = Counter()
        if self.controller is not None:
            counts.update(bj.phase or "Pending" for bj in self.controller.store.all_batchjobs())
        for phase in PHASES:
            family.add_metric([phase], counts.get(phase, 0))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["dependency"]
        self.in_use = Gauge(
            "bulkhead_dependency_in_use", "Units held", labels, registry=self.registry
        )
        self.capacity = Gauge(
            "bulkhead_dependency_capacity", "Units available", labels, registry=self.registry
        )
        self.waiting = Gauge(
            "bulkhead_dependency_waiting", "BatchJobs waiting", labels, registry=self.registry
        )
        self.admission = Histogram(
            "bulkhead_admission_seconds",
            "Time from a BatchJob's creation to its Job's creation",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
            registry=self.registry,
        )
        self.reconciles = CounterMetric(
            "bulkhead_reconciles", "BatchJob reconciles run", registry=self.registry
        )
        self._phases = _PhaseCollector()
        self.registry.register(self._phases)

    def bind(self, controller: Controller) -> None:
        self._phases.controller = controller

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def dependency(self, name: str, in_use: int, capacity: int, waiting: int) -> None:
        self.in_use.labels(name).set(in_use)
        self.capacity.labels(name).set(capacity)
        self.waiting.labels(name).set(waiting)

    def observe_start(self, created: str, now: datetime) -> None:
        if created:
            started = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
            self.admission.observe(max((now - started).total_seconds(), 0.0))
