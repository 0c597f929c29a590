"""build_job: a BatchJob spec -> the batch/v1 Job that runs it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bulkhead.api.base import LABEL_KEY, LABEL_VALUE
from bulkhead.api.batchjob import MAX_NAME_LENGTH, BatchJobSpec
from bulkhead.api.constants import (
    ANNOTATION_USES,
    API_VERSION,
    LABEL_BATCHJOB,
    LABEL_BATCHJOB_UID,
)
from bulkhead.policy.build import (
    build_job,
    job_name,
    parse_uses_annotation,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import make_spec

NAME = "nightly-invoices"
NAMESPACE = "billing"
UID = "5f0c1a9e-2b7d-4c1e-9a53-0d4b8e6f7a21"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Pod Security Standards, restricted profile: the volume types it allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def job_for(**fields: Any) -> dict[str, Any]:
    return build_job(name=NAME, namespace=NAMESPACE, uid=UID, spec=make_spec(**fields))


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def main_container(job: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec(job)["containers"]
    assert container["name"] == "main"
    return container


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What Pod Security Admission `restricted` would refuse in this pod spec."""
    problems = [key for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    pod_context = pod.get("securityContext", {})
    for volume in pod.get("volumes", []):
        if not set(volume) - {"name"} <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} has a type restricted does not allow")
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        name = container["name"]
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as user 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: uses a hostPort")
    return problems


def tmp_mounts(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in main_container(job)["volumeMounts"] if m["mountPath"] == "/tmp"]


# --- identity and ownership ------------------------------------------------------------------


def test_the_same_batchjob_always_gets_the_same_job() -> None:
    assert job_for() == job_for()
    assert job_for()["metadata"]["name"] == job_name(NAME, UID)


def test_a_recreated_batchjob_gets_a_new_job_name() -> None:
    other_uid = "0b7d3e55-9c8a-4f61-8e2a-6a1f4c3d2b10"
    assert job_name(NAME, UID) != job_name(NAME, other_uid)


def test_the_longest_allowed_name_still_makes_a_valid_job_name() -> None:
    name = job_name("a" * MAX_NAME_LENGTH, UID)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)


def test_the_job_lives_in_the_batchjobs_namespace_and_is_controlled_by_it() -> None:
    metadata = job_for()["metadata"]
    assert metadata["namespace"] == NAMESPACE
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": API_VERSION,
            "kind": "BatchJob",
            "name": NAME,
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_job_and_pods_carry_the_batchjob_labels_which_users_cannot_override() -> None:
    job = job_for(podMetadata={"labels": {LABEL_BATCHJOB: "someone-else", "team": "billing"}})
    links = {LABEL_BATCHJOB: NAME, LABEL_BATCHJOB_UID: UID}
    assert job["metadata"]["labels"] == links
    assert job["spec"]["template"]["metadata"]["labels"] == {**links, "team": "billing"}


def test_pod_metadata_is_copied_onto_the_pods() -> None:
    job = job_for(podMetadata={"labels": {"team": "billing"}, "annotations": {"owner": "ana"}})
    template = job["spec"]["template"]["metadata"]
    assert template["labels"]["team"] == "billing"
    assert template["annotations"] == {"owner": "ana"}


@pytest.mark.parametrize(
    "uses",
    [
        None,
        [{"dependency": "orders-db", "units": 2}],
        [{"dependency": "orders-db", "units": 2}, {"dependency": "shared-cache", "units": 1}],
    ],
)
def test_uses_annotation_round_trips(uses: list[dict[str, Any]] | None) -> None:
    spec = make_spec(uses=uses)
    job = build_job(name=NAME, namespace=NAMESPACE, uid=UID, spec=spec)
    assert parse_uses_annotation(job["metadata"]["annotations"][ANNOTATION_USES]) == (
        spec.uses or []
    )


# --- how it runs ---------------------------------------------------------------------------


def test_pods_are_never_restarted_in_place() -> None:
    assert pod_spec(job_for())["restartPolicy"] == "Never"


