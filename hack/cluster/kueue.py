"""Kueue (sigs.k8s.io/kueue, built by hack/tools/build.sh from hack/kueue) as a process against
a running local cluster, for the benchmark's comparison with a queue that admits Jobs.

    kueue = start_kueue(kubeconfig, bin_dir, work_dir)   # or Cluster.kueue()
    kueue.pid, kueue.started_in, kueue.log_file
    kueue.stop()   # SIGTERM, SIGKILL after a grace; kueue.kill(): SIGKILL at once

It installs Kueue's CRDs from the downloaded module (config/components/crd/bases, server-side
apply) and runs Kueue as its config/components/manager configuration ships it, except: no
leader election, no internal certificate management, only the batch/job integration, its
ports on 127.0.0.1, and the visibility server off (it wants certificates at a fixed path).

Webhooks: Kueue's webhook server runs (its readiness waits for it) on 127.0.0.1 with a
self-signed certificate, but no webhook configuration is registered with the API server. Kueue's
Job webhooks (config/components/webhook: mjob, vjob) match every Job create and update in the
cluster, with failurePolicy Fail: bulkhead's own Jobs in the same cluster would wait on them,
and every Job create would fail once Kueue is stopped. So Jobs meant for Kueue are created as
its webhook would leave them: suspended, with the label kueue.x-k8s.io/queue-name. Jobs without
that label are not Kueue's (manageJobsWithoutQueueName: false).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from . import processes
from .components import ROOT
from .errors import ClusterError, log

MODULE = ROOT / "hack" / "kueue"
PORTS = ("health", "metrics", "webhook")


def crd_dir() -> Path:
    """Returns Kueue's CRD folder (config/components/crd/bases) in the module cache: the module
    that hack/kueue builds from, downloaded if missing."""
    # `go list -m -f {{.Dir}}` prints nothing for a module that is not downloaded yet
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    download = subprocess.run(
        ["go", "mod", "download", "-json", "sigs.k8s.io/kueue"],
        cwd=MODULE,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    return Path(json.loads(download)["Dir"]) / "config" / "components" / "crd" / "bases"


def install_crds(kubectl: Path, kubeconfig: Path) -> None:
    """Applies Kueue's CRDs server-side (the Workload CRD is too big for the annotation of a
    client-side apply) and returns once they are Established."""
    crds = str(crd_dir())
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    for args in (
        ("apply", "--server-side", "--force-conflicts", "-f", crds),
        ("wait", "--for=condition=Established", "--timeout=60s", "-f", crds),
    ):
        subprocess.run(
            [str(kubectl), *args], env=env, check=True, stdout=subprocess.DEVNULL, text=True
        )


def configuration(ports: dict[str, int], cert_dir: Path) -> dict:
    """Returns Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) for the given ports
    (health, metrics, webhook) and serving certificate folder."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "manageJobsWithoutQueueName": False,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['health']}"},
        "metrics": {"bindAddress": f"127.0.0.1:{ports['metrics']}"},
        "webhook": {"host": "127.0.0.1", "port": ports["webhook"], "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        # as config/components/manager/controller_manager_config.yaml ships them
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 5,
                "LocalQueue.kueue.x-k8s.io": 1,
                "Cohort.kueue.x-k8s.io": 1,
                "ClusterQueue.kueue.x-k8s.io": 1,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 50, "burst": 100},
        "integrations": {"frameworks": ["batch/job"]},
    }


