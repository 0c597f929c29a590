"""BatchJobs that run once, against the real API server, Job controller and garbage collector."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.kube import create, get, kubectl, kubectl_json, wait_for
from tests.support.objects import (
    all_phase,
    batchjob,
    condition,
    events_of,
    jobs_of,
    status_of,
    wait_phase,
    wait_reason,
)


def test_success_is_reported_and_waitable(operator, namespace):
    create(batchjob("ok"), namespace)
    kubectl("wait", "-n", namespace, "--for=condition=Succeeded", "bj/ok", "--timeout=60s")
    status = status_of("ok", namespace)
    assert status["phase"] == "Succeeded"
    assert status["succeeded"] == 1 and status["failed"] == 0
    assert status["startTime"] and status["completionTime"]
    assert status["observedGeneration"] == 1
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "Stalled")["status"] == "False"
    assert condition(status, "Reconciling")["status"] == "False"
    [job] = jobs_of("ok", namespace)
    assert job["metadata"]["name"] == status["jobName"]
    [owner] = job["metadata"]["ownerReferences"]
    assert owner["kind"] == "BatchJob" and owner["name"] == "ok" and owner["controller"] is True
    # A run that went well posts no Event: it is in the status, and on its Job.
    assert events_of("ok", namespace) == []


def test_non_retryable_exit_code_fails_at_once(operator, namespace):
    create(batchjob("nonretry", exit_code=2, nonRetryableExitCodes=[2], backoffLimit=3), namespace)
    status = wait_phase("nonretry", namespace, "Failed")
    assert status["reason"] == "NonRetryableExitCode"
    assert "container main exited with code 2" in status["message"]
    assert "nonRetryableExitCodes" in status["message"]
    assert condition(status, "Stalled")["status"] == "True"
    assert condition(status, "Reconciling")["status"] == "False"
    pods = get("pods", namespace=namespace)
    assert len(pods) == 1, "a non-retryable exit code must not be retried"


def test_retryable_exit_code_uses_the_backoff_limit(operator, namespace):
    create(batchjob("retry", exit_code=1, backoffLimit=2), namespace)
    status = wait_phase("retry", namespace, "Failed", timeout=120)
    assert status["reason"] == "BackoffLimitExceeded"
    assert "exited with code 1" in status["message"]
    assert status["failed"] == 3
    assert len(get("pods", namespace=namespace)) == 3  # backoffLimit + 1


def test_deadline_exceeded(operator, namespace):
    create(batchjob("slow", delay="60s", activeDeadlineSeconds=2), namespace)
    status = wait_phase("slow", namespace, "Failed")
    assert status["reason"] == "DeadlineExceeded"
    assert "activeDeadlineSeconds (2s)" in status["message"]


def test_indexed_completions_with_parallelism(operator, namespace):
    create(batchjob("shards", completions=4, parallelism=2), namespace)
    status = wait_phase("shards", namespace, "Succeeded")
    assert status["succeeded"] == 4
    [job] = jobs_of("shards", namespace)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == 2
    indexes = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        for p in get("pods", namespace=namespace)
    }
    assert indexes == {"0", "1", "2", "3"}


def test_delete_cascades_to_job_and_pods(operator, namespace):
    create(batchjob("doomed", delay="60s"), namespace)
    wait_for(lambda: get("pods", namespace=namespace), timeout=60, what="a pod")
    kubectl("delete", "-n", namespace, "bj/doomed", "--wait=true", "--timeout=30s")
    wait_for(lambda: not jobs_of("doomed", namespace), timeout=60, what="the Job collected")
    wait_for(lambda: not get("pods", namespace=namespace), timeout=60, what="pods collected")


def test_job_deleted_by_hand_is_reported_not_rerun(operator, namespace):
    create(batchjob("orphaned", delay="60s"), namespace)
    status = wait_phase("orphaned", namespace, "Running")
    kubectl("delete", "-n", namespace, "job", status["jobName"], "--wait=true")
    status = wait_phase("orphaned", namespace, "Failed")
    assert status["reason"] == "JobDeleted"
    assert condition(status, "Stalled")["status"] == "True"
    assert not jobs_of("orphaned", namespace), "a Job deleted by hand must not be re-created"


def test_restricted_namespace_runs(operator, namespace):
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    create(batchjob("locked"), namespace)
    wait_phase("locked", namespace, "Succeeded")


def test_fifty_at_once_all_succeed(operator, namespace):
    create([batchjob(f"many-{i}") for i in range(50)], namespace)

    def all_done() -> bool:
        items = get("batchjobs", namespace=namespace)
        return sum((i.get("status") or {}).get("phase") == "Succeeded" for i in items) == 50

    wait_for(all_done, timeout=180, what="50 BatchJobs Succeeded")
    assert len(get("jobs", namespace=namespace)) == 50


def test_sigkill_mid_run_gives_no_duplicate_and_right_status(operator, namespace):
    create([batchjob(f"crash-{i}", delay="3s") for i in range(10)], namespace)
    wait_for(lambda: len(get("jobs", namespace=namespace)) >= 3, timeout=60, what="some Jobs")
    operator.kill()
    operator.start()

    def all_done() -> bool:
        items = get("batchjobs", namespace=namespace)
        return all((i.get("status") or {}).get("phase") == "Succeeded" for i in items)

    wait_for(all_done, timeout=120, what="all Succeeded after the restart")
    jobs = get("jobs", namespace=namespace)
    owners = [j["metadata"]["labels"]["bulkhead.dev/batchjob"] for j in jobs]
    assert sorted(owners) == sorted(f"crash-{i}" for i in range(10)), "one Job per BatchJob"


def test_api_server_refuses_bad_input_naming_the_field(operator, namespace):
    unknown = batchjob("typo")
    unknown["spec"]["paralelism"] = 2
    result = create(unknown, namespace, check=False)
    assert result.returncode != 0 and "paralelism" in result.stderr

    greedy = batchjob("greedy")
    greedy["spec"]["resources"]["requests"] = {"cpu": "2", "memory": "64Mi"}
    result = create(greedy, namespace, check=False)
    assert "requests.cpu must be less than or equal to limits.cpu" in result.stderr

    no_limits = batchjob("nolimits")
    del no_limits["spec"]["resources"]["limits"]["memory"]
    result = create(no_limits, namespace, check=False)
    assert "memory" in result.stderr and "Required" in result.stderr

    bad_quantity = batchjob("badq")
    bad_quantity["spec"]["resources"]["limits"]["cpu"] = "lots"
    result = create(bad_quantity, namespace, check=False)
    assert "spec.resources.limits.cpu" in result.stderr
    assert get("batchjobs", namespace=namespace) == []


def with_spec(name: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = batchjob(name)
    node = body["spec"]
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "says"),
    [
        (("resources", "limits", "cpu"), "0", "spec.resources.limits.cpu", "greater than 0"),
        (("resources", "limits", "memory"), "0Mi", "spec.resources.limits.memory", "greater"),
        (("resources", "limits", "cpu"), "5000", "spec.resources.limits.cpu", "at most 1000"),
        (("resources", "limits", "memory"), "1e1000", "spec.resources.limits.memory", "match"),
        (("image",), "not an image ref", "spec.image", "match"),
        (("volumeMounts",), [{"name": "scratch", "mountPath": "data"}], "mountPath", "match"),
    ],
)
def test_what_a_new_user_tried_is_refused_naming_the_field(
    operator, namespace, path, value, field, says
):
    """Each of these once made a Job: a run has real limits, an image, absolute mounts."""
    body = with_spec("tried", path, value)
    body["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    result = create(body, namespace, check=False)
    assert result.returncode != 0
    assert field in result.stderr and says in result.stderr, result.stderr
    assert get("batchjobs", namespace=namespace) == []
    assert get("jobs", namespace=namespace) == []


def test_run_spec_is_immutable_once_a_job_exists(operator, namespace):
    """Refused with or without a status in the same write (a spec write keeps the old status,
    so the rule compares the fields); a status write passes the rule and keeps the old spec,
    whatever spec it sends."""
    create(batchjob("fixed", delay="30s"), namespace)
    wait_phase("fixed", namespace, "Running")
    other = '"spec":{"image":"registry.example/other:2"}'
    for patch in (f"{{{other}}}", f'{{{other},"status":{{"message":"edited"}}}}'):
        result = kubectl(
            "patch", "-n", namespace, "bj/fixed", "--type=merge", "-p", patch, check=False
        )
        assert result.returncode != 0
        assert "cannot change once a Job exists" in result.stderr
    written = kubectl_json(
        "patch",
        "-n",
        namespace,
        "bj/fixed",
        "--subresource=status",
        "--type=merge",
        "-p",
        f'{{{other},"status":{{"message":"written"}}}}',
    )
    assert (written["spec"]["image"], written["status"]["message"]) == (
        "registry.example/batch:1.0",
        "written",
    )


def test_invalid_spec_left_to_the_operator_stalls_without_a_job(operator, namespace):
    create(batchjob("nosa", serviceAccountName="missing-sa"), namespace)
    wait_phase("nosa", namespace, "Pending")
    wait_reason("nosa", namespace, "InvalidSpec")
    status = status_of("nosa", namespace)
    assert "serviceAccountName missing-sa does not exist" in status["message"]
    assert condition(status, "Stalled")["status"] == "True"
    assert condition(status, "Reconciling")["status"] == "False"
    assert jobs_of("nosa", namespace) == []
    # The operator keeps serving the others.
    create(batchjob("fine"), namespace)
    wait_phase("fine", namespace, "Succeeded")


def test_zero_ttl_still_records_the_result(operator, namespace):
    """The Job is removed as soon as it finishes; its result must not read as JobDeleted."""
    create([batchjob(f"brief-{i}", ttlSecondsAfterFinished=0) for i in range(5)], namespace)

    def all_succeeded() -> bool:
        return all_phase(namespace, "Succeeded", 5)

    wait_for(all_succeeded, timeout=90, what="5 Succeeded with ttlSecondsAfterFinished 0")
    wait_for(lambda: not get("jobs", namespace=namespace), timeout=60, what="Jobs removed by TTL")
