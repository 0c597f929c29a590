"""Prometheus metrics on the operator's metrics port. A leaf: it imports nothing of ours but
the API constants, and is handed what it reads.

What the store knows (BatchJobs by phase, the failed ones, stale watches) is read at scrape
time, so it cannot drift from the store and survives nothing a restart would lose. Counters
count what this process did since it started; PromQL's rate() and increase() handle resets.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bulkhead.api.constants import PHASES, Key
from bulkhead.api.fair_sharing import ShareStatus
from bulkhead.api.times import parse_time

# The results a run can end with, as in status.runs (a one-shot run: Succeeded or Failed).
RUN_RESULTS = ("Succeeded", "Failed", "Missed")
HEALTH_STATES = ("Healthy", "Degraded", "Unhealthy", "Unknown")
BREAKER_STATES = ("Closed", "Open", "HalfOpen")


class _StoreCollector(Collector):
    """Gauges read from the operator's store at each scrape (no state to keep in sync)."""

    def __init__(self) -> None:
        self.phases: Callable[[], Counter[str]] = Counter
        self.failed: Callable[[], Iterable[tuple[Key, str]]] = list
        self.deadline_missed: Callable[[], Iterable[Key]] = list
        self.watches: Callable[[], Iterable[str]] = list
        self.stale: Callable[[], Iterable[str]] = list

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phases = GaugeMetricFamily("bulkhead_batchjobs", "BatchJobs by phase", labels=["phase"])
        counts = self.phases()
        for phase in PHASES:
            phases.add_metric([phase], counts.get(phase, 0))
        yield phases
        failed = GaugeMetricFamily(
            "bulkhead_batchjob_failed",
            "1 for each BatchJob whose run failed and no later run succeeded (reason: why)",
            labels=["namespace", "batchjob", "reason"],
        )
        for (namespace, name), reason in self.failed():
            failed.add_metric([namespace, name, reason], 1)
        yield failed
        missed = GaugeMetricFamily(
            "bulkhead_batchjob_deadline_missed",
            "1 for each scheduled BatchJob whose newest ended run did not start within "
            "startingDeadlineSeconds",
            labels=["namespace", "batchjob"],
        )
        for namespace, name in self.deadline_missed():
            missed.add_metric([namespace, name], 1)
        yield missed
        stale = GaugeMetricFamily(
            "bulkhead_watch_stale",
            "1 while a kind's watch looks stuck (two resyncs in a row found changes it had not "
            "told, and it told nothing in between): the liveness check fails meanwhile",
            labels=["kind"],
        )
        stuck = set(self.stale())
        for kind in self.watches():
            stale.add_metric([kind], 1 if kind in stuck else 0)
        yield stale


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
            "How long a run waited for its Job: from its BatchJob's creation (one-shot) or its "
            "scheduled instant or run-now request (scheduled) to its Job's creation",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
            registry=self.registry,
        )
        self.runs_ended = CounterMetric(
            "bulkhead_runs_ended",
            "Runs that ended, by result (Missed: a scheduled run that never started)",
            ["result"],
            registry=self.registry,
        )
        self.trigger_runs = CounterMetric(
            "bulkhead_trigger_runs",
            "Runs of triggered BatchJobs whose Job was created, by trigger kind",
            ["kind"],
            registry=self.registry,
        )
        self.reconciles = CounterMetric(
            "bulkhead_reconciles", "BatchJob reconciles run", registry=self.registry
        )
        self.api_requests = CounterMetric(
            "bulkhead_api_requests",
            "Requests the controllers sent to the API server, by HTTP method (the watches are "
            "not counted)",
            ["method"],
            registry=self.registry,
        )
        self.watch_events = CounterMetric(
            "bulkhead_watch_events",
            "Watch events received, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.missed_changes = CounterMetric(
            "bulkhead_resync_missed_changes",
            "Changes a resync listing found that no watch event had told, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.effective_capacity = Gauge(
            "bulkhead_dependency_effective_capacity",
            "Units health lets admission fill (spec.health; under dryRun, what it would)",
            labels,
            registry=self.registry,
        )
        self.health_state = Gauge(
            "bulkhead_dependency_health",
            "1 for a Dependency's health state (Healthy, Degraded, Unhealthy, Unknown), else 0",
            ["dependency", "state"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "bulkhead_dependency_breaker",
            "1 for a Dependency's breaker state (Closed, Open, HalfOpen), else 0",
            ["dependency", "state"],
            registry=self.registry,
        )
        self.signal_value = Gauge(
            "bulkhead_dependency_signal",
            "A health signal's last value read",
            ["dependency", "signal"],
            registry=self.registry,
        )
        self.signal_failures = CounterMetric(
            "bulkhead_dependency_signal_read_failures",
            "Reads of a health signal that failed",
            ["dependency", "signal"],
            registry=self.registry,
        )
        share_labels = ["dependency", "share"]
        self.share_in_use = Gauge(
            "bulkhead_share_units_in_use",
            "Units a share's runs hold, at a Dependency with fairSharing",
            share_labels,
            registry=self.registry,
        )
        self.share_waiting = Gauge(
            "bulkhead_share_waiting",
            "A share's BatchJobs waiting for the Dependency",
            share_labels,
            registry=self.registry,
        )
        self.share_usage = Gauge(
            "bulkhead_share_usage",
            "A share's past use, in units held on average, decayed by usageHalfLife",
            share_labels,
            registry=self.registry,
        )
        self.share_guaranteed = Gauge(
            "bulkhead_share_guaranteed",
            "A share's guarantee in units, scaled down with the effective capacity",
            share_labels,
            registry=self.registry,
        )
        self._shares_shown: set[tuple[str, str]] = set()
        self.events = CounterMetric(
            "bulkhead_events",
            "Requests the CloudEvents endpoint answered, by verdict: what became of the event "
            "(Accepted, Duplicate, Coalesced, UnknownTrigger, Filtered, NotLeader, Unavailable) "
            "or why it was refused (Unauthenticated, Forbidden, Malformed, TooLarge, "
            "UnsupportedMediaType)",
            ["verdict"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "bulkhead_leader",
            "1 while this replica decides (it holds the lease), 0 while it stands by",
            registry=self.registry,
        )
        for result in RUN_RESULTS:
            self.runs_ended.labels(result)  # each series from 0, so increase() sees the first
        self._store = _StoreCollector()
        self.registry.register(self._store)

    def read_store(
        self,
        *,
        phases: Callable[[], Counter[str]],
        failed: Callable[[], Iterable[tuple[Key, str]]],
        deadline_missed: Callable[[], Iterable[Key]],
    ) -> None:
        """Read at each scrape: `phases()` the BatchJobs by phase, `failed()` the (key, reason)
        of the failed ones, `deadline_missed()` the keys of those whose newest ended run missed
        its starting deadline."""
        self._store.phases = phases
        self._store.failed = failed
        self._store.deadline_missed = deadline_missed

    def read_watches(self, kinds: Iterable[str], stale: Callable[[], Iterable[str]]) -> None:
        """The watched `kinds` (each gets its series from 0); `stale()`, read at each scrape,
        names those whose watch looks stuck."""
        kinds = list(kinds)
        for kind in kinds:
            self.watch_events.labels(kind)
            self.missed_changes.labels(kind)
        self._store.watches = lambda: kinds
        self._store.stale = stale

    def count_events(self, verdicts: Iterable[str]) -> None:
        """The CloudEvents endpoint answers with `verdicts`: each series from 0."""
        for verdict in verdicts:
            self.events.labels(verdict)

    def event_answered(self, verdict: str) -> None:
        self.events.labels(verdict).inc()

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def dependency(self, name: str, in_use: int, capacity: int, waiting: int) -> None:
        self.in_use.labels(name).set(in_use)
        self.capacity.labels(name).set(capacity)
        self.waiting.labels(name).set(waiting)

    def shares(self, by_dependency: Mapping[str, Iterable[ShareStatus]]) -> None:
        """Every fair-shared Dependency's shares as its status shows them (status.shares), by
        Dependency; the series of a share or a Dependency not in it any more go."""
        gauges = (self.share_in_use, self.share_waiting, self.share_usage, self.share_guaranteed)
        shown = set()
        for dependency, rows in by_dependency.items():
            for row in rows:
                labels = (dependency, row.name)
                self.share_in_use.labels(*labels).set(row.in_use)
                self.share_waiting.labels(*labels).set(row.waiting)
                self.share_usage.labels(*labels).set(row.usage)
                self.share_guaranteed.labels(*labels).set(row.guaranteed)
                shown.add(labels)
        for labels in self._shares_shown - shown:
            for gauge in gauges:
                gauge.remove(*labels)
        self._shares_shown = shown

    def health(self, name: str, health: str, breaker: str, effective: int) -> None:
        """A Dependency's health step decided these."""
        self.effective_capacity.labels(name).set(effective)
        for state in HEALTH_STATES:
            self.health_state.labels(name, state).set(1 if state == health else 0)
        for state in BREAKER_STATES:
            self.breaker_state.labels(name, state).set(1 if state == breaker else 0)

    def signal(self, name: str, signal: str, value: float) -> None:
        self.signal_value.labels(name, signal).set(value)
        self.signal_failures.labels(name, signal)  # its series from 0, for increase()

    def signal_failed(self, name: str, signal: str) -> None:
        self.signal_failures.labels(name, signal).inc()

    def forget_health(self, name: str, signals: Iterable[str]) -> None:
        """`name` has no health loop any more (gone, or its spec.health changed or went): its
        series go (they come back at its next step)."""
        series: list[tuple[Gauge, tuple[str, ...]]] = [(self.effective_capacity, (name,))]
        series += [(self.health_state, (name, state)) for state in HEALTH_STATES]
        series += [(self.breaker_state, (name, state)) for state in BREAKER_STATES]
        series += [(self.signal_value, (name, signal)) for signal in signals]
        for metric, labels in series:
            with contextlib.suppress(KeyError):  # never set: no step yet, or no good read
                metric.remove(*labels)

    def observe_start(self, since: str, now: datetime) -> None:
        """A run's Job was created `now`; the run was due `since` (RFC 3339; "" unknown)."""
        if since:
            self.admission.observe(max((now - parse_time(since)).total_seconds(), 0.0))

    def ended(self, results: Iterable[str]) -> None:
        """Runs ended, one result each (Succeeded, Failed or Missed)."""
        for result in results:
            self.runs_ended.labels(result).inc()
