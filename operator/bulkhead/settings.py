"""Operator settings from the environment, read once (the README lists them)."""

from __future__ import annotations

import os
import socket
import uuid

# Reconciles (and API calls) in flight; each waits on the API server most of the time.
WORKERS = int(os.environ.get("BULKHEAD_WORKERS", "16"))
METRICS_PORT = int(os.environ.get("BULKHEAD_METRICS_PORT", "8080"))
HEALTH_PORT = int(os.environ.get("BULKHEAD_HEALTH_PORT", "8081"))
LOG_LEVEL = os.environ.get("BULKHEAD_LOG_LEVEL", "INFO").upper()
# Watch requests: the API server ends each after WATCH_SERVER_TIMEOUT seconds, the operator
# ends one itself after WATCH_CLIENT_TIMEOUT (a connection the server lost without closing);
# either way kopf reconnects from the last resourceVersion seen.
WATCH_SERVER_TIMEOUT = int(os.environ.get("BULKHEAD_WATCH_SERVER_TIMEOUT", "600"))
WATCH_CLIENT_TIMEOUT = int(os.environ.get("BULKHEAD_WATCH_CLIENT_TIMEOUT", "660"))
# Each kind is listed again this often (seconds): what a watch missed is repaired within one
# period, and a watch that misses changes twice in a row fails the liveness check.
RESYNC_PERIOD = float(os.environ.get("BULKHEAD_RESYNC_PERIOD", "300"))

# Leader election (README, "High availability"): off for a single local process; the chart
# turns it on.
LEADER_ELECTION = os.environ.get("BULKHEAD_LEADER_ELECTION", "false").lower() == "true"
LEASE_NAME = os.environ.get("BULKHEAD_LEASE_NAME", "bulkhead")
LEASE_NAMESPACE = os.environ.get("BULKHEAD_LEASE_NAMESPACE", "bulkhead-system")
# Unique per process: the pod name in a cluster, else host name and a random suffix.
IDENTITY = (
    os.environ.get("BULKHEAD_IDENTITY")
    or os.environ.get("POD_NAME")
    or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
)
LEASE_DURATION = float(os.environ.get("BULKHEAD_LEASE_DURATION", "12"))
RENEW_DEADLINE = float(os.environ.get("BULKHEAD_RENEW_DEADLINE", "8"))
RETRY_PERIOD = float(os.environ.get("BULKHEAD_RETRY_PERIOD", "2"))
