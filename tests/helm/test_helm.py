"""The chart as users meet it, on the local cluster: helm install, upgrade, uninstall, and
`helm template | kubectl apply --dry-run=server`.

The Deployment's pods are simulated by kwok (Running and Ready, no container is ever started),
so these tests prove what the API server admits and keeps, not that the image runs; the e2e
tier runs the operator as a local process under the chart's ServiceAccount instead.

They delete and replace the CRDs that the e2e session's operator watches, so they run in a
session (and a cluster) of their own: `make chart-e2e`, never together with tests/e2e.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kube import create, get, helm, kubectl, kubectl_json, wait_for
from tests.support.objects import batchjob, dependency, unique

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "bulkhead"
ALL_OPTIONS = CHART / "ci" / "all-options-values.yaml"
TESTDATA = Path(__file__).parent / "testdata"
# The chart as it was before crd.keep, at version 0.1.0; its BatchJob CRD allowed
# spec.maxCatchUpRuns up to 100, the current one up to 20.
PREVIOUS_COMMIT = "3d1cf88"
CRDS = ("batchjobs.bulkhead.dev", "dependencies.bulkhead.dev")
RELEASE = "bulkhead"


def crd_names() -> list[str]:
    return sorted(c["metadata"]["name"] for c in get("crd") if c["spec"]["group"] == "bulkhead.dev")


@pytest.fixture
def release(namespace):
    """The namespace the test installs the chart into; afterwards the release is gone and so
    are bulkhead's CRDs (kept CRDs too), so every test starts from a cluster without them."""
    yield namespace
    helm("uninstall", RELEASE, "-n", namespace, "--ignore-not-found", "--wait")
    kubectl("delete", "crd", *CRDS, "--ignore-not-found", "--wait", timeout=120)


@pytest.fixture(scope="module")
def monitoring_api(cluster):
    """The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs (prometheus-operator
    v0.93.0, example/prometheus-operator-crd), so the cluster serves monitoring.coreos.com/v1."""
    for crd in ("servicemonitors", "prometheusrules"):
        text = (TESTDATA / f"monitoring.coreos.com_{crd}.yaml").read_text()
        kubectl("apply", "--server-side", "-f", "-", input=text)
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
        "--timeout=60s",
    )


def install(chart: Path | str, namespace: str, *flags: str) -> None:
    helm("install", RELEASE, str(chart), "-n", namespace, "--wait", "--timeout=120s", *flags)


