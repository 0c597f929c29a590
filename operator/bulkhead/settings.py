"""Operator settings from the environment, read once at import.

`SETTINGS` is the one list of them, with defaults and one-line help: `python -m bulkhead
--help` prints it, and a unit test checks the README's table against it.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default as written, and what it sets."""

    env: str
    default: str
    help: str


SETTINGS = (
    Setting("BULKHEAD_METRICS_PORT", "8080", "Prometheus metrics (0: off)"),
    Setting("BULKHEAD_HEALTH_PORT", "8081", "kopf's liveness endpoint `/healthz` (0: off)"),
    Setting("BULKHEAD_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting("BULKHEAD_WORKERS", "16", "reconciles (and API calls) in flight"),
    Setting(
        "BULKHEAD_WATCH_SERVER_TIMEOUT",
        "600",
        "seconds the API server keeps one watch request open",
    ),
    Setting(
        "BULKHEAD_WATCH_CLIENT_TIMEOUT",
        "660",
        "seconds after which the operator ends a watch request itself (if the server has not)"
        " and reconnects",
    ),
    Setting(
        "BULKHEAD_RESYNC_PERIOD",
        "300",
        "seconds between listings of every watched kind, which repair what a watch missed;"
        " a watch that misses changes in two in a row fails `/healthz`",
    ),
    Setting(
        "BULKHEAD_LEADER_ELECTION",
        "false",
        "`true`: decide only while holding a Lease (the chart sets it)",
    ),
    Setting(
        "BULKHEAD_NAMESPACE",
        "bulkhead-system",
        "the operator's own namespace: Dependency health signals' Secrets are read there"
        " (the chart: the release's)",
    ),
    Setting("BULKHEAD_LEASE_NAME", "bulkhead", "the coordination.k8s.io/v1 Lease"),
    Setting(
        "BULKHEAD_LEASE_NAMESPACE", "bulkhead-system", "its namespace (the chart: the release's)"
    ),
    Setting(
        "BULKHEAD_IDENTITY",
        "",
        "the lease holder; empty: `$POD_NAME`, else the host name and a random suffix",
    ),
    Setting("BULKHEAD_LEASE_DURATION", "12", "seconds a lease is held without renewal"),
    Setting("BULKHEAD_RENEW_DEADLINE", "8", "seconds the leader retries renewing before it exits"),
    Setting("BULKHEAD_RETRY_PERIOD", "2", "seconds between tries to acquire or renew"),
)
_BY_ENV = {s.env: s for s in SETTINGS}


def _read(env: str) -> str:
    return os.environ.get(env, _BY_ENV[env].default)


# Reconciles (and API calls) in flight; each waits on the API server most of the time.
WORKERS = int(_read("BULKHEAD_WORKERS"))
METRICS_PORT = int(_read("BULKHEAD_METRICS_PORT"))
HEALTH_PORT = int(_read("BULKHEAD_HEALTH_PORT"))
LOG_LEVEL = _read("BULKHEAD_LOG_LEVEL").upper()
# Watch requests: the API server ends each after WATCH_SERVER_TIMEOUT seconds, the operator
# ends one itself after WATCH_CLIENT_TIMEOUT (a connection the server lost without closing);
# either way the watch resumes from the last resourceVersion seen.
WATCH_SERVER_TIMEOUT = int(_read("BULKHEAD_WATCH_SERVER_TIMEOUT"))
WATCH_CLIENT_TIMEOUT = int(_read("BULKHEAD_WATCH_CLIENT_TIMEOUT"))
# Each kind is listed again this often (seconds): what a watch missed is repaired within one
# period, and a watch that misses changes twice in a row fails the liveness check.
RESYNC_PERIOD = float(_read("BULKHEAD_RESYNC_PERIOD"))

# Leader election (README, "High availability"): off for a single local process; the chart
# turns it on.
LEADER_ELECTION = _read("BULKHEAD_LEADER_ELECTION").lower() == "true"
NAMESPACE = _read("BULKHEAD_NAMESPACE")
LEASE_NAME = _read("BULKHEAD_LEASE_NAME")
LEASE_NAMESPACE = _read("BULKHEAD_LEASE_NAMESPACE")
# Unique per process: the pod name in a cluster, else host name and a random suffix.
IDENTITY = (
    _read("BULKHEAD_IDENTITY")
    or os.environ.get("POD_NAME")
    or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
)
LEASE_DURATION = float(_read("BULKHEAD_LEASE_DURATION"))
RENEW_DEADLINE = float(_read("BULKHEAD_RENEW_DEADLINE"))
RETRY_PERIOD = float(_read("BULKHEAD_RETRY_PERIOD"))
