"""Objects bulkhead does not control change nothing it does: hand-made Jobs with its labels
and annotations hold no units, a malformed one stops nothing, a Job under a run's name is
never adopted."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    DELAY,
    batchjob,
    dependency,
    status_of,
    unique,
    wait_phase,
    wait_reason,
)


def hand_made_job(name: str, owner: str, uses: str, delay: str = "120s") -> dict[str, Any]:
    """A Job anyone who may create Jobs could make: bulkhead's labels and uses annotation,
    no controller owner reference."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {"bulkhead.dev/batchjob": owner, "bulkhead.dev/batchjob-uid": "forged"},
            "annotations": {"bulkhead.dev/uses": uses},
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {DELAY: delay}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example/x:1",
                            "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ],
                },
            }
        },
    }


def test_a_hand_made_job_holds_no_units_anywhere(operator, namespace, cluster):
    dep = unique("db", namespace)
    create(dependency(dep, 1))
    other = f"{namespace[:50]}-o"
    kubectl("create", "namespace", other)
    try:
        uses = f'[{{"dependency":"{dep}","units":1}}]'
        create(hand_made_job("squatter", "victim", uses), other)
        create(hand_made_job("squatter", "victim", uses), namespace)
        create(batchjob("victim", uses=[{"dependency": dep, "units": 1}]), namespace)
        wait_phase("victim", namespace, "Succeeded", timeout=60)
        assert get("job", "squatter", namespace) is not None  # left alone
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")
        kubectl("delete", "namespace", other, "--wait=false")


def test_a_malformed_annotation_stops_nothing(operator, namespace):
    create(hand_made_job("garbage", "whatever", "{not json", delay="1s"), namespace)
    create(batchjob("after-garbage"), namespace)
    wait_phase("after-garbage", namespace, "Succeeded", timeout=60)
    assert operator.proc.poll() is None


def test_a_job_under_a_runs_name_is_never_adopted(operator, namespace):
    dep = unique("db", namespace)
    create(dependency(dep, 0))  # holds the BatchJob back until its name is taken
    try:
        create(batchjob("taken", uses=[{"dependency": dep, "units": 1}]), namespace)
        wait_reason("taken", namespace, "WaitingForDependency")
        uid = get("batchjob", "taken", namespace)["metadata"]["uid"]
        name = f"taken-{hashlib.sha256(uid.encode()).hexdigest()[:8]}"
        create(hand_made_job(name, "taken", "[]", delay="1s"), namespace)
        kubectl("patch", "dependency", dep, "--type=merge", "-p", '{"spec":{"capacity":1}}')
        status = wait_reason("taken", namespace, "JobNameTaken")
        assert status["phase"] == "Pending" and name in status["message"]
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True"
        job = get("job", name, namespace)
        assert not job["metadata"].get("ownerReferences")  # not adopted
        kubectl("delete", "job", name, "-n", namespace, "--wait=true")
        wait_for(
            lambda: status_of("taken", namespace).get("phase") == "Succeeded",
            timeout=60,
            what="runs once the name is free",
        )
    finally:
        kubectl("delete", "dependency", dep, "--wait=false")
