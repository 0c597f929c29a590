"""The operator image, for real: built from the project's Dockerfile by hack/image/build.sh
(buildah on a Debian base made by mmdebstrap, no registry, no daemon), then run from the
image's own filesystem, entrypoint and user (uid 65532, no POD_ID) with a token of the
chart's ServiceAccount, reconciling a BatchJob on the local cluster.

`buildah run --isolation chroot` runs it: a chroot into the image's filesystem with its own
mount and UTS namespaces, but the host's network (so it reaches the local API server on
127.0.0.1), process and IPC namespaces, no seccomp profile and no cgroup limits. That is the
image's filesystem, user, entrypoint and environment as a pod gets them, not a pod's sandbox.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.request import urlopen

import pytest
import yaml

from tests.support.kube import create
from tests.support.objects import batchjob, condition, jobs_of, wait_phase
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILDAH = ROOT / "hack" / "image" / "buildah.sh"
IMAGE_USER = 65532
# Not under /var/run: a symlink to /run in Debian, which a bind mount does not follow.
KUBECONFIG_IN_IMAGE = "/etc/bulkhead/kubeconfig"


def buildah(*args: str) -> str:
    return subprocess.run(
        [str(BUILDAH), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def image() -> str:
    """The image's name in the local store; built (or found in the layer cache) first."""
    built = subprocess.run(
        [str(ROOT / "hack" / "image" / "build.sh")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def self_contained(kubeconfig: Path, out: Path) -> Path:
    """A copy of `kubeconfig` with the cluster's CA inline (the file it names is outside the
    image), readable by the image's user only."""
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        cluster = entry["cluster"]
        if "certificate-authority" in cluster:
            ca = Path(cluster.pop("certificate-authority")).read_bytes()
            cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o400)
    os.chown(out, IMAGE_USER, IMAGE_USER)
    return out


def descendants(pid: int) -> list[int]:
    """Every process under `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def uids_running(pid: int, argv: list[str]) -> set[int]:
    """The real uids of the processes under `pid` that run `argv` (its program found on PATH)."""
    uids = set()
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")[:-1]
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        if cmdline and [Path(cmdline[0]).name, *cmdline[1:]] == argv:
            uids.add(
                int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
            )
    return uids


@pytest.fixture
def image_operator(image, operator_kubeconfig, operator_process, tmp_path) -> Iterator:
    """The image's entrypoint running under buildah, the only operator on the cluster."""
    # The session's operator (a local process) would decide for the image's otherwise; the
    # `operator` fixture starts it again for the tests after this one.
    operator_process.stop()
    kubeconfig = self_contained(operator_kubeconfig, tmp_path / "kubeconfig")
    entrypoint = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"][
        "Entrypoint"
    ]
    container = buildah("from", "--quiet", image)
    metrics_port = free_port()
    log = open(tmp_path / "image-operator.log", "wb")  # noqa: SIM115
    # No --user and no POD_ID: the image's USER, and kopf's identity from its passwd entry.
    proc = subprocess.Popen(
        [
            str(BUILDAH), "run", "--isolation", "chroot",
            "--volume", f"{kubeconfig}:{KUBECONFIG_IN_IMAGE}:ro",
            "--env", f"KUBECONFIG={KUBECONFIG_IN_IMAGE}",
            "--env", f"BULKHEAD_METRICS_PORT={metrics_port}",
            "--env", f"BULKHEAD_HEALTH_PORT={free_port()}",
            container, "--", *entrypoint,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the image's operator exited; see {log.name}"
            assert time.monotonic() < deadline, f"no metrics within 120 s; see {log.name}"
            try:
                urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        yield SimpleNamespace(pid=proc.pid, entrypoint=entrypoint)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        buildah("rm", container)


def test_the_image_reconciles_a_batchjob_as_its_non_root_user(image_operator, namespace):
    # Started and serving as 65532 without POD_ID: kopf named itself after the passwd entry.
    assert uids_running(image_operator.pid, image_operator.entrypoint) == {IMAGE_USER}
    create(batchjob("from-image"), namespace)
    status = wait_phase("from-image", namespace, "Succeeded", timeout=90)
    assert (status["succeeded"], status["failed"]) == (1, 0)
    assert condition(status, "Ready")["status"] == "True"
    assert [job["metadata"]["name"] for job in jobs_of("from-image", namespace)] == [
        status["jobName"]
    ]
