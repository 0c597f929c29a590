"""The benchmark's harness: what every phase shares. settings (the BENCH_* variables),
watch (when each Job or BatchJob did what, seen through watches), operator_process (the
operator under test), measure (CPU, the audit log's request counts, percentiles), workload
(namespaces, Dependencies, BatchJobs and raw Jobs, created fast or at a rate), results (the
machine, the table, the files in BENCH_OUT). bench/run.py runs the phases (bench/phases/)."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Prints message on stderr as the bench's progress (stdout carries the table)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
