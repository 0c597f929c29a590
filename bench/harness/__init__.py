"""The benchmark's harness: what every phase shares. settings (the BENCH_* variables),
watch (when each Job or BatchJob did what, seen through watches), measure (CPU and memory,
from /proc), workload (namespaces, Dependencies, BatchJobs and raw Jobs, created fast or at a
rate), results (the machine, the table, the files in BENCH_OUT). What the test tiers share
with it comes from tests/support/: the operator process (operator) and the audit log's
request counts and percentiles (audit). bench/run.py runs the phases (bench/phases/)."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Prints message on stderr as the bench's progress (stdout carries the table)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
