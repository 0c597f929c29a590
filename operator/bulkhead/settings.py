"""Operator settings from the environment, read once (the README lists them)."""

from __future__ import annotations

import os

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
