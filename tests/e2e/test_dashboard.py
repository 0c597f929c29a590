"""The chart's alerts and Grafana dashboard against a real Prometheus (Debian's, started here
on a free loopback port) scraping the e2e operator every second: a Dependency saturated with
waiters, a failed BatchJob and a scheduled run past its starting deadline make the alerts fire
as the chart renders them (short thresholds set through its values), and every panel query of
charts/bulkhead/dashboards/bulkhead.json returns data (the saturated Dependency is fair-shared,
its one share the test's namespace, for the per-share panel)."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.closed_loop.prometheus import Prometheus
from tests.support.health_signal import Signal, health
from tests.support.kube import create, kubectl, wait_for
from tests.support.objects import batchjob, dependency, status_of, unique, wait_phase, wait_reason
from tests.support.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "bulkhead"
DASHBOARD = CHART / "dashboards" / "bulkhead.json"
SCRAPE_JOB = "bulkhead-metrics"  # the chart's default scrapeJob: the ServiceMonitor's job label
# Grafana's $__rate_interval is at least four scrape intervals; the whole run here fits in a
# minute, so every counter's increase since Prometheus started is inside the window.
RATE_INTERVAL = "1m"


def chart_rules(tmp: Path) -> Path:
    """The chart's PrometheusRule spec as a Prometheus rules file, with thresholds a test can
    wait for (the same values a user sets)."""
    rendered = subprocess.run(
        ["helm", "template", "bulkhead", str(CHART), "-s", "templates/metrics.yaml",
         "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
         "--set", "metrics.prometheusRule.enable=true",
         "--set", "metrics.prometheusRule.saturatedFor=5s",
         "--set", "metrics.prometheusRule.failedFor=2s",
         "--set", "metrics.prometheusRule.circuitOpenFor=2s"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (rule,) = [d for d in yaml.safe_load_all(rendered) if d]
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


class ChartRules:
    """The chart's alert expressions and the alerts firing, on a Prometheus evaluating them."""

    def __init__(self, server: Prometheus, rules: Path) -> None:
        self.server = server
        (group,) = yaml.safe_load(rules.read_text())["groups"]
        self.exprs = {r["alert"]: r["expr"] for r in group["rules"]}

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.server.vector(expr)

    def alert_expr(self, alert: str, **labels: str) -> list[dict[str, str]]:
        """The labels of what the chart's `alert` expression returns now, for `labels`."""
        return [
            r["metric"]
            for r in self.query(self.exprs[alert])
            if labels.items() <= r["metric"].items()
        ]

    def firing(self) -> set[tuple[str, ...]]:
        """The firing alerts as (alertname, label=value, ...) tuples, labels sorted."""
        found = set()
        for alert in self.query('ALERTS{alertstate="firing"}'):
            labels = dict(alert["metric"])
            name = labels.pop("alertname")
            for series_only in ("__name__", "alertstate"):
                labels.pop(series_only)
            found.add((name, *sorted(f"{k}={v}" for k, v in labels.items())))
        return found


@pytest.fixture
def prometheus(operator: OperatorProcess, tmp_path: Path) -> Iterator[ChartRules]:
    """A Prometheus scraping the operator every second and evaluating the chart's rules
    (honoring the operator's labels, as the chart's ServiceMonitor does)."""
    rules = chart_rules(tmp_path)
    target = f"127.0.0.1:{operator.metrics_port}"
    with Prometheus(
        tmp_path, [target], job=SCRAPE_JOB, rule_files=(rules,), honor_labels=True
    ) as server:
        yield ChartRules(server, rules)


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, with the variables Grafana
    would substitute: the rate interval and the scrape job (its textbox variable)."""
    board = json.loads(DASHBOARD.read_text())
    found = []
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            expr = expr.replace("$job", SCRAPE_JOB)
            assert "$" not in expr, expr
            found.append((panel["title"], expr))
    return found


@pytest.mark.usefixtures("token_secret")
def test_alerts_fire_for_what_happened_and_every_panel_shows_data(prometheus, namespace):
    dep = unique("orders", namespace)
    failing = unique("failing", namespace)  # its service failing: the circuit opens
    uses = [{"dependency": dep, "units": 1}]
    signal = Signal(9.0)
    # one share, the test's namespace: the per-share panel has a series
    team = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    create(
        dependency(dep, 1, fairSharing={"shares": [{"name": "team", "namespaceSelector": team}]})
    )
    create(dependency(failing, 2, health=health(signal.url)))
    try:
        create(batchjob("holder", delay="120s", uses=uses), namespace)
        wait_phase("holder", namespace, "Running")
        # full, nobody waits: not saturated
        wait_for(
            lambda: prometheus.query(f'bulkhead_dependency_in_use{{dependency="{dep}"}} == 1'),
            timeout=10,
            what=f"{dep} full in Prometheus",
        )
        assert prometheus.alert_expr("BulkheadDependencySaturated", dependency=dep) == []
        assert prometheus.alert_expr("BulkheadBatchJobFailed", namespace=namespace) == []
        create(
            [
                batchjob("waiter", uses=uses),
                batchjob("broken", exit_code=1, backoffLimit=0),
                batchjob("fine"),
                batchjob("late", schedule="@every 10s", startingDeadlineSeconds=1, uses=uses),
            ],
            namespace,
        )
        wait_reason("waiter", namespace, "WaitingForDependency")
        wait_phase("broken", namespace, "Failed")
        wait_phase("fine", namespace, "Succeeded")
        wait_for(
            lambda: status_of("late", namespace).get("lastRunResult") == "Missed",
            timeout=40,
            what="late's first run missed",
        )
        expected = {
            ("BulkheadBatchJobFailed", "batchjob=broken", f"namespace={namespace}",
             "reason=BackoffLimitExceeded", "severity=warning"),
            ("BulkheadRunMissedDeadline", "batchjob=late", f"namespace={namespace}",
             "severity=warning"),
            ("BulkheadDependencySaturated", f"dependency={dep}", "severity=warning"),
            ("BulkheadDependencyCircuitOpen", f"dependency={failing}", "severity=warning"),
        }  # fmt: skip

        def ours() -> set[tuple[str, ...]]:
            return {
                a
                for a in prometheus.firing()
                if f"namespace={namespace}" in a
                or {f"dependency={dep}", f"dependency={failing}"} & set(a)
            }

        # saturatedFor is 5 s: the saturated alert fires after it
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: ours() == expected, timeout=30, what="the alerts")
        assert ours() == expected, prometheus.query("ALERTS")
        # and nothing says the operator is down, leaderless or its watches stale
        assert {a[0] for a in prometheus.firing()}.isdisjoint(
            {"BulkheadOperatorDown", "BulkheadNoLeader", "BulkheadWatchesStale"}
        )

        empty = []
        for title, expr in panel_queries():
            values = [float(s["value"][1]) for s in prometheus.query(expr)]
            if not any(math.isfinite(v) for v in values):
                empty.append((title, expr, values))
        assert empty == []
    finally:
        signal.stop()
        kubectl("delete", "dependency", dep, failing, "--wait=false", check=False)
