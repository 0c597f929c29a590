"""The knee of the database alone, no cluster: pgbench throughput and the probe's p99 at each
number of clients (the table in docs/dependencies.md)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.e2e.closed_loop.postgresql import PG_BIN, PG_DATABASE, PostgreSQL
from tests.e2e.closed_loop.probe import LatencyProbe


def knee(clients: list[int], seconds: int, rate: float = 0) -> Iterator[tuple[int, float, float]]:
    """(clients, pgbench tps, probe p99 in seconds) for each number of clients, on a fresh
    database in a temporary directory, each run `seconds` long, each client asking `rate`
    transactions a second (0: as fast as it can)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        PostgreSQL(Path(tmp)) as database,
        LatencyProbe(database) as probe,
    ):
        for n in clients:
            since = time.monotonic()
            run = subprocess.run(
                [str(PG_BIN / "pgbench"), *database.client_args(), "-n", "-c", str(n),
                 "-j", str(min(n, 2)), "-T", str(seconds),
                 *(["-R", str(rate * n)] if rate else []), "-f", str(database.batch_script),
                 PG_DATABASE],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            tps = next(
                float(line.split()[2])
                for line in run.stdout.splitlines()
                if line.startswith("tps = ")
            )
            yield n, tps, probe.p99(since)
