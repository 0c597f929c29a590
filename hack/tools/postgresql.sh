#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server (postgresql-15: postgres, initdb, pg_ctl and pgbench, in
# /usr/lib/postgresql/15/bin, not on PATH; it pulls postgresql-client-15 for psql) only when
# missing: tests/e2e/test_health_loop.py runs a real database under batch load (pgbench) and
# probes its latency (psql). Cold: 19 MB fetched in about 2 s, about 15 s in all after
# `apt-get update`. The package's own cluster and service are not used (the test runs its own
# server in a temporary directory, on loopback).
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
[[ -x $bin/postgres && -x $bin/initdb && -x $bin/pgbench && -x $bin/psql ]] && exit 0
echo "postgresql.sh: installing Debian's postgresql-15 package" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
