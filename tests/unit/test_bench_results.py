"""The benchmark's summaries (bench/harness/results.py): medians over rounds, and the peer
phase's table of bulkhead beside Kueue."""

from __future__ import annotations

from typing import Any

import pytest

from bench.harness.results import PEER_ROWS, medians, peer_table


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([{"a": 1.0}, {"a": 3.0}], {"a": 2.0}),
        ([{"a": 1.0}, {"a": 2.0}, {"a": 9.0}], {"a": 2.0}),
        # a request one round did not make counts 0 there
        (
            [{"by": {"create jobs": 1.0, "patch jobs": 2.0}}, {"by": {"create jobs": 1.0}}],
            {"by": {"create jobs": 1.0, "patch jobs": 1.0}},
        ),
        (
            [{"p": {"p50": 1.0, "p99": 4.0}, "n": 3}, {"p": {"p50": 2.0, "p99": 8.0}, "n": 3}],
            {"p": {"p50": 1.5, "p99": 6.0}, "n": 3},
        ),
        ([{"a": 1 / 3}], {"a": 0.33}),
    ],
)
def test_medians_key_by_key(runs: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert medians(runs) == expected


def figures(value: float, by: dict[str, float]) -> dict[str, Any]:
    """A run's figures for both workloads, every figure `value` but the writes by request."""
    run: dict[str, Any] = {}
    for _, workload, path in PEER_ROWS:
        at = run.setdefault(workload, {})
        for key in path[:-1]:
            at = at.setdefault(key, {})
        at[path[-1]] = value
    run["big"]["writes_per_job_by_request"] = by
    return run


def test_peer_table_shows_medians_beside_each_round() -> None:
    bulkhead = [figures(1.0, {"create jobs": 1.0}), figures(3.0, {"create jobs": 1.0})]
    kueue = [figures(10.0, {"create workloads": 1.0}), figures(20.0, {})]
    peer = {
        "rounds": 2,
        "workloads": {"big": [40, 2], "latency": [20, 10]},
        "systems": {
            "bulkhead": {
                "median": medians(bulkhead),
                "runs": bulkhead,
                "rss_mib": {"start": 80.0, "end": 90.0, "peak": 95.0},
            },
            "kueue": {
                "median": medians(kueue),
                "runs": kueue,
                "rss_mib": {"start": 30.0, "end": 40.0, "peak": 41.0},
            },
        },
    }
    big, latency = "40 behind 2", "20 behind 10"
    rows = [
        ("admissions per second", big),
        ("create to start p50 ms", latency),
        ("create to start p99 ms", latency),
        ("freed to next p99 ms", latency),
        ("controller CPU ms per Job", big),
        ("controller CPU ms per Job", latency),
        ("controller peak RSS MiB", big),
        ("API writes per Job", big),
    ]
    tail = [
        ("API writes per Job", latency),
        ("machine CPU ms per Job", big),
        ("API server CPU ms per Job", big),
        ("bulkhead operator CPU ms per Job", big),
        ("Kueue CPU ms per Job", big),
        ("machine CPU ms per Job", latency),
        ("cores busy", big),
        ("seconds", big),
        ("seconds", latency),
    ]
    each = "2.0 [1.0, 3.0] | 15.0 [10.0, 20.0]"
    assert peer_table(peer).splitlines() == [
        "Peer phase: medians of 2 rounds [each round]",
        "",
        "| metric | bulkhead | kueue |",
        "|---|---|---|",
        *(f"| {label}, {shape} | {each} |" for label, shape in rows),
        f"| API writes per Job, by request, {big} | create jobs 1.0 | create workloads 0.5 |",
        *(f"| {label}, {shape} | {each} |" for label, shape in tail),
        "| RSS MiB at the phase's start -> end, peak | 80.0 -> 90.0, peak 95.0 "
        "| 30.0 -> 40.0, peak 41.0 |",
    ]
