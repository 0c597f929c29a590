"""The operator's requests as the API server saw them: counted from the audit log the local
cluster writes (hack/cluster logs every request of the bulkhead-system service accounts), for
the benchmark and the fault tier, never from the operator's own counting."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

OPERATOR_USER = "system:serviceaccount:bulkhead-system:bulkhead"
# Kueue as the benchmark's peer phase runs it (bench/phases/peer.py)
KUEUE_USER = "system:serviceaccount:kueue-system:kueue-controller-manager"
MUTATING = {"create", "update", "patch", "delete", "deletecollection"}


def percentiles(values: list[float]) -> dict[str, float]:
    """Returns {"p50", "p95", "p99"} of values, rounded to 0.1 (NaN for none)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


class Audit:
    """The operator's requests, read from the API server's audit log between two marks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Returns the log's length now (0 before it exists), a second after the call."""
        time.sleep(1.0)  # let requests in flight land in the log
        return self.path.stat().st_size if self.path.exists() else 0

    def count(self, start: int, end: int, user: str = OPERATOR_USER) -> dict[str, Any]:
        """{"mutating": n, "total": n, "by": {"patch batchjobs/status": n, ...}, "p99_ms":
        {"patch batchjobs/status": ms, ...}}: the requests of `user` (the operator's by
        default) between two marks, the mutating ones by verb and resource, and their p99
        latency inside the API server (received to response complete)."""
        counts: dict[str, Any] = {"mutating": 0, "total": 0, "by": Counter()}
        latencies: dict[str, list[float]] = {}
        with open(self.path, "rb") as handle:
            handle.seek(start)
            for line in handle.read(end - start).splitlines():
                event = json.loads(line)
                if event.get("stage") != "ResponseComplete":
                    continue
                if event.get("user", {}).get("username") != user:
                    continue
                counts["total"] += 1
                if event.get("verb") in MUTATING:
                    counts["mutating"] += 1
                    ref = event.get("objectRef", {})
                    resource = ref.get("resource", "?") + (
                        f"/{ref['subresource']}" if ref.get("subresource") else ""
                    )
                    request = f"{event['verb']} {resource}"
                    counts["by"][request] += 1
                    latencies.setdefault(request, []).append(
                        _seconds_between(event["requestReceivedTimestamp"], event["stageTimestamp"])
                        * 1000
                    )
        counts["by"] = dict(counts["by"].most_common())
        counts["p99_ms"] = {k: percentiles(latencies[k])["p99"] for k in counts["by"]}
        return counts


def _seconds_between(start: str, end: str) -> float:
    """Seconds between two of the audit log's RFC 3339 timestamps (microseconds)."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
