"""A run that cannot start says so (issue 9, item 5): the BatchJob shows the Kubernetes reason
in its status and a Warning Event within 30 s, instead of Running with nothing running.

The Job controller's refusals are real here (a ResourceQuota, a missing PriorityClass). kwok
pulls no images and mounts nothing, so a pod that a kubelet would report as ErrImagePull or
CreateContainerConfigError is made to report it by the annotation that hack/kwok/stages.yaml
reads (`local.bulkhead.dev/waiting-reason`); what bulkhead reads is the same pod status.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import batchjob, condition, jobs_of, status_of, wait_phase

WAITING_REASON = "local.bulkhead.dev/waiting-reason"
WAITING_MESSAGE = "local.bulkhead.dev/waiting-message"
# The issue's bound: a person sees why within 30 s of creating the BatchJob.
SHOWN_WITHIN = 30.0


def never_starts(name: str, reason: str, message: str, **spec: Any) -> dict[str, Any]:
    body = batchjob(name, **spec)
    body["spec"]["podMetadata"]["annotations"].update(
        {WAITING_REASON: reason, WAITING_MESSAGE: message}
    )
    return body


def warning_events(name: str, namespace: str) -> list[tuple[str, str]]:
    return [
        (e["reason"], e["message"])
        for e in get("events", namespace=namespace)
        if e["involvedObject"].get("name") == name and e["type"] == "Warning"
    ]


def shown(name: str, namespace: str, reason: str, started: float) -> tuple[dict[str, Any], float]:
    """Waits for status.reason == reason and its Warning Event; returns the status and the
    seconds from creation until both were there."""

    def seen() -> dict[str, Any] | None:
        status = status_of(name, namespace)
        events = [r for r, _ in warning_events(name, namespace)]
        return status if status.get("reason") == reason and reason in events else None

    status: dict[str, Any] = wait_for(seen, timeout=SHOWN_WITHIN, what=f"{name} {reason}")
    return status, time.monotonic() - started


def test_runs_that_cannot_start_say_why_within_30s(operator, namespace):
    kubectl("create", "quota", "batch-memory", "-n", namespace, "--hard=limits.memory=512Mi")
    big = {"limits": {"cpu": "100m", "memory": "1Gi"}}
    cases = {
        "over-quota": (batchjob("over-quota", resources=big), "FailedCreate", "exceeded quota"),
        "no-priority-class": (
            batchjob("no-priority-class", priorityClassName="no-such-class"),
            "FailedCreate",
            "no PriorityClass with name no-such-class was found",
        ),
        "image-pull": (
            never_starts(
                "image-pull",
                "ImagePullBackOff",
                'Back-off pulling image "registry.example/missing:1.0"',
            ),
            "ImagePullBackOff",
            'Back-off pulling image "registry.example/missing:1.0"',
        ),
        "missing-configmap": (
            never_starts(
                "missing-configmap",
                "CreateContainerConfigError",
                'configmap "etl-config" not found',
                envFrom=[{"configMapRef": {"name": "etl-config"}}],
            ),
            "CreateContainerConfigError",
            'configmap "etl-config" not found',
        ),
    }
    started = time.monotonic()
    for body, _, _ in cases.values():
        create(body, namespace)
    took = {}
    for name, (_, reason, text) in cases.items():
        status, took[name] = shown(name, namespace, reason, started)
        assert status["phase"] == "Pending", status
        assert text in status["message"], status["message"]
        assert condition(status, "Stalled")["status"] == "True"
        assert condition(status, "Reconciling")["status"] == "False"
        assert condition(status, "Ready")["status"] == "False"
        [job] = jobs_of(name, namespace)  # one Job, left to the Job controller to retry
        assert status["jobName"] == job["metadata"]["name"]
        assert any(text in message for _, message in warning_events(name, namespace))
    print(f"seconds from create to status and Event: {took}")


def test_a_run_shown_as_not_started_runs_once_the_cause_is_gone(operator, namespace):
    kubectl("create", "quota", "no-pods", "-n", namespace, "--hard=pods=0")
    create(batchjob("later"), namespace)
    shown("later", namespace, "FailedCreate", time.monotonic())
    kubectl("delete", "quota", "no-pods", "-n", namespace)
    # The Job controller retries pod creation with its own back-off (at most a minute).
    status = wait_phase("later", namespace, "Succeeded", timeout=120)
    assert condition(status, "Stalled")["status"] == "False"
    assert len(jobs_of("later", namespace)) == 1


def test_a_scheduled_run_that_cannot_start_says_why(operator, namespace):
    body = never_starts(
        "nightly",
        "ErrImagePull",
        "pull access denied for registry.example/missing",
        schedule="@every 10s",
        concurrencyPolicy="Forbid",
    )
    create(body, namespace)
    # the first run starts 10 s after creation; the 30 s are counted from there
    status, _ = shown("nightly", namespace, "ErrImagePull", time.monotonic() - 10)
    assert status["phase"] == "Pending"
    assert status["message"].startswith("run of ")
    assert "pull access denied" in status["message"]
    assert condition(status, "Stalled")["status"] == "True"
    [run] = [r for r in status["runs"] if r["result"] == "Running"]
    assert run["reason"] == "ErrImagePull"
    assert len(jobs_of("nightly", namespace)) == 1  # Forbid: the stuck run holds the schedule
