"""Prometheus metrics on the operator's metrics port. A leaf: it imports nothing of ours but
the API constants, and is handed what it reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bulkhead.api.constants import PHASES
from bulkhead.api.times import parse_time


class _PhaseCollector(Collector):
    """BatchJobs by phase, counted at scrape time (no state to keep in sync)."""

    def __init__(self) -> None:
        self.count: Callable[[], Counter[str]] = Counter

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("bulkhead_batchjobs", "BatchJobs by phase", labels=["phase"])
        counts = self.count()
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
        self.leader = Gauge(
            "bulkhead_leader",
            "1 while this replica decides (it holds the lease), 0 while it stands by",
            registry=self.registry,
        )
        self._phases = _PhaseCollector()
        self.registry.register(self._phases)

    def count_phases(self, count: Callable[[], Counter[str]]) -> None:
        """`count()` gives the BatchJobs by phase, read at each scrape."""
        self._phases.count = count

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def dependency(self, name: str, in_use: int, capacity: int, waiting: int) -> None:
        self.in_use.labels(name).set(in_use)
        self.capacity.labels(name).set(capacity)
        self.waiting.labels(name).set(waiting)

    def observe_start(self, created: str, now: datetime) -> None:
        if created:
            self.admission.observe(max((now - parse_time(created)).total_seconds(), 0.0))
