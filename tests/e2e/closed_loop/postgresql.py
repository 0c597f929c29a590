"""PostgreSQL for the closed loop: Debian's server on a free loopback port, pgbench tables
whose hot row sets the knee, and the transaction each batch client runs (BATCH_SCRIPT)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.closed_loop.service import Service, stop_process
from tests.support.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's; initdb and postgres are not on PATH
PG_USER = "bench"  # the superuser initdb creates; trust auth, loopback only
PG_DATABASE = "postgres"
PGBENCH_SCALE = 1  # 100,000 accounts and one branch: every write meets on the branch row

# The hot row's guard: a transaction-level advisory lock, whose waiters PostgreSQL's lock
# manager serves in order, so the time a user waits follows the number of clients ahead of it
# (a row lock alone wakes every waiter to race for it, and the tail is luck).
HOT_LOCK = "SELECT pg_advisory_xact_lock(1);"
# A batch client's transaction: pgbench's own writes, with the hot lock held across the
# client's work (pg_sleep 1 ms, about 2.7 ms with the timer's rounding: the knee near 370
# transactions a second, 16 clients at CLIENT_RATE in load.py).
BATCH_SCRIPT = f"""\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
{HOT_LOCK}
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = 1;
SELECT pg_sleep(0.001);
END;
"""


def _as_postgres_user() -> list[str]:
    """The prefix that runs a server command as the `postgres` system user when we are root
    (postgres refuses uid 0); nothing otherwise."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class PostgreSQL(Service):
    """A PostgreSQL server on 127.0.0.1:port. The first start() creates the cluster and the
    pgbench tables; stop() shuts it down (fast: clients are cut off) keeping its data, and a
    later start() brings the same database back."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.home: Path | None = None  # the server's own directory (data), owned by its user
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.batch_script = log_dir / "batch.sql"  # pgbench -f: BATCH_SCRIPT
        self.batch_script.write_text(BATCH_SCRIPT)

    def client_args(self) -> list[str]:
        """Connection options for psql and pgbench."""
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER]

    def start(self) -> None:
        fresh = self.home is None
        if fresh:
            self.home = Path(tempfile.mkdtemp(prefix="bulkhead-pg-"))
            if os.geteuid() == 0:
                shutil.chown(self.home, "postgres", "postgres")
            subprocess.run(
                [*_as_postgres_user(), str(PG_BIN / "initdb"), "-D", str(self.home / "data"),
                 "-U", PG_USER, "--auth=trust", "--no-locale", "-E", "UTF8"],
                check=True, capture_output=True,
            )  # fmt: skip
        self.starts += 1
        with open(self.log_dir / f"postgresql-{self.starts}.log", "wb") as log:
            # Durability is not under test: without fsync the disk (which other work on the
            # machine shares) plays no part in the knee.
            self.proc = subprocess.Popen(
                [*_as_postgres_user(), str(PG_BIN / "postgres"), "-D", str(self.home / "data"),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", "unix_socket_directories=", "-c", "fsync=off",
                 "-c", "synchronous_commit=off"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", *self.client_args()], check=False
        ).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start; see {self.log_dir}")
            time.sleep(0.1)
        if fresh:
            subprocess.run(
                [str(PG_BIN / "pgbench"), *self.client_args(), "-i", "-q",
                 "-s", str(PGBENCH_SCALE), PG_DATABASE],
                check=True, capture_output=True,
            )  # fmt: skip

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT)  # fast shutdown

    def close(self) -> None:
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
