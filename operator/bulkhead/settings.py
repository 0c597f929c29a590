"""Operator settings from the environment, read once by the composition root.

`SETTINGS` is the one list of them, with defaults and one-line help: `python -m bulkhead
--help` prints it, and a unit test checks the table in docs/operating.md against it.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping
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
    Setting(
        "BULKHEAD_EVENTS_PORT",
        "8090",
        "the CloudEvents endpoint `/events/<namespace>/<batchjob>/<trigger>` (0: off)",
    ),
    Setting("BULKHEAD_EVENTS_ADDRESS", "0.0.0.0", "the address the CloudEvents endpoint binds"),
    Setting(
        "BULKHEAD_EVENTS_TLS_CERT",
        "",
        "a PEM certificate (chain) file: the endpoint serves HTTPS with it (empty: HTTP)",
    ),
    Setting("BULKHEAD_EVENTS_TLS_KEY", "", "the PEM private key file of that certificate"),
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


@dataclass(frozen=True, slots=True)
class Settings:
    """The operator's settings, read once from the environment (`from_env`) by the composition
    root (operator.py) and passed to what needs them; nothing reads the environment at import."""

    # Reconciles (and API calls) in flight; each waits on the API server most of the time.
    workers: int
    metrics_port: int
    health_port: int
    # The CloudEvents endpoint: port 0 serves none; with a certificate and key, HTTPS (the
    # callers' bearer tokens should not cross a network in the clear).
    events_port: int
    events_address: str
    events_tls_cert: str
    events_tls_key: str
    log_level: str
    # Watch requests: the API server ends each after watch_server_timeout seconds, the operator
    # ends one itself after watch_client_timeout (a connection the server lost without closing);
    # either way the watch resumes from the last resourceVersion seen.
    watch_server_timeout: int
    watch_client_timeout: int
    # Each kind is listed again this often (seconds): what a watch missed is repaired within one
    # period, and a watch that misses changes twice in a row fails the liveness check.
    resync_period: float
    # Leader election (docs/operating.md, "High availability"): off for a single local
    # process; the chart turns it on.
    leader_election: bool
    namespace: str
    lease_name: str
    lease_namespace: str
    # Unique per process: the pod name in a cluster, else host name and a random suffix.
    identity: str
    lease_duration: float
    renew_deadline: float
    retry_period: float

    def __post_init__(self) -> None:
        if bool(self.events_tls_cert) != bool(self.events_tls_key):
            raise ValueError("BULKHEAD_EVENTS_TLS_CERT and BULKHEAD_EVENTS_TLS_KEY go together")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings `environ` sets, each absent one at its default (SETTINGS). Raises
        ValueError for a number that does not parse, or a TLS certificate without its key."""

        def read(env: str) -> str:
            return environ.get(env, _BY_ENV[env].default)

        return cls(
            workers=int(read("BULKHEAD_WORKERS")),
            metrics_port=int(read("BULKHEAD_METRICS_PORT")),
            health_port=int(read("BULKHEAD_HEALTH_PORT")),
            events_port=int(read("BULKHEAD_EVENTS_PORT")),
            events_address=read("BULKHEAD_EVENTS_ADDRESS"),
            events_tls_cert=read("BULKHEAD_EVENTS_TLS_CERT"),
            events_tls_key=read("BULKHEAD_EVENTS_TLS_KEY"),
            log_level=read("BULKHEAD_LOG_LEVEL").upper(),
            watch_server_timeout=int(read("BULKHEAD_WATCH_SERVER_TIMEOUT")),
            watch_client_timeout=int(read("BULKHEAD_WATCH_CLIENT_TIMEOUT")),
            resync_period=float(read("BULKHEAD_RESYNC_PERIOD")),
            leader_election=read("BULKHEAD_LEADER_ELECTION").lower() == "true",
            namespace=read("BULKHEAD_NAMESPACE"),
            lease_name=read("BULKHEAD_LEASE_NAME"),
            lease_namespace=read("BULKHEAD_LEASE_NAMESPACE"),
            identity=read("BULKHEAD_IDENTITY")
            or environ.get("POD_NAME")
            or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
            lease_duration=float(read("BULKHEAD_LEASE_DURATION")),
            renew_deadline=float(read("BULKHEAD_RENEW_DEADLINE")),
            retry_period=float(read("BULKHEAD_RETRY_PERIOD")),
        )