def _serving_certificate(cert_dir: Path) -> None:
    """Makes a self-signed certificate for 127.0.0.1 (tls.crt, tls.key) in cert_dir, once:
    the webhook and metrics servers serve it."""
    if (cert_dir / "tls.crt").exists():
        return
    cert_dir.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = ["-subj", "/CN=kueue", "-addext", "subjectAltName=IP:127.0.0.1"]
    out = ["-days", "3650", "-keyout", "tls.key", "-out", "tls.crt"]
    subprocess.run(
        ["openssl", "req", "-x509", *key, *subject, *out],
        cwd=cert_dir,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# Kueue's /readyz answers once its webhook server listens (0.2 s after its start here), before
# its controllers' caches have synced (2.2 s): it acts on Jobs once the Job controller's workers
# start, which only its log tells.
JOB_WORKERS_STARTED = (
    b'"logger":"job","caller":"controller/controller.go:306","msg":"Starting workers"'
)


def _ready(port: int, log_file: Path, log_start: int) -> bool:
    """True once Kueue's /readyz on port answers and its log (from offset log_start) tells
    that the Job controller's workers started."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
        if r.status != 200:
            return False
    with open(log_file, "rb") as f:
        f.seek(log_start)
        return JOB_WORKERS_STARTED in f.read()


class Kueue:
    """A running Kueue process: .pid (for its CPU and RSS), .log_file, .ports, .started_in
    (seconds from its start until it acts on Jobs: see _ready)."""

    def __init__(
        self, proc: subprocess.Popen, work_dir: Path, ports: dict[str, int], started_in: float
    ) -> None:
        self.proc, self.work_dir, self.ports, self.started_in = proc, work_dir, ports, started_in
        self.log_file = work_dir / "kueue.log"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, grace: float = 15) -> None:
        """SIGTERM, SIGKILL after grace seconds; returns once it is gone."""
        children = {"kueue": self.proc}
        processes.stop_in_order({"kueue": self.pid}, str(self.work_dir), children, grace)
        (self.work_dir / "kueue.pid").unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL (a crash); returns once it is gone."""
        processes.kill_and_wait(self.pid, signal.SIGKILL, str(self.work_dir), {"kueue": self.proc})
        (self.work_dir / "kueue.pid").unlink(missing_ok=True)


def recorded_pid(work_dir: Path) -> dict[str, int]:
    """{"kueue": pid} of a Kueue started in work_dir and still recorded there, else {}."""
    try:
        return {"kueue": int((work_dir / "kueue.pid").read_text())}
    except (FileNotFoundError, ValueError):
        return {}


def start_kueue(kubeconfig: Path, bin_dir: Path, work_dir: Path, timeout: float = 120) -> Kueue:
    """Installs Kueue's CRDs into the cluster of kubeconfig (its identity is Kueue's, e.g. the
    admin's), starts bin_dir/kueue with its configuration, certificate, log (kueue.log) and pid
    file in work_dir, and returns it once it acts on Jobs (its /readyz answers and its Job
    controller's workers started). Raises ClusterError when it exits first or is not ready by
    timeout seconds."""
    if not (bin_dir / "kueue").exists():
        raise ClusterError(f"no kueue in {bin_dir}: run hack/tools/build.sh")
    work_dir.mkdir(parents=True, exist_ok=True)
    install_crds(bin_dir / "kubectl", kubeconfig)
    cert_dir = work_dir / "certs"
    _serving_certificate(cert_dir)
    ports = processes.pick_ports({}, PORTS)
    config = work_dir / "config.yaml"
    config.write_text(json.dumps(configuration(ports, cert_dir), indent=1) + "\n")
    command = [
        str(bin_dir / "kueue"),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--metrics-cert-dir={cert_dir}",
        "--feature-gates=VisibilityOnDemand=false",
    ]
    log_file = work_dir / "kueue.log"
    log_start = log_file.stat().st_size if log_file.exists() else 0
    started = time.monotonic()
    proc = processes.spawn(command, work_dir, log_file, work_dir / "kueue.pid")
    try:
        processes.wait_until(
            "kueue",
            started + timeout,
            lambda: _ready(ports["health"], log_file, log_start),
            {"kueue": proc},
            lambda _: log_file,
        )
    except BaseException:
        processes.kill_and_wait(proc.pid, signal.SIGKILL, str(work_dir), {"kueue": proc})
        raise
    kueue = Kueue(proc, work_dir, ports, time.monotonic() - started)
    log(f"kueue ready in {kueue.started_in:.1f}s (pid {kueue.pid}, {work_dir})")
    return kueue
