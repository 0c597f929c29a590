"""Fair sharing on the real cluster (issue 23): teams in namespaces of their own share one
Dependency's units by weight, a guarantee kept free admits its owner at once, a late team gets
the next free unit, an operator SIGKILL keeps the split and the budget, and the API server
refuses bad shares naming the field. Holdings are read from the Jobs, never from the operator."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.cluster import make_namespace
from tests.support.kube import create, kubectl, wait_for
from tests.support.objects import all_phase, batchjob, dependency, scheduled, status_of
from tests.support.replicas import leading, start_leader_then_standby
from tests.support.sampler import HeldSampler

TEAM = "bulkhead.dev/team"


@pytest.fixture
def teams(cluster) -> Iterator[Callable[[str], str]]:
    """Makes a namespace of a team (labelled bulkhead.dev/team=<team>); all deleted after."""
    made: list[str] = []

    def make(team: str) -> str:
        made.append(make_namespace(f"fair-{team}", **{TEAM: team}))
        return made[-1]

    yield make
    for name in made:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def shared(name: str, capacity: int, shares: list[dict[str, Any]], **fair: Any) -> dict[str, Any]:
    """A Dependency whose shares select namespaces by their team label."""
    return dependency(
        name,
        capacity,
        fairSharing={
            "shares": [
                {"namespaceSelector": {"matchLabels": {TEAM: s["name"]}}, **s} for s in shares
            ],
            **fair,
        },
    )


def flood(namespace: str, dep: str, count: int, delay: str) -> None:
    create(
        [batchjob(f"run-{i:03d}", delay=delay, uses=[{"dependency": dep}]) for i in range(count)],
        namespace,
    )


def settled(samples: list[Counter[str]], skip: int) -> Counter[tuple[int, ...]]:
    return Counter(tuple(sorted(s.values(), reverse=True)) for s in samples[skip:])


def test_weights_2_to_1_settle_at_4_and_2_and_a_late_team_gets_the_next_unit(
    operator, teams
) -> None:
    billing, analytics, ops = teams("billing"), teams("analytics"), teams("ops")
    dep = f"fair-{billing[-6:]}"
    create(
        shared(
            dep,
            6,
            [{"name": "billing", "weight": 2}, {"name": "analytics"}, {"name": "ops"}],
            usageHalfLife="1m",
        )
    )
    sampler = HeldSampler([billing, analytics, ops])
    sampler.start()
    try:
        flood(billing, dep, 24, "4s")
        flood(analytics, dep, 24, "4s")
        wait_for(lambda: len(sampler.samples) > 150, timeout=120, what="15 s of samples")
        late = len(sampler.first_seen)
        create(batchjob("late", delay="4s", uses=[{"dependency": dep}]), ops)
        wait_for(
            lambda: (ops, ops_job(ops)) in sampler.first_seen,
            timeout=60,
            what="the late team's run",
        )
        others = sampler.first_seen[late : sampler.first_seen.index((ops, ops_job(ops)))]
        wait_for(lambda: all_phase(billing, "Succeeded", 24), timeout=240, what="billing done")
        wait_for(lambda: all_phase(analytics, "Succeeded", 24), timeout=240, what="all done")
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    peak = max(sum(s.values()) for s in sampler.samples)
    assert peak <= 6, f"saw {peak} units held at once"
    # while both teams were flooded (before the late team came): 4 billing, 2 analytics
    both = Counter(
        (s[billing], s[analytics]) for s in sampler.samples[20:150] if sum(s.values()) == 6
    )
    print(f"full samples (billing, analytics): {dict(both)}; served before the late team: {others}")
    assert both.most_common(1)[0][0] == (4, 2), both
    # the late team was served next: at most the starts of one pass already under way before it
    assert len(others) <= 2, others
    assert status_of("late", ops)["phase"] == "Succeeded"


def ops_job(namespace: str) -> str:
    return (status_of("late", namespace) or {}).get("jobName", "")


def test_a_guarantee_kept_free_admits_its_owner_at_once(operator, teams) -> None:
    billing, analytics = teams("billing"), teams("analytics")
    dep = f"fair-{billing[-6:]}"
    create(
        shared(
            dep,
            4,
            [{"name": "billing", "guaranteed": 2, "lendable": 0}, {"name": "analytics"}],
        )
    )
    sampler = HeldSampler([billing, analytics])
    sampler.start()
    try:
        flood(analytics, dep, 6, "30s")
        wait_for(
            lambda: sum(1 for ns, _ in sampler.first_seen if ns == analytics) == 2,
            timeout=60,
            what="analytics holding what it may",
        )
        create(batchjob("urgent", delay="1s", uses=[{"dependency": dep}]), billing)
        wait_for(
            lambda: status_of("urgent", billing).get("phase") == "Succeeded",
            timeout=30,
            what="billing's run, on its kept units",
        )
        # analytics' two 30 s runs still hold: billing did not wait for them
        assert sampler.samples[-1][analytics] == 2
        waiting = status_of("run-005", analytics)
        assert waiting["reason"] == "WaitingForDependency"
        assert waiting["message"] == (
            f"waiting for {dep}: its free units are kept for other shares' guarantees"
        )
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    assert max(s[analytics] for s in sampler.samples) == 2


def run_through_faults(teams, faults: int, fault: Callable[[], None]) -> None:
    """12 runs of 3 s from each of two teams (weights 2:1) through capacity 3, `fault()` after
    every 6 Jobs seen, `faults` times: never above capacity, 2:1 while both wait, one Job per
    run. Holdings and Jobs are read from the cluster."""
    billing, analytics = teams("billing"), teams("analytics")
    dep = f"fair-{billing[-6:]}"
    create(shared(dep, 3, [{"name": "billing", "weight": 2}, {"name": "analytics"}]))
    sampler = HeldSampler([billing, analytics])
    sampler.start()
    try:
        flood(billing, dep, 12, "3s")
        flood(analytics, dep, 12, "3s")
        for done in range(faults):
            wait_for(
                lambda done=done: len(sampler.first_seen) >= 6 * (done + 1),
                timeout=120,
                what="progress before the fault",
            )
            fault()
        wait_for(lambda: all_phase(billing, "Succeeded", 12), timeout=240, what="billing done")
        wait_for(lambda: all_phase(analytics, "Succeeded", 12), timeout=240, what="all done")
    finally:
        sampler.stop()
        kubectl("delete", "dependency", dep, "--wait=false")
    assert max(sum(s.values()) for s in sampler.samples) <= 3
    full = Counter((s[billing], s[analytics]) for s in sampler.samples if sum(s.values()) == 3)
    print(f"full samples (billing, analytics): {dict(full)}")
    assert full.most_common(1)[0][0] == (2, 1), full
    jobs = Counter(ns for ns, _ in sampler.first_seen)
    assert jobs == {billing: 12, analytics: 12}, "one Job per run, none twice"


def test_a_sigkilled_operator_keeps_the_split_and_the_budget(operator, teams) -> None:
    def sigkill() -> None:
        operator.kill()
        operator.start()

    run_through_faults(teams, 2, sigkill)


def test_a_leader_change_keeps_the_split_and_the_budget(replicas, teams) -> None:
    leader, standby = start_leader_then_standby(replicas)

    def hand_over() -> None:
        leader.kill()
        wait_for(lambda: leading(standby), timeout=40, interval=0.1, what="the standby leading")

    run_through_faults(teams, 1, hand_over)


def test_schedules_firing_at_one_instant_share_by_weight(operator, teams) -> None:
    """Six scheduled BatchJobs of each team fire at the same minute into capacity 3: the
    first three runs started are two of billing's (weight 2) and one of analytics'."""
    billing, analytics = teams("billing"), teams("analytics")
    dep = f"fair-{billing[-6:]}"
    create(shared(dep, 3, [{"name": "billing", "weight": 2}, {"name": "analytics"}]))
    if datetime.now(UTC).second > 50:  # all twelve must be created before the same instant
        time.sleep(12)
    sampler = HeldSampler([billing, analytics])
    sampler.start()
    try:
        for team in (billing, analytics):
            create(
                [
                    scheduled(f"night-{i}", "* * * * *", delay="5s", uses=[{"dependency": dep}])
                    for i in range(6)
                ],
                team,
            )
        wait_for(lambda: len(sampler.first_seen) >= 3, timeout=90, what="the instant's runs")
        time.sleep(1)  # one more sample: a pass may start its three in one go
        first = Counter(ns for ns, _ in sampler.first_seen[:3])
    finally:
        sampler.stop()
        kubectl("delete", "batchjobs", "--all", "-n", billing, "--wait=false")
        kubectl("delete", "batchjobs", "--all", "-n", analytics, "--wait=false")
        kubectl("delete", "dependency", dep, "--wait=false")
    assert first == {billing: 2, analytics: 1}
    assert max(sum(s.values()) for s in sampler.samples) <= 3


@pytest.mark.parametrize(
    ("fair", "field"),
    [
        ({"shares": [{"name": "a", "weight": 0}]}, "spec.fairSharing.shares[0].weight"),
        (
            {"shares": [{"name": "a", "guaranteed": 3}, {"name": "b", "guaranteed": 2}]},
            "spec.fairSharing.shares",
        ),
        ({"shares": [{"name": "a", "guaranteed": 1, "lendable": 2}]}, "lendable"),
        ({"shares": [{"name": "a", "borrowingLimit": -1}]}, "borrowingLimit"),
        ({"shares": [{"name": "a"}, {"name": "a"}]}, "spec.fairSharing.shares[1]"),
        ({"usageHalfLife": "soon"}, "spec.fairSharing.usageHalfLife"),
        ({"shares": [{"name": "a", "colour": "red"}]}, "colour"),
        (
            {
                "shares": [
                    {
                        "name": "a",
                        "namespaceSelector": {
                            "matchExpressions": [{"key": "team", "operator": "In"}]
                        },
                    }
                ]
            },
            "values",
        ),
    ],
)
def test_bad_shares_are_refused_naming_the_field(cluster, namespace, fair, field) -> None:
    shares = [{"namespaceSelector": {}, **s} for s in fair.get("shares", [])]
    body = dependency(f"bad-{namespace[-6:]}", 4, fairSharing={**fair, "shares": shares})
    if "shares" not in fair:
        del body["spec"]["fairSharing"]["shares"]
    result = kubectl("create", "--validate=strict", "-f", "-", input=body, check=False)
    assert result.returncode != 0, f"accepted: {fair}"
    assert field in result.stderr, result.stderr
