"""`python -m tests.e2e.closed_loop knee [SECONDS_PER_STEP [RATE_PER_CLIENT]]`: the knee
table of the database on this machine (closed_loop/knee.py)."""

from __future__ import annotations

import sys

from tests.e2e.closed_loop.knee import knee
from tests.e2e.closed_loop.load import CLIENT_RATE

if __name__ == "__main__":
    if sys.argv[1:2] != ["knee"]:
        sys.exit(
            "usage: python -m tests.e2e.closed_loop knee"
            " [SECONDS_PER_STEP [RATE_PER_CLIENT, 0: unpaced]]"
        )
    step_seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    client_rate = float(sys.argv[3]) if len(sys.argv) > 3 else CLIENT_RATE
    print("clients  tps     probe p99 (ms)")
    for n, tps, p99 in knee([1, 2, 4, 8, 12, 16, 24, 32], step_seconds, client_rate):
        print(f"{n:7d}  {tps:6.0f}  {p99 * 1000:8.1f}", flush=True)
