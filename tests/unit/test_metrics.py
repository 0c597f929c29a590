"""metrics.py as a scrape shows it: what the store says (phases, failed BatchJobs, missed
deadlines, stuck watches), what the reflectors counted (watch events, changes a resync found)
and what the Dependency status publishes (the shares of a fair-shared one)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bulkhead.api.dependency import DependencySpec
from bulkhead.metrics import Metrics
from bulkhead.operator import LISTED
from bulkhead.policy.budget import DependencyState, Holding
from bulkhead.policy.fair_share import Tenant
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import make_operator
from tests.support.fair_share_sim import DB, spec_of, state_of
from tests.support.fakes import ListingKube, job

BATCHJOBS, JOBS = LISTED["batchjobs"][0], LISTED["jobs"][0]
STORE_METRICS = (
    "bulkhead_batchjob_failed",
    "bulkhead_batchjob_deadline_missed",
    "bulkhead_watch_stale",
    "bulkhead_watch_events_total",
    "bulkhead_resync_missed_changes_total",
    "bulkhead_runs_ended_total",
)


def batchjob(name: str, status: dict[str, Any]) -> dict[str, Any]:
    meta = {"namespace": "billing", "name": name, "uid": f"uid-{name}"}
    return {"metadata": meta, "spec": {"image": "x"}, "status": status}


def scrape(metrics: Metrics, names: tuple[str, ...]) -> dict[tuple[str, tuple[Any, ...]], float]:
    """The samples of `names` as (name, sorted labels) -> value, from the text a scrape gets."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in names
    }


def test_a_scrape_names_failed_batchjobs_missed_deadlines_and_stuck_watches() -> None:
    kube = ListingKube()
    kube.items[BATCHJOBS] = [
        batchjob("once", {"phase": "Failed", "reason": "BackoffLimitExceeded"}),
        batchjob(
            "nightly",
            {
                "phase": "Scheduled",
                "lastRunResult": "Missed",
                "runs": [
                    {
                        "scheduledTime": "2026-11-23T02:00:00Z",
                        "result": "Missed",
                        "reason": "StartingDeadlineExceeded",
                    }
                ],
            },
        ),
        batchjob("fine", {"phase": "Succeeded", "reason": "Succeeded"}),
    ]
    metrics = Metrics()
    operator = make_operator(kube, metrics)

    async def scenario() -> None:
        await operator.lifecycle.fill(fresh=True)
        kube.items[JOBS] = [job("a-1")]
        operator.reflectors["jobs"].event("ADDED", job("a-1"))
        await operator.lifecycle.resync()  # heard an event since the last: not stuck
        kube.items[JOBS] = [job("a-1"), job("a-2")]  # created; the watch tells nothing
        await operator.lifecycle.resync()
        kube.items[JOBS] = [job("a-1")]  # deleted; the watch tells nothing again
        await operator.lifecycle.resync()

    asyncio.run(scenario())
    metrics.ended(["Failed", "Succeeded", "Failed"])
    zero_kinds = {
        (name, (("kind", kind),)): 0.0
        for kind in LISTED
        for name in (
            "bulkhead_watch_stale",
            "bulkhead_watch_events_total",
            "bulkhead_resync_missed_changes_total",
        )
    }
    assert scrape(metrics, STORE_METRICS) == {
        **zero_kinds,
        (
            "bulkhead_batchjob_failed",
            (("batchjob", "once"), ("namespace", "billing"), ("reason", "BackoffLimitExceeded")),
        ): 1.0,
        (
            "bulkhead_batchjob_deadline_missed",
            (("batchjob", "nightly"), ("namespace", "billing")),
        ): 1.0,
        ("bulkhead_watch_stale", (("kind", "jobs"),)): 1.0,
        ("bulkhead_watch_events_total", (("kind", "jobs"),)): 1.0,
        ("bulkhead_resync_missed_changes_total", (("kind", "jobs"),)): 2.0,
        ("bulkhead_runs_ended_total", (("result", "Failed"),)): 2.0,
        ("bulkhead_runs_ended_total", (("result", "Succeeded"),)): 1.0,
        ("bulkhead_runs_ended_total", (("result", "Missed"),)): 0.0,
    }


def test_the_wait_of_a_started_run_is_observed_from_when_it_was_due() -> None:
    metrics = Metrics()
    now = datetime(2026, 11, 23, 2, 0, 42, tzinfo=UTC)
    metrics.observe_start("2026-11-23T02:00:00Z", now)
    metrics.observe_start("", now)  # unknown: not observed
    samples = scrape(
        metrics, ("bulkhead_admission_seconds_count", "bulkhead_admission_seconds_sum")
    )
    assert samples == {
        ("bulkhead_admission_seconds_count", ()): 1.0,
        ("bulkhead_admission_seconds_sum", ()): 42.0,
    }


SHARE_METRICS = (
    "bulkhead_share_units_in_use",
    "bulkhead_share_waiting",
    "bulkhead_share_usage",
    "bulkhead_share_guaranteed",
)


def shares_scraped(
    metrics: Metrics, rows: dict[tuple[str, str], tuple[float, float, float, float]]
) -> None:
    """The share metrics scraped are `rows`: (dependency, share) -> (units in use, waiting,
    usage, guaranteed), and nothing else."""
    expected = {
        (name, (("dependency", dependency), ("share", share))): value
        for (dependency, share), values in rows.items()
        for name, value in zip(SHARE_METRICS, values, strict=True)
    }
    assert scrape(metrics, SHARE_METRICS) == expected


def test_the_shares_of_a_fair_shared_dependency_are_published_and_go_with_it() -> None:
    metrics = Metrics()
    operator = make_operator(ListingKube(), metrics)
    spec = spec_of(6, [{"name": "billing", "weight": 2, "guaranteed": 2}, {"name": "analytics"}])
    holders = [
        Holding(("billing-1", "nightly"), 3),
        Holding(("analytics-1", "crunch"), 1),
        Holding(("ops", "backup"), 1),  # no share selects ops: a share of its own
    ]
    state = state_of(spec, holders, usage={Tenant("billing"): 1.25})
    assert state.shares is not None
    state.shares.standing(Tenant("analytics")).waiting = 2
    unshared = DependencyState(spec=DependencySpec(capacity=2))
    publish = operator.dependencies.publish
    publish({DB: state, "cache": unshared}, {DB: 2, "cache": 0}, {DB: [], "cache": []})
    shares_scraped(
        metrics,
        {
            (DB, "billing"): (3, 0, 1.25, 2),
            (DB, "analytics"): (1, 2, 0, 0),
            (DB, "ops"): (1, 0, 0, 0),
        },
    )
    # billing holds less and has used more; ops's backup ended: its share shows no more
    holders = [Holding(("billing-1", "nightly"), 1), Holding(("analytics-1", "crunch"), 1)]
    state = state_of(spec, holders, usage={Tenant("billing"): 2.0})
    publish({DB: state}, {DB: 0}, {DB: []})
    shares_scraped(metrics, {(DB, "billing"): (1, 0, 2.0, 2), (DB, "analytics"): (1, 0, 0, 0)})
    publish({}, {}, {})  # the Dependency is gone
    shares_scraped(metrics, {})
