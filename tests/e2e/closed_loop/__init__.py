"""The closed loop around a health-driven Dependency (tests/e2e/test_health_loop.py): a real
PostgreSQL, a probe that measures its query latency and serves it to a real Prometheus, and a
load driver that makes the database feel the batch load of the BatchJobs that run on the kwok
cluster (kwok pods run no code). One module each:

    postgresql   Debian's server (hack/tools/postgresql.sh) in a temporary directory, on a free
                 loopback port, no Unix socket, no root service; `pgbench -i` tables at scale 1.
                 Its knee is a hot row, not the CPU: every batch transaction (BATCH_SCRIPT)
                 holds the lock that guards it (HOT_LOCK) for about a millisecond of the
                 client's own work, so throughput stops near 1 / that time and, past the
                 knee, every user of the row queues behind the batch clients. A knee set by
                 the CPU moved with whatever else the 2 cores ran (about 16 clients beside the
                 cluster, near 28 alone); this one moves little, and leaves the CPU to the
                 control plane.
    probe        LatencyProbe: one psql on one connection runs a query every PROBE_PERIOD and
                 serves the timings on /metrics (prometheus-client): the Histogram
                 PROBE_HISTOGRAM_seconds and the counter PROBE_FAILURES_total. A probe that
                 fails or takes longer than PROBE_TIMEOUT is counted and observed as
                 PROBE_TIMEOUT.
    prometheus   Debian's (hack/tools/prometheus.sh), scraping the probe every second.
    load         LoadDriver: watches the pods of a namespace and runs one pgbench client per
                 unit of the Dependency for every Running pod of a BatchJob that uses it, until
                 the pod ends.
    service      what they share: each is a context manager (start on enter, stop on exit).
    knee         the database measured alone.

PostgreSQL and Prometheus can also be stopped and started again in between, keeping their
data, for the breaker and signal-loss tests. PostgreSQL refuses to run as root: when the tests
run as root, the server runs as the `postgres` system user (setpriv, no login session), its
data in a directory of its own under /tmp (the pytest temporary directory is private to root)
that close() deletes; its log goes to the caller's directory.

`python -m tests.e2e.closed_loop knee` (from the repository root) measures the database on this
machine, no cluster: pgbench throughput and the probe's p99 at each number of clients (the table
in docs/dependencies.md).
"""
