"""BatchJob and Dependency objects as the API server returns them to `kubectl bulkhead`, and a
BatchJob waiting for orders-db that the plugin's tests of plain and fair-shared queues share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday


def dependency(
    name: str, capacity: int, *holders: tuple[str, str, int], **spec: Any
) -> dict[str, Any]:
    """A Dependency as read from the API, holders given as (namespace, name, units)."""
    return {
        "metadata": {"name": name},
        "spec": {"capacity": capacity, **spec},
        "status": {
            "inUse": sum(units for *_, units in holders),
            "holders": [{"namespace": n, "name": m, "units": u} for n, m, u in holders],
        },
    }


def batchjob(
    name: str,
    namespace: str = "billing",
    uses: tuple[tuple[str, int], ...] = (),
    created: str = "2026-11-18T01:00:00Z",
    spec: dict[str, Any] | None = None,
    **status: Any,
) -> dict[str, Any]:
    """A BatchJob as read from the API; its status has observed generation 1 unless given."""
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created,
            "generation": 1,
        },
        "spec": {
            "image": "registry.example/app:1",
            "uses": [{"dependency": d, "units": u} for d, u in uses],
            **(spec or {}),
        },
        "status": {"observedGeneration": 1, **status},
    }


WAITING_MESSAGE = (
    "waiting for orders-db: all 2 units are held or promised to BatchJobs ahead in line"
)
WAITING = batchjob(
    "invoices",
    uses=(("orders-db", 1), ("cache", 1)),
    phase="Queued",
    reason="WaitingForDependency",
    message=WAITING_MESSAGE,
    queue={"dependency": "orders-db"},
)
