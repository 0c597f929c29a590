"""Every BENCH_* variable, read once, and the constants the phases share.

BENCH_N (default 1000): BatchJobs per phase. BENCH_REST_N (default 10000): finished BatchJobs
for the memory-at-rest and restart phase. BENCH_OUT: where results go (default bench/results).
BENCH_PROFILE: a file the operator's cProfile profile is written to (the operator then runs
under cProfile: slower, so never for committed numbers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
N = int(os.environ.get("BENCH_N", "1000"))
REST_N = int(os.environ.get("BENCH_REST_N", "10000"))
# Scheduled BatchJobs that fire at one instant (500 at N=1000).
SCHEDULED_N = max(N // 2, 1)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results"))
SPEC: dict[str, Any] = {
    "image": "registry.example/bench:1.0",
    "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
    "podMetadata": {"annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
}
CREATORS = 8
# The open-loop phase: raw Jobs, then BatchJobs, arrive at OPEN_RATE per second.
OPEN_RATE = float(os.environ.get("BENCH_OPEN_RATE", "20"))
OPEN_SECONDS = float(os.environ.get("BENCH_OPEN_SECONDS", "60"))
# Lower rates the open loop runs at too (comma-separated; empty: none): the highest rate at
# which plain Jobs, and BatchJobs, hold their p99 on this machine.
OPEN_SWEEP = [float(r) for r in os.environ.get("BENCH_OPEN_SWEEP", "5,10").split(",") if r]
# The admission phase (the queue, not pod runtime, is the limit; Kueue's baseline compares):
# ADMISSION_N BatchJobs waiting on one Dependency of capacity ADMISSION_N / 25, pods of 1 s.
ADMISSION_N = int(os.environ.get("BENCH_ADMISSION_N", str(5 * N)))
# The events phase: EVENTS_N distinct CloudEvents sent as fast as EVENT_SENDERS threads can
# (the endpoint's rate), then EVENTS_RATE per second for EVENTS_SECONDS (event to Job latency).
EVENTS_N = int(os.environ.get("BENCH_EVENTS_N", "5000"))
EVENTS_RATE = float(os.environ.get("BENCH_EVENTS_RATE", "20"))
EVENTS_SECONDS = float(os.environ.get("BENCH_EVENTS_SECONDS", "30"))
EVENT_SENDERS = 16
# The peer phase, bulkhead beside Kueue on the same workloads: PEER_N Jobs waiting behind
# capacity PEER_N / 25 (admissions per second), then PEER_LATENCY_N behind PEER_LATENCY_CAPACITY
# (create to start, freed to next), for each system in each of PEER_ROUNDS rounds.
PEER_N = int(os.environ.get("BENCH_PEER_N", "5000"))
PEER_LATENCY_N = int(os.environ.get("BENCH_PEER_LATENCY_N", "1000"))
PEER_LATENCY_CAPACITY = 10
PEER_ROUNDS = int(os.environ.get("BENCH_PEER_ROUNDS", "2"))
PHASES = (
    "raw",
    "bulkhead",
    "open",
    "dependency",
    "admission",
    "fair",
    "schedule",
    "events",
    "peer",
    "rest",
)
# BENCH_PHASES: a comma-separated subset of PHASES, to look at one thing closely.
SELECTED = [p for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",") if p]
# BENCH_PROFILE: a file; the operator then runs under cProfile and writes its profile there.
PROFILE = os.environ.get("BENCH_PROFILE")
PROGRESS_EVERY = 10.0  # seconds between progress lines while a phase runs
