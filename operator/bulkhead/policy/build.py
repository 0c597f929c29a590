"""Pure: a BatchJob -> the batch/v1 Job that runs it.

The pod is locked down so that it passes Pod Security Admission `restricted` as it is: a batch
run gets exactly the privileges a restricted namespace allows, wherever it runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec, Use
from bulkhead.api.constants import (
    ANNOTATION_RUN_NOW_VALUE,
    ANNOTATION_SCHEDULED,
    ANNOTATION_TRIGGER_RUN,
    ANNOTATION_USES,
    API_VERSION,
    LABEL_BATCHJOB,
    LABEL_BATCHJOB_UID,
)
from bulkhead.api.triggers import RunEvent

CONTAINER = "main"
TMP_VOLUME = "bulkhead-tmp"
SECURITY_PROFILE = {"type": "RuntimeDefault"}


def job_name(name: str, uid: str, run: str = "") -> str:
    """Deterministic: a repeated create of the same run collides (409) instead of duplicating.

    The uid part keeps a re-created BatchJob of the same name from adopting its predecessor's Job;
    `run` names one run of a scheduled BatchJob (its instant, or its run-now request).
    """
    seed = f"{uid}/{run}" if run else uid
    return f"{name}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def run_token(scheduled: str, run_now: str, trigger_run: str = "") -> str:
    """What names a run of a scheduled or triggered BatchJob: the trigger and key that started
    it (`<trigger>/<key>`), else its run-now request, else its instant."""
    if trigger_run:
        return f"trigger/{trigger_run}"
    return f"run-now/{run_now}" if run_now else scheduled


def uses_annotation(uses: list[Use] | None) -> str:
    return json.dumps([u.wire() for u in uses or []], separators=(",", ":"), sort_keys=True)


def parse_uses_annotation(text: str | None) -> list[Use]:
    if not text:
        return []
    return [Use.model_validate(u) for u in json.loads(text)]


def run_labels(name: str, uid: str) -> dict[str, str]:
    """The labels on a BatchJob's Jobs and their pods, given its name and uid."""
    return {LABEL_BATCHJOB: name, LABEL_BATCHJOB_UID: uid}


def controller_reference(name: str, uid: str) -> dict[str, Any]:
    """The ownerReference that makes the BatchJob `name` (uid `uid`) the controller of an object
    in its namespace, so the garbage collector deletes the object with it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchJob",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _event_env(event: RunEvent) -> list[dict[str, str]]:
    """The CloudEvent a run answers, as environment variables of its container."""
    values = {
        "BULKHEAD_EVENT_ID": event.id,
        "BULKHEAD_EVENT_SOURCE": event.source,
        "BULKHEAD_EVENT_TYPE": event.type,
        "BULKHEAD_EVENT_DATA": event.data,
    }
    return [{"name": k, "value": v} for k, v in values.items() if v is not None]


def _container(spec: BatchJobSpec, event: RunEvent | None) -> dict[str, Any]:
    limits = spec.resources.limits.wire()
    requests = {**limits, **(spec.resources.requests.wire() if spec.resources.requests else {})}
    mounts = [m.wire() for m in spec.volume_mounts or []]
    if not any(m["mountPath"] == "/tmp" for m in mounts):
        mounts.append({"name": TMP_VOLUME, "mountPath": "/tmp"})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "resources": {"limits": limits, "requests": requests},
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "seccompProfile": SECURITY_PROFILE,
        },
        # A failed run's reason lands on the pod, where `kubectl describe` shows it.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    for key, value in (
        ("command", spec.command),
        ("args", spec.args),
        ("env", [e.wire() for e in spec.env or []] + (_event_env(event) if event else [])),
        ("envFrom", [e.wire() for e in spec.env_from or []]),
    ):
        if value:
            container[key] = value
    return container


def _pod_spec(spec: BatchJobSpec, event: RunEvent | None) -> dict[str, Any]:
    volumes = [v.wire() for v in spec.volumes or []]
    volumes.append({"name": TMP_VOLUME, "emptyDir": {}})
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [_container(spec, event)],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": SECURITY_PROFILE},
        "automountServiceAccountToken": bool(spec.service_account_name),
        "enableServiceLinks": False,
    }
    if spec.service_account_name:
        pod["serviceAccountName"] = spec.service_account_name
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [t.wire() for t in spec.tolerations]
    if spec.priority_class_name:
        pod["priorityClassName"] = spec.priority_class_name
    return pod


def _pod_failure_policy(spec: BatchJobSpec) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    if spec.non_retryable_exit_codes:
        rules.append(
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": sorted(set(spec.non_retryable_exit_codes)),
                },
            }
        )
    # A node drained or a pod preempted is not the run's fault: do not count it as a retry.
    rules.append({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]})
    return {"rules": rules}


def build_job(
    *,
    name: str,
    namespace: str,
    uid: str,
    spec: BatchJobSpec,
    scheduled: str = "",
    run_now: str = "",
    trigger_run: str = "",
    event: RunEvent | None = None,
) -> dict[str, Any]:
    """The Job for one run of the BatchJob `namespace/name` (uid `uid`): the only run of a
    one-shot BatchJob, or the run of a scheduled one for instant `scheduled` (RFC 3339), made by
    the run-now request `run_now` when that is set, or by the trigger and key `trigger_run`
    (`<trigger>/<key>`), answering the CloudEvent `event` when there is one."""
    links = run_labels(name, uid)
    run = run_token(scheduled, run_now, trigger_run)
    run_annotations = {
        k: v
        for k, v in (
            (ANNOTATION_SCHEDULED, scheduled),
            (ANNOTATION_RUN_NOW_VALUE, run_now),
            (ANNOTATION_TRIGGER_RUN, trigger_run),
        )
        if v
    }
    pod_meta = spec.pod_metadata
    pod_labels = {**(pod_meta.labels if pod_meta and pod_meta.labels else {}), **links}
    pod_annotations = {
        **(dict(pod_meta.annotations) if pod_meta and pod_meta.annotations else {}),
        **run_annotations,
    }
    job_spec: dict[str, Any] = {
        "parallelism": spec.parallelism,
        "completions": spec.completions,
        "backoffLimit": spec.backoff_limit,
        "podFailurePolicy": _pod_failure_policy(spec),
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": _pod_spec(spec, event),
        },
    }
    if spec.completions > 1:
        job_spec["completionMode"] = "Indexed"
    if spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, uid, run),
            "namespace": namespace,
            "labels": links,
            "annotations": {ANNOTATION_USES: uses_annotation(spec.uses), **run_annotations},
            "ownerReferences": [controller_reference(name, uid)],
        },
        "spec": job_spec,
    }
