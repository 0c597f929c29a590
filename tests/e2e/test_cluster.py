"""The local cluster is a real one: real version, Job controller, admission, CEL validation,
and pods that end the way hack/kwok/stages.yaml promises."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.support.kube import (
    condition,
    create,
    get,
    kubectl,
    kubectl_json,
    wait_condition,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
EXIT_CODE = "local.bulkhead.dev/exit-code"
DELAY = "pod-complete.stage.kwok.x-k8s.io/delay"


def _versions() -> dict[str, str]:
    lines = (ROOT / "hack" / "tools" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def job(name: str, annotations: dict | None = None, restart: str = "Never", **spec) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "restartPolicy": restart,
                    "containers": [{"name": "main", "image": "busybox"}],
                },
            },
            **spec,
        },
    }


def pods_of(job_name: str, namespace: str) -> list[dict]:
    return get("pods", namespace=namespace, selector=f"batch.kubernetes.io/job-name={job_name}")


def terminated(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]


def test_server_version(cluster):
    version = json.loads(kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == _versions()["KUBERNETES_VERSION"] == "v1.37.2"


def test_nodes_are_ready_kwok_nodes(cluster):
    nodes = get("nodes", selector="type=kwok")
    assert len(nodes) >= 2
    for node in nodes:
        assert condition(node, "Ready")["status"] == "True"
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


def test_job_completes(cluster, namespace):
    create(job("ok"), namespace)
    obj = wait_condition("job", "ok", namespace, "Complete", timeout=60)
    assert obj["status"]["succeeded"] == 1
    (pod,) = pods_of("ok", namespace)
    assert pod["status"]["phase"] == "Succeeded"
    assert terminated(pod)["exitCode"] == 0
    assert terminated(pod)["reason"] == "Completed"


def test_job_fails_with_exit_code_after_backoff_limit(cluster, namespace):
    create(job("bad", {EXIT_CODE: "3"}, backoffLimit=1), namespace)
    # the Job controller waits ~10s before it replaces the first failed pod
    obj = wait_condition("job", "bad", namespace, "Failed", timeout=90)
    assert condition(obj, "Failed")["reason"] == "BackoffLimitExceeded"
    assert obj["status"]["failed"] == 2
    pods = pods_of("bad", namespace)
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert terminated(pod)["exitCode"] == 3
        assert terminated(pod)["reason"] == "Error"


def test_pod_failure_policy_matches_exit_code(cluster, namespace):
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    create(job("policy", {EXIT_CODE: "42"}, backoffLimit=5, podFailurePolicy=policy), namespace)
    obj = wait_condition("job", "policy", namespace, "Failed", timeout=60)
    assert condition(obj, "Failed")["reason"] == "PodFailurePolicy"
    assert len(pods_of("policy", namespace)) == 1


def test_bare_pod_ends_with_annotated_code_and_delay(cluster, namespace):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bare", "annotations": {EXIT_CODE: "5", DELAY: "3s"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
    }
    create(pod, namespace)
    running = wait_for(
        lambda: (p := get("pod", "bare", namespace))["status"].get("phase") == "Running" and p,
        timeout=30,
        what="pod Running",
    )
    ended = wait_for(
        lambda: (
            (p := get("pod", "bare", namespace))["status"]["phase"] in ("Succeeded", "Failed") and p
        ),
        timeout=30,
        what="pod ended",
    )
    assert ended["status"]["phase"] == "Failed"
    assert terminated(ended)["exitCode"] == 5
    started = running["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert started <= terminated(ended)["finishedAt"]


def test_deleted_job_pods_go_away(cluster, namespace):
    create(job("long", {DELAY: "1h"}), namespace)
    wait_for(
        lambda: [p for p in pods_of("long", namespace) if p["status"].get("phase") == "Running"],
        timeout=30,
        what="pod Running",
    )
    kubectl("delete", "job", "long", "-n", namespace, "--cascade=foreground", "--wait=false")
    wait_for(
        lambda: get("job", "long", namespace) is None and not pods_of("long", namespace),
        timeout=60,
        what="job and its pods gone",
    )


def test_privileged_pod_refused_by_pod_security(cluster, namespace):
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "priv"},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox", "securityContext": {"privileged": True}}
            ]
        },
    }
    proc = create(pod, namespace, check=False)
    assert proc.returncode != 0
    assert "violates PodSecurity" in proc.stderr
    assert "restricted" in proc.stderr
    assert "privileged" in proc.stderr


def test_crd_cel_rule_rejects_bad_object(cluster, namespace):
    group = f"e2e{uuid.uuid4().hex[:8]}.bulkhead.dev"
    message = "minReplicas must not exceed maxReplicas"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "minReplicas": {"type": "integer"},
                                        "maxReplicas": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minReplicas <= self.maxReplicas",
                                            "message": message,
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    create(crd)
    try:
        wait_condition("crd", f"widgets.{group}", None, "Established", timeout=30)

        def widget(name: str, lo: int, hi: int) -> dict:
            return {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": name},
                "spec": {"minReplicas": lo, "maxReplicas": hi},
            }

        # discovery of a new group can lag a moment behind Established
        wait_for(
            lambda: create(widget("good", 1, 2), namespace, check=False).returncode == 0,
            timeout=30,
            what="a valid Widget accepted",
        )
        proc = create(widget("bad", 3, 2), namespace, check=False)
        assert proc.returncode != 0
        assert message in proc.stderr
        assert (
            kubectl_json("get", f"widgets.{group}", "-n", namespace)["items"][0]["metadata"]["name"]
            == "good"
        )
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)
