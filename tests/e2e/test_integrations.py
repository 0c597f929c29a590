"""Argo CD and Flux health on statuses the operator really writes, and Argo CD's actions on a
live BatchJob.

Drives BatchJobs and Dependencies into the states users see, captures each object as the API
returns it (metadata trimmed to name, namespace and generation; spec and status whole; the
test's namespace and Dependency names renamed to billing and orders-db), and evaluates the
capture with Argo CD's Lua code (hack/argocd-lua) and Flux's CEL evaluator and kstatus
(hack/flux-cel) against the committed expectations: a status change that breaks either tool's
health view fails here. The fast tier (`make integrations-test`) runs the same runners on the
committed capture in integrations/testdata/.

To refresh the committed capture after a status change (then review the diff, and the
messages in health_test.yaml):
    BULKHEAD_WRITE_TESTDATA=1 flock /tmp/bulkhead-cluster.lock \
        .venv/bin/pytest -q tests/e2e/test_integrations.py
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import create, get, kubectl, wait_for
from tests.support.objects import (
    batchjob,
    condition,
    dependency,
    scheduled,
    status_of,
    unique,
    wait_phase,
    wait_reason,
)

ROOT = Path(__file__).resolve().parents[2]
INTEGRATIONS = ROOT / "integrations"
NEVER = "0 0 1 1 *"  # a schedule whose instants do not come during the test: runs are run-now


def captured(kind: str, name: str, namespace: str | None, renames: dict[str, str]) -> str:
    """The object as YAML: apiVersion, kind, trimmed metadata, spec and status, renamed."""
    obj = get(kind, name, namespace)
    meta = {
        key: obj["metadata"][key]
        for key in ("name", "namespace", "generation")
        if key in obj["metadata"]
    }
    trimmed = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": meta,
        "spec": obj["spec"],
        "status": obj["status"],
    }
    text = yaml.safe_dump(trimmed, sort_keys=False, width=100)
    for old, new in renames.items():
        text = text.replace(old, new)
    return text


def run_now(name: str, namespace: str, token: str) -> None:
    kubectl("annotate", "bj", name, "-n", namespace, "--overwrite", f"bulkhead.dev/run-now={token}")
    wait_for(
        lambda: status_of(name, namespace).get("runNow") == token,
        timeout=30,
        what="run-now handled",
    )


def last_run(name: str, namespace: str, result: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (s := status_of(name, namespace)).get("lastRunResult") == result
            and s.get("phase") in ("Scheduled", "Suspended")
            and s
        ),
        timeout=60,
        what=f"{name}: last run {result}",
    )


def test_captured_statuses_have_the_expected_argocd_and_flux_health(
    operator, namespace, cluster, tmp_path
):
    dep, closed, invalid = (unique(p, namespace) for p in ("db", "nightdb", "baddb"))
    renames = {namespace: "billing", dep: "orders-db", closed: "night-db", invalid: "broken-db"}
    now = datetime.now(UTC)
    window = {
        "start": f"{(now + timedelta(hours=2)):%H}:00",
        "end": f"{(now + timedelta(hours=3)):%H}:00",
    }
    create(dependency(dep, 1))
    create(dependency(closed, 1, windows=[window]))
    create(
        dependency(
            invalid, 1, windows=[{"start": "00:00", "end": "06:00", "timeZone": "Mars/Olympus"}]
        )
    )
    objects: dict[str, tuple[str, str, str | None]] = {}
    try:
        # one-shot: running (holding the Dependency), waiting for it, succeeded, failed, invalid
        create(batchjob("holder", delay="300s", uses=[{"dependency": dep}]), namespace)
        wait_phase("holder", namespace, "Running")
        create(batchjob("waiting", uses=[{"dependency": dep}]), namespace)
        wait_reason("waiting", namespace, "WaitingForDependency")
        create(batchjob("done"), namespace)
        create(batchjob("broken", exit_code=2, nonRetryableExitCodes=[2]), namespace)
        create(batchjob("nosa", serviceAccountName="missing-sa"), namespace)
        wait_phase("done", namespace, "Succeeded")
        wait_phase("broken", namespace, "Failed")
        wait_reason("nosa", namespace, "InvalidSpec")
        objects |= {
            "batchjob-running": ("batchjob", "holder", namespace),
            "batchjob-waiting": ("batchjob", "waiting", namespace),
            "batchjob-succeeded": ("batchjob", "done", namespace),
            "batchjob-failed": ("batchjob", "broken", namespace),
            "batchjob-invalid": ("batchjob", "nosa", namespace),
        }

        # scheduled: idle after a success, after a failure, running, suspended
        create(
            [
                scheduled("nightly", NEVER),
                scheduled("nightly-broken", NEVER, exit_code=2, nonRetryableExitCodes=[2]),
                scheduled("nightly-busy", NEVER, delay="300s"),
                scheduled("nightly-paused", NEVER),
            ],
            namespace,
        )
        for name in ("nightly", "nightly-broken", "nightly-busy", "nightly-paused"):
            wait_phase(name, namespace, "Scheduled")
            run_now(name, namespace, "first")
        last_run("nightly", namespace, "Succeeded")
        last_run("nightly-broken", namespace, "Failed")
        wait_phase("nightly-busy", namespace, "Running")
        last_run("nightly-paused", namespace, "Succeeded")
        kubectl(
            "patch",
            "bj",
            "nightly-paused",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"suspend":true}}',
        )
        wait_phase("nightly-paused", namespace, "Suspended")
        objects |= {
            "batchjob-scheduled-idle": ("batchjob", "nightly", namespace),
            "batchjob-scheduled-failed": ("batchjob", "nightly-broken", namespace),
            "batchjob-scheduled-running": ("batchjob", "nightly-busy", namespace),
            "batchjob-scheduled-suspended": ("batchjob", "nightly-paused", namespace),
        }

        # Dependencies: full with a waiter, window closed, invalid
        wait_for(
            lambda: (get("dependency", dep).get("status") or {}).get("waiting") == 1,
            timeout=30,
            what="1 waiting",
        )
        wait_for(
            lambda: (
                condition(get("dependency", closed).get("status") or {}, "WindowClosed").get(
                    "status"
                )
                == "True"
            ),
            timeout=30,
            what="window closed",
        )
        wait_for(
            lambda: (
                condition(get("dependency", invalid).get("status") or {}, "Ready").get("reason")
                == "InvalidSpec"
            ),
            timeout=30,
            what="InvalidSpec",
        )
        objects |= {
            "dependency-full": ("dependency", dep, None),
            "dependency-window-closed": ("dependency", closed, None),
            "dependency-invalid": ("dependency", invalid, None),
        }
        capture = (
            INTEGRATIONS / "testdata"
            if os.environ.get("BULKHEAD_WRITE_TESTDATA") == "1"
            else tmp_path
        )
        for state, (kind, name, ns) in objects.items():
            (capture / f"{state}.yaml").write_text(captured(kind, name, ns, renames))
        # Derived: as right after `kubectl apply` of a change, before the operator has seen it,
        # and as right after a create, before its first status.
        succeeded = yaml.safe_load((capture / "batchjob-succeeded.yaml").read_text())
        new = {key: value for key, value in succeeded.items() if key != "status"}
        ahead = {**succeeded, "metadata": {**succeeded["metadata"], "generation": 2}}
        for state, obj in (("batchjob-generation-ahead", ahead), ("batchjob-new", new)):
            (capture / f"{state}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False, width=100))
    finally:
        for name in (dep, closed, invalid):
            kubectl("delete", "dependency", name, "--wait=false", "--ignore-not-found", check=False)

    # Only the health status is compared on a fresh capture: messages quote instants and Job
    # names that differ every run (the committed capture pins them in the fast tier).
    argocd = subprocess.run(
        [
            cluster.bin_dir / "argocd-lua",
            "-testdata",
            capture,
            "-status-only",
            INTEGRATIONS / "argocd" / "resource_customizations",
        ],
        capture_output=True,
        text=True,
    )
    assert argocd.returncode == 0, argocd.stdout + argocd.stderr
    flux = subprocess.run(
        [
            cluster.bin_dir / "flux-cel",
            "-testdata",
            capture,
            INTEGRATIONS / "flux" / "kustomization.yaml",
            INTEGRATIONS / "flux" / "expectations.yaml",
        ],
        capture_output=True,
        text=True,
    )
    assert flux.returncode == 0, flux.stdout + flux.stderr
    # every captured state is checked by both
    for state in objects:
        assert f"testdata/{state}.yaml" in argocd.stdout, state
        assert f"{state}.yaml" in flux.stdout, state


def argocd_action(
    cluster: Any, action: str, name: str, namespace: str, tmp_path: Path
) -> dict[str, Any]:
    """Runs the Argo CD action on the live BatchJob with Argo CD's code and sends the merge
    patch Argo CD's API server would send; returns the patch."""
    live = tmp_path / f"{name}.json"
    live.write_text(kubectl("get", "bj", name, "-n", namespace, "-o", "json").stdout)
    patch = subprocess.run(
        [
            cluster.bin_dir / "argocd-lua",
            "-action",
            action,
            "-object",
            live,
            INTEGRATIONS / "argocd" / "resource_customizations",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kubectl("patch", "bj", name, "-n", namespace, "--type=merge", "-p", patch)
    result: dict[str, Any] = json.loads(patch)
    return result


def test_argocd_actions_run_now_suspend_and_resume_a_schedule(
    operator, namespace, cluster, tmp_path
):
    create(scheduled("nightly", NEVER), namespace)
    wait_phase("nightly", namespace, "Scheduled")

    patch = argocd_action(cluster, "run-now", "nightly", namespace, tmp_path)
    token = patch["metadata"]["annotations"]["bulkhead.dev/run-now"]
    assert patch == {"metadata": {"annotations": {"bulkhead.dev/run-now": token}}}
    # the opaque token is echoed once handled, so `kubectl wait --for=jsonpath` can wait on it
    kubectl(
        "wait",
        "bj/nightly",
        "-n",
        namespace,
        f"--for=jsonpath={{.status.runNow}}={token}",
        "--timeout=30s",
    )
    status = last_run("nightly", namespace, "Succeeded")
    assert [(run["runNow"], run["result"]) for run in status["runs"]] == [(token, "Succeeded")]

    assert argocd_action(cluster, "suspend", "nightly", namespace, tmp_path) == {
        "spec": {"suspend": True}
    }
    wait_phase("nightly", namespace, "Suspended")
    assert argocd_action(cluster, "resume", "nightly", namespace, tmp_path) == {
        "spec": {"suspend": False}
    }
    wait_phase("nightly", namespace, "Scheduled")
