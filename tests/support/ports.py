"""Free loopback ports for the processes a test or the benchmark starts (the operator's metrics
and health endpoints, a probe, Prometheus, PostgreSQL)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice); the
    caller's process binds it soon after, before another start could pick it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
