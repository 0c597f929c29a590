"""No confused deputy: the chart's ValidatingAdmissionPolicy lets a person create or change a
BatchJob only if they may create Jobs in its namespace and use its serviceAccountName
themselves. Users are impersonated (kubectl --as); their rights are Roles made here."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kube import create, helm, kubectl, wait_for
from tests.support.objects import batchjob, wait_phase

ROOT = Path(__file__).resolve().parents[2]
GROUP = "bulkhead-e2e-users"


def grant(namespace: str, user: str, rules: list[dict[str, Any]]) -> None:
    """A Role with `rules` in `namespace`, bound to `user`."""
    create(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": user, "namespace": namespace},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": user, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
                "subjects": [{"kind": "User", "name": user}],
            },
        ]
    )


BATCHJOBS = {"apiGroups": ["bulkhead.dev"], "resources": ["batchjobs"], "verbs": ["*"]}
JOBS = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}


def use(*accounts: str) -> dict[str, Any]:
    return {
        "apiGroups": [""],
        "resources": ["serviceaccounts"],
        "verbs": ["use"],
        "resourceNames": list(accounts),
    }


def as_user(user: str, *args: str, body: Any = None) -> Any:
    return kubectl(f"--as={user}", f"--as-group={GROUP}", *args, input=body, check=False)


def create_as(user: str, namespace: str, body: dict[str, Any], dry_run: bool = False) -> Any:
    dry = ["--dry-run=server"] if dry_run else []
    return as_user(user, "create", "-n", namespace, *dry, "-f", "-", body=body)


@pytest.fixture
def enforced(operator_kubeconfig, namespace) -> str:
    """The namespace, once the API server enforces the policy (it loads policies a moment after
    they are created)."""
    grant(namespace, "probe", [BATCHJOBS])
    wait_for(
        lambda: "may not create jobs" in create_as("probe", namespace, batchjob("p"), True).stderr,
        timeout=30,
        what="the admission policy in force",
    )
    return namespace


def test_without_job_rights_a_batchjob_is_refused_naming_what_is_missing(enforced):
    grant(enforced, "alice", [BATCHJOBS])
    refused = create_as("alice", enforced, batchjob("sneaky"))
    assert refused.returncode != 0
    assert (
        f"alice may not create jobs (batch) in namespace {enforced}, so may not create or change "
        "a BatchJob there: its runs are Jobs" in refused.stderr
    )
    assert kubectl("get", "bj", "sneaky", "-n", enforced, check=False).returncode != 0


def test_with_job_rights_a_batchjob_is_created_and_runs(operator, enforced):
    grant(enforced, "bob", [BATCHJOBS, JOBS])
    created = create_as("bob", enforced, batchjob("allowed"))
    assert created.returncode == 0, created.stderr
    # The operator, which only writes status, is not held back by the policy.
    wait_phase("allowed", enforced, "Succeeded")


def test_a_spec_change_or_run_now_needs_job_rights_a_label_does_not(enforced):
    create(batchjob("shared"), enforced)
    grant(enforced, "carol", [BATCHJOBS])
    spec = as_user(
        "carol", "patch", "bj", "shared", "-n", enforced, "--type=merge", "-p",
        '{"spec":{"priority":5}}',
    )  # fmt: skip
    assert "carol may not create jobs (batch)" in spec.stderr
    run_now = as_user("carol", "annotate", "bj", "shared", "-n", enforced, "bulkhead.dev/run-now=1")
    assert "carol may not create jobs (batch)" in run_now.stderr
    label = as_user("carol", "label", "bj", "shared", "-n", enforced, "team=billing")
    assert label.returncode == 0, label.stderr


def test_a_service_account_needs_the_use_verb_on_it(enforced):
    for account in ("runner", "other"):
        kubectl("create", "serviceaccount", account, "-n", enforced)
    grant(enforced, "dave", [BATCHJOBS, JOBS, use("runner")])
    allowed = create_as("dave", enforced, batchjob("as-runner", serviceAccountName="runner"))
    assert allowed.returncode == 0, allowed.stderr
    refused = create_as("dave", enforced, batchjob("as-other", serviceAccountName="other"))
    assert (
        f"dave may not use ServiceAccount other in namespace {enforced} (verb use on "
        "serviceaccounts, resourceName other), so may not set it as spec.serviceAccountName"
        in refused.stderr
    )
    # Job rights alone do not lend a ServiceAccount.
    grant(enforced, "erin", [BATCHJOBS, JOBS])
    refused = create_as("erin", enforced, batchjob("as-runner-2", serviceAccountName="runner"))
    assert "erin may not use ServiceAccount runner" in refused.stderr


def test_the_built_in_edit_role_is_enough(enforced):
    kubectl("create", "serviceaccount", "runner", "-n", enforced)
    kubectl(
        "create", "rolebinding", "frank-edit", "-n", enforced, "--clusterrole=edit",
        "--user=frank",
    )  # fmt: skip
    created = create_as("frank", enforced, batchjob("as-runner", serviceAccountName="runner"))
    assert created.returncode == 0, created.stderr


def helm_template(*values: str) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with `--set` values."""
    sets = [arg for value in values for arg in ("--set", value)]
    return helm("template", "bulkhead", str(ROOT / "charts/bulkhead"), *sets, check=False)


def kinds(*values: str) -> list[str]:
    rendered = helm_template(*values)
    assert rendered.returncode == 0, rendered.stderr
    return sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d)


def test_the_chart_switches_turn_the_policy_and_the_user_roles_off(cluster):
    everything = kinds()
    expected = list(everything)
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        expected.remove(kind)
    assert kinds("admissionPolicy.enable=false") == expected
    for _ in ("bulkhead-edit", "bulkhead-view"):
        expected.remove("ClusterRole")
    assert kinds("admissionPolicy.enable=false", "userRoles.aggregate=false") == expected
    refused = helm_template("admissionPolicy.enable=maybe")
    assert "at '/admissionPolicy/enable': got string, want boolean" in refused.stderr