def test_install_under_restricted_pod_security_and_uninstall_keeps_crds(release):
    namespace = release
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    # The namespace does enforce it: a pod with the defaults (root allowed) is refused.
    refused = kubectl(
        "run", "probe", "--image=registry.example/x", "-n", namespace, "--dry-run=server",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr

    install(CHART, namespace)

    deployment = get("deployment", "bulkhead", namespace)
    assert deployment["status"].get("availableReplicas") == 1
    (pod,) = get("pod", namespace=namespace, selector="app.kubernetes.io/name=bulkhead")
    assert pod["status"]["phase"] == "Running"
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["POD_ID"] == {
        "name": "POD_ID",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
    }
    for name in CRDS:
        annotations = get("crd", name)["metadata"]["annotations"]
        assert annotations["helm.sh/resource-policy"] == "keep"
        assert annotations["meta.helm.sh/release-namespace"] == namespace

    dep = unique("kept", namespace)
    create(dependency(dep, 1))
    create(batchjob("kept", uses=[{"dependency": dep}]), namespace)
    kept_uid = get("batchjob", "kept", namespace)["metadata"]["uid"]

    uninstall = helm("uninstall", RELEASE, "-n", namespace, "--wait")

    assert "These resources were kept due to the resource policy" in uninstall.stdout
    assert crd_names() == sorted(CRDS)
    assert get("batchjob", "kept", namespace)["metadata"]["uid"] == kept_uid
    assert get("dependency", dep)["spec"]["capacity"] == 1
    assert get("deployment", "bulkhead", namespace) is None
    assert get("clusterrole", "bulkhead") is None


def test_uninstall_with_crd_keep_false_deletes_crds_and_their_objects(release):
    namespace = release
    install(CHART, namespace, "--set", "crd.keep=false")
    create(batchjob("gone"), namespace)

    helm("uninstall", RELEASE, "-n", namespace, "--wait")

    wait_for(lambda: crd_names() == [], timeout=60, what="bulkhead's CRDs deleted")
    # Asked of the server itself: kubectl's cached discovery may still list the kinds.
    gone = kubectl("get", "--raw", f"/apis/bulkhead.dev/v1alpha1/namespaces/{namespace}/batchjobs",
                   check=False)  # fmt: skip
    assert gone.returncode != 0 and "(NotFound)" in gone.stderr


def test_upgrade_from_previous_chart_version_across_a_crd_schema_change(release, tmp_path):
    namespace = release
    previous = _package_previous_chart(tmp_path)
    install(previous, namespace)
    assert _max_catch_up_runs_maximum() == 100
    # Valid under the previous schema only (now at most 20).
    create(batchjob("old", schedule="0 0 1 1 *", maxCatchUpRuns=50), namespace)
    old = get("batchjob", "old", namespace)

    helm("upgrade", RELEASE, str(CHART), "-n", namespace, "--wait", "--timeout=120s")

    assert _max_catch_up_runs_maximum() == 20
    assert get("crd", CRDS[0])["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    survivor = get("batchjob", "old", namespace)
    assert (survivor["metadata"]["uid"], survivor["spec"]) == (old["metadata"]["uid"], old["spec"])
    refused = create(
        batchjob("new", schedule="0 0 1 1 *", maxCatchUpRuns=50), namespace, check=False
    )
    assert refused.returncode != 0 and "spec.maxCatchUpRuns" in refused.stderr
    history = yaml.safe_load(helm("history", RELEASE, "-n", namespace, "-o", "yaml").stdout)
    assert [(r["revision"], r["chart"], r["status"]) for r in history] == [
        (1, "bulkhead-0.1.0", "superseded"),
        (2, f"bulkhead-{_chart_version()}", "deployed"),
    ]


def test_misspelt_value_is_refused_and_nothing_installed(release):
    namespace = release
    refused = helm("install", RELEASE, str(CHART), "-n", namespace, "--set", "crd.kepp=false",
                   check=False)  # fmt: skip

    assert refused.returncode != 0
    assert "at '/crd': additional properties 'kepp' not allowed" in refused.stderr
    assert helm("list", "-n", namespace, "-q").stdout == ""
    assert crd_names() == []


# Every object each rendering holds, as `kubectl apply` names them.
DRY_RUN_DEFAULT = [
    "clusterrole.rbac.authorization.k8s.io/bulkhead",
    "clusterrole.rbac.authorization.k8s.io/bulkhead-edit",
    "clusterrole.rbac.authorization.k8s.io/bulkhead-event-sender",
    "clusterrole.rbac.authorization.k8s.io/bulkhead-view",
    "clusterrolebinding.rbac.authorization.k8s.io/bulkhead",
    "customresourcedefinition.apiextensions.k8s.io/batchjobs.bulkhead.dev",
    "customresourcedefinition.apiextensions.k8s.io/dependencies.bulkhead.dev",
    "deployment.apps/bulkhead",
    "role.rbac.authorization.k8s.io/bulkhead-leader-election",
    "rolebinding.rbac.authorization.k8s.io/bulkhead-leader-election",
    "service/bulkhead-events",
    "serviceaccount/bulkhead",
    "validatingadmissionpolicy.admissionregistration.k8s.io/bulkhead-batchjob-requester",
    "validatingadmissionpolicybinding.admissionregistration.k8s.io/bulkhead-batchjob-requester",
]
DRY_RUN_ALL_OPTIONS = [
    "clusterrole.rbac.authorization.k8s.io/bulkhead",
    "clusterrolebinding.rbac.authorization.k8s.io/bulkhead",
    "configmap/bulkhead-dashboard",
    "customresourcedefinition.apiextensions.k8s.io/batchjobs.bulkhead.dev",
    "customresourcedefinition.apiextensions.k8s.io/dependencies.bulkhead.dev",
    "deployment.apps/bulkhead",
    "ingress.networking.k8s.io/bulkhead-events",
    "poddisruptionbudget.policy/bulkhead",
    "prometheusrule.monitoring.coreos.com/bulkhead",
    "role.rbac.authorization.k8s.io/bulkhead-health-secrets",
    "role.rbac.authorization.k8s.io/bulkhead-leader-election",
    "rolebinding.rbac.authorization.k8s.io/bulkhead-health-secrets",
    "rolebinding.rbac.authorization.k8s.io/bulkhead-leader-election",
    "service/bulkhead-events",
    "service/bulkhead-metrics",
    "serviceaccount/bulkhead",
    "servicemonitor.monitoring.coreos.com/bulkhead",
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [(CHART / "values.yaml", DRY_RUN_DEFAULT), (ALL_OPTIONS, DRY_RUN_ALL_OPTIONS)],
    ids=["default", "all-options"],
)
def test_template_passes_server_side_dry_run(release, monitoring_api, values, expected):
    namespace = release
    # --validate: the cluster's own API list decides what renders (it serves
    # monitoring.coreos.com/v1 here, so the all-options ServiceMonitor and PrometheusRule do).
    rendered = helm("template", RELEASE, str(CHART), "-n", namespace, "-f", str(values),
                    "--validate").stdout  # fmt: skip

    applied = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=rendered)

    assert sorted(applied.stdout.splitlines()) == [
        f"{o} created (server dry run)" for o in expected
    ]
    assert crd_names() == []


def _package_previous_chart(into: Path) -> Path:
    """`helm package` of charts/bulkhead as it was at PREVIOUS_COMMIT; returns the .tgz."""
    archive = into / "previous.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), PREVIOUS_COMMIT, "charts/bulkhead"],
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    helm("package", str(into / "charts" / "bulkhead"), "-d", str(into))
    return into / "bulkhead-0.1.0.tgz"


def _max_catch_up_runs_maximum() -> Any:
    crd = kubectl_json("get", "crd", CRDS[0])
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]["properties"]["maxCatchUpRuns"]["maximum"]


def _chart_version() -> str:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