def test_requests_default_to_limits() -> None:
    resources = main_container(job_for())["resources"]
    assert resources == {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "1", "memory": "1Gi"},
    }


def test_explicit_requests_are_kept_and_missing_ones_default_to_limits() -> None:
    job = job_for(resources={"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}})
    assert main_container(job)["resources"]["requests"] == {"cpu": "500m", "memory": "4Gi"}


@pytest.mark.parametrize(("completions", "mode"), [(1, None), (2, "Indexed"), (16, "Indexed")])
def test_indexed_completion_mode_only_for_more_than_one_completion(
    completions: int, mode: str | None
) -> None:
    job = job_for(completions=completions)
    assert job["spec"]["completions"] == completions
    assert job["spec"].get("completionMode") == mode


def test_parallelism_and_backoff_limit_are_passed_through() -> None:
    spec = job_for(parallelism=4, completions=16, backoffLimit=7)["spec"]
    assert (spec["parallelism"], spec["backoffLimit"]) == (4, 7)


def test_default_backoff_limit() -> None:
    assert job_for()["spec"]["backoffLimit"] == 3


def test_non_retryable_exit_codes_fail_the_job_and_disruptions_are_not_counted() -> None:
    policy = job_for(nonRetryableExitCodes=[42, 2, 7, 2])["spec"]["podFailurePolicy"]
    assert policy == {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [2, 7, 42]},
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def test_without_exit_codes_only_disruptions_are_ignored() -> None:
    assert job_for()["spec"]["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("activeDeadlineSeconds", 3600),
        ("ttlSecondsAfterFinished", 86400),
        ("ttlSecondsAfterFinished", 0),
    ],
)
def test_optional_job_fields_are_set_only_when_given(field: str, value: int) -> None:
    assert job_for(**{field: value})["spec"][field] == value
    assert field not in job_for()["spec"]


def test_placement_is_passed_to_the_pod() -> None:
    toleration = {"key": "batch", "operator": "Exists", "effect": "NoSchedule"}
    pod = pod_spec(
        job_for(
            nodeSelector={"pool": "batch"},
            tolerations=[toleration],
            priorityClassName="batch-low",
        )
    )
    assert pod["nodeSelector"] == {"pool": "batch"}
    assert pod["tolerations"] == [toleration]
    assert pod["priorityClassName"] == "batch-low"


def test_no_placement_fields_when_none_are_given() -> None:
    assert not {"nodeSelector", "tolerations", "priorityClassName"} & pod_spec(job_for()).keys()


def test_command_args_and_env_reach_the_container() -> None:
    env = [
        {"name": "MODE", "value": "full"},
        {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "invoices-db", "key": "url"}}},
    ]
    env_from = [{"secretRef": {"name": "invoices-db"}}]
    container = main_container(
        job_for(
            command=["python", "-m", "invoices"],
            args=["--month", "2026-11"],
            env=env,
            envFrom=env_from,
        )
    )
    assert container["image"] == "registry.example/invoices:1.4"
    assert container["command"] == ["python", "-m", "invoices"]
    assert container["args"] == ["--month", "2026-11"]
    assert container["env"] == env
    assert container["envFrom"] == env_from


# --- a locked-down pod -----------------------------------------------------------------------


def test_the_pod_passes_pod_security_restricted() -> None:
    assert restricted_violations(pod_spec(job_for())) == []


def test_the_container_is_locked_down() -> None:
    assert main_container(job_for())["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_a_read_only_root_still_has_a_writable_tmp() -> None:
    job = job_for()
    [mount] = tmp_mounts(job)
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    assert volumes[mount["name"]] == {"name": mount["name"], "emptyDir": {}}


def test_a_users_own_tmp_mount_is_not_duplicated() -> None:
    job = job_for(
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "10Gi"}}],
        volumeMounts=[{"name": "scratch", "mountPath": "/tmp"}],
    )
    assert tmp_mounts(job) == [{"name": "scratch", "mountPath": "/tmp"}]


def test_no_service_account_token_unless_a_service_account_is_named() -> None:
    pod = pod_spec(job_for())
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod


def test_a_named_service_account_is_mounted() -> None:
    pod = pod_spec(job_for(serviceAccountName="invoices"))
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == "invoices"


# --- every valid spec ----------------------------------------------------------------------


@st.composite
def valid_specs(draw: st.DrawFn) -> BatchJobSpec:
    completions = draw(st.integers(1, 100))
    cpu_milli = draw(st.integers(1, 64_000))
    memory_mi = draw(st.integers(1, 65_536))
    requests = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "cpu": st.integers(1, cpu_milli).map(lambda m: f"{m}m"),
                "memory": st.integers(1, memory_mi).map(lambda m: f"{m}Mi"),
            },
        )
    )
    env = st.lists(
        st.fixed_dictionaries(
            {
                "name": st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True),
                "value": st.text(max_size=20),
            }
        ),
        max_size=8,
    )
    scratch = draw(st.sampled_from([None, "/tmp", "/data"]))
    fields: dict[str, Any] = {
        "parallelism": draw(st.integers(1, completions)),
        "completions": completions,
        "backoffLimit": draw(st.integers(0, 1000)),
        "resources": {
            "limits": {"cpu": f"{cpu_milli}m", "memory": f"{memory_mi}Mi"},
            "requests": requests,
        },
        "nonRetryableExitCodes": draw(st.none() | st.lists(st.integers(1, 255), max_size=64)),
        "env": draw(st.none() | env),
        "serviceAccountName": draw(st.none() | st.just("invoices")),
        "podMetadata": {
            "labels": draw(
                st.dictionaries(
                    st.from_regex(LABEL_KEY, fullmatch=True).filter(lambda k: len(k) <= 253),
                    st.from_regex(LABEL_VALUE, fullmatch=True),
                    max_size=4,
                )
            )
        },
        "activeDeadlineSeconds": draw(st.none() | st.integers(1, 10**6)),
        "ttlSecondsAfterFinished": draw(st.none() | st.integers(0, 10**6)),
        "uses": draw(
            st.none()
            | st.lists(
                st.fixed_dictionaries(
                    {
                        "dependency": st.sampled_from(["orders-db", "shared-cache", "rest-api"]),
                        "units": st.integers(1, 8),
                    }
                ),
                max_size=3,
                unique_by=lambda u: u["dependency"],
            )
        ),
    }
    if scratch:
        fields["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        fields["volumeMounts"] = [{"name": "scratch", "mountPath": scratch}]
    return make_spec(**{k: v for k, v in fields.items() if v is not None})


@given(
    spec=valid_specs(),
    name=st.from_regex(r"[a-z]([-a-z0-9]{0,50}[a-z0-9])?", fullmatch=True),
    uid=st.uuids().map(str),
)
def test_every_valid_spec_builds_a_locked_down_owned_job(
    spec: BatchJobSpec, name: str, uid: str
) -> None:
    job = build_job(name=name, namespace=NAMESPACE, uid=uid, spec=spec)
    pod = pod_spec(job)
    container = main_container(job)

    assert restricted_violations(pod) == []
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert len(tmp_mounts(job)) == 1
    assert pod["automountServiceAccountToken"] is bool(spec.service_account_name)
    assert pod["restartPolicy"] == "Never"

    metadata = job["metadata"]
    assert len(metadata["name"]) <= 63 and DNS_LABEL.match(metadata["name"])
    assert [(o["uid"], o["controller"]) for o in metadata["ownerReferences"]] == [(uid, True)]
    assert job["spec"]["template"]["metadata"]["labels"][LABEL_BATCHJOB_UID] == uid

    resources = container["resources"]
    assert resources["requests"].keys() == resources["limits"].keys() == {"cpu", "memory"}
    assert (job["spec"].get("completionMode") == "Indexed") is (spec.completions > 1)
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[-1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    if spec.non_retryable_exit_codes:
        assert rules[0]["onExitCodes"]["values"] == sorted(set(spec.non_retryable_exit_codes))
    assert parse_uses_annotation(metadata["annotations"][ANNOTATION_USES]) == (spec.uses or [])
