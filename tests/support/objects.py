"""The bulkhead objects the cluster tiers create (BatchJob and Dependency manifests) and what
the operator writes back (a BatchJob's status and runs, its Jobs, its Events), read with kubectl."""

from __future__ import annotations

from typing import Any

from tests.support.kube import get, wait_for

# kwok's pod lifetime, and the exit code the local cluster's pods end with (DESIGN.md, "The
# local cluster").
DELAY = "pod-complete.stage.kwok.x-k8s.io/delay"
EXIT_CODE = "local.bulkhead.dev/exit-code"


def batchjob(name: str, *, exit_code: int = 0, delay: str = "1s", **spec: Any) -> dict[str, Any]:
    """A BatchJob manifest whose pods run `delay` and exit with `exit_code`; `spec` sets fields
    on top of a small valid spec."""
    body: dict[str, Any] = {
        "image": "registry.example/batch:1.0",
        "command": ["run"],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
        "podMetadata": {"annotations": {DELAY: delay, EXIT_CODE: str(exit_code)}},
    }
    body.update(spec)
    return {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name},
        "spec": body,
    }


def scheduled(name: str, schedule: str = "@every 10s", **spec: Any) -> dict[str, Any]:
    """A BatchJob manifest on `schedule` (every 10 s unless given)."""
    return batchjob(name, schedule=schedule, **spec)


def dependency(name: str, capacity: int, **spec: Any) -> dict[str, Any]:
    """A Dependency manifest of `capacity` units, `spec` on top."""
    return {
        "apiVersion": "bulkhead.dev/v1alpha1",
        "kind": "Dependency",
        "metadata": {"name": name},
        "spec": {"capacity": capacity, **spec},
    }


def unique(prefix: str, namespace: str) -> str:
    """A cluster-wide name (a Dependency's) that no other test's namespace makes."""
    return f"{prefix}-{namespace[-6:]}"


def status_of(name: str, namespace: str) -> dict[str, Any]:
    """The BatchJob's status ({} while it has none or does not exist)."""
    return (get("batchjob", name, namespace) or {}).get("status") or {}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """The condition of that type in a status, or {}."""
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


def wait_status(
    name: str, namespace: str, field: str, value: str, timeout: float = 60
) -> dict[str, Any]:
    """Polls until status.<field> == value; returns the status."""

    def reached() -> dict[str, Any] | None:
        status = status_of(name, namespace)
        return status if status.get(field) == value else None

    result: dict[str, Any] = wait_for(reached, timeout=timeout, what=f"{name} {field}={value}")
    return result


def wait_phase(name: str, namespace: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    """Polls until status.phase == phase; returns the status."""
    return wait_status(name, namespace, "phase", phase, timeout)


def wait_reason(name: str, namespace: str, reason: str, timeout: float = 30) -> dict[str, Any]:
    """Polls until status.reason == reason; returns the status."""
    return wait_status(name, namespace, "reason", reason, timeout)


def all_phase(namespace: str, phase: str, count: int) -> bool:
    """Whether exactly `count` BatchJobs of the namespace are in `phase`."""
    items = get("batchjobs", namespace=namespace)
    return sum((i.get("status") or {}).get("phase") == phase for i in items) == count


def runs_of(name: str, namespace: str) -> list[dict[str, Any]]:
    """The runs a scheduled BatchJob's status lists."""
    runs: list[dict[str, Any]] = status_of(name, namespace).get("runs") or []
    return runs


def wait_runs(name: str, namespace: str, what: str, check: Any, timeout: float = 90) -> list[Any]:
    """Polls until check(runs) holds; returns the runs."""

    def reached() -> list[Any] | None:
        runs = runs_of(name, namespace)
        return runs if check(runs) else None

    result: list[Any] = wait_for(reached, timeout=timeout, what=f"{name}: {what}")
    return result


def results(runs: list[dict[str, Any]], result: str) -> list[dict[str, Any]]:
    """The runs that ended with `result`."""
    return [r for r in runs if r["result"] == result]


def jobs_of(name: str, namespace: str) -> list[dict[str, Any]]:
    """The Jobs labelled as the BatchJob's runs."""
    items: list[dict[str, Any]] = get(
        "jobs", namespace=namespace, selector=f"bulkhead.dev/batchjob={name}"
    )
    return items


def events_of(name: str, namespace: str) -> list[str]:
    """The reasons of the Events posted on the object `name` in the namespace."""
    items = get("events", namespace=namespace)
    return [e["reason"] for e in items if e["involvedObject"].get("name") == name]
