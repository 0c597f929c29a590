"""The control plane's components: which there are, where their binaries come from, their
configuration files and their command lines. Everything a component reads lives in the
cluster's state directory; its ports come from the cluster's recorded ports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .errors import ClusterError

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "hack" / "tools" / "build.sh"
STAGES = ROOT / "hack" / "kwok" / "stages.yaml"

# Start order (stopped clients first, etcd last).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
BINARIES = (*COMPONENTS, "kubectl")
# The ports each start picks (etcd-peer is etcd's second one).
PORTS = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


def bin_dir_from_build() -> Path:
    """Runs hack/tools/build.sh (builds only what is missing) and returns the folder it prints."""
    out = (
        subprocess.run(["bash", str(BUILD_SH)], stdout=subprocess.PIPE, text=True, check=True)
        .stdout.strip()
        .splitlines()
    )
    if not out:
        raise ClusterError(f"{BUILD_SH} printed nothing")
    return Path(out[-1])


def kubeconfig_text(name: str, server: str, pki: Path, user: str) -> str:
    """Returns the kubeconfig of cluster `name` at `server` for `user`, whose certificate and
    key are pki/USER.crt and pki/USER.key."""
    # file paths, not embedded data: small, and readable by every client
    return (
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": name,
                        "cluster": {
                            "server": server,
                            "certificate-authority": str(pki / "ca.crt"),
                        },
                    }
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": str(pki / f"{user}.crt"),
                            "client-key": str(pki / f"{user}.key"),
                        },
                    }
                ],
                "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
                "current-context": name,
            },
            indent=1,
        )
        + "\n"
    )


def write_configs(state_dir: Path, name: str, server: str, pki: Path, kubeconfig: Path) -> None:
    """Writes the admin's kubeconfig to `kubeconfig`, and into state_dir the components'
    kubeconfigs, the scheduler's and kwok's configurations."""
    kubeconfig.write_text(kubeconfig_text(name, server, pki, "admin"))
    for user in ("controller-manager", "scheduler", "kwok"):
        (state_dir / f"{user}.kubeconfig").write_text(kubeconfig_text(name, server, pki, user))
    (state_dir / "scheduler-config.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {
                    "kubeconfig": str(state_dir / "scheduler.kubeconfig"),
                    "qps": 1000,
                    "burst": 2000,
                },
                "leaderElection": {"leaderElect": False},
            },
            indent=1,
        )
        + "\n"
    )
    (state_dir / "kwok-config.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                "options": {
                    "manageAllNodes": False,
                    "manageNodesWithAnnotationSelector": "kwok.x-k8s.io/node=fake",
                    "nodeLeaseDurationSeconds": 40,
                    "podPlayStageParallelism": 32,
                    "nodePlayStageParallelism": 8,
                    "nodeLeaseParallelism": 8,
                    "podsOnNodeSyncParallelism": 8,
                },
            },
            indent=1,
        )
        + "\n"
    )


def command_line(comp: str, state_dir: Path, pki: Path, ports: dict[str, int]) -> list[str]:
    """Returns the arguments component `comp` runs with (its binary's name is comp), given
    the cluster's state directory, its pki folder and its ports."""
    if comp == "etcd":
        return _etcd_args(state_dir, ports)
    if comp == "kube-apiserver":
        return _apiserver_args(state_dir, pki, ports)
    if comp == "kube-controller-manager":
        return _controller_manager_args(state_dir, pki, ports)
    if comp == "kube-scheduler":
        return _scheduler_args(state_dir, ports)
    if comp == "kwok":
        return _kwok_args(state_dir)
    raise ClusterError(f"unknown component {comp!r}; one of {', '.join(COMPONENTS)}")


def _etcd_args(state_dir: Path, ports: dict[str, int]) -> list[str]:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return [
        "--name=bulkhead",
        f"--data-dir={state_dir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=bulkhead={peer}",
        "--unsafe-no-fsync",  # throwaway test data; fsync makes a small disk the bottleneck
        "--log-level=warn",
    ]


def _apiserver_args(state_dir: Path, pki: Path, ports: dict[str, int]) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['kube-apiserver']}",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        f"--cert-dir={pki}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        # the default plugins (NamespaceLifecycle, ServiceAccount, PodSecurity, quota,
        # webhooks, ...) plus NodeRestriction
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--max-requests-inflight=800",
        "--max-mutating-requests-inflight=400",
        "--profiling=false",
        # Who wrote what: the benchmark counts the operator's requests from this log.
        f"--audit-policy-file={_audit_policy(state_dir)}",
        f"--audit-log-path={state_dir / 'logs' / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-maxsize=2000",
    ]


def _audit_policy(state_dir: Path) -> Path:
    """Metadata for the requests of service accounts in bulkhead-system and kueue-system (Kueue
    in the benchmark's peer phase), nothing else."""
    path = state_dir / "audit-policy.yaml"
    path.write_text(
        "apiVersion: audit.k8s.io/v1\n"
        "kind: Policy\n"
        "omitStages: [RequestReceived]\n"
        "rules:\n"
        "- level: Metadata\n"
        "  userGroups:\n"
        "  - system:serviceaccounts:bulkhead-system\n"
        "  - system:serviceaccounts:kueue-system\n"
        "- level: None\n"
    )
    return path


def _controller_manager_args(state_dir: Path, pki: Path, ports: dict[str, int]) -> list[str]:
    kc = state_dir / "controller-manager.kubeconfig"
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['kube-controller-manager']}",
        "--leader-elect=false",
        "--controllers=*",  # every default controller: job, garbage collector,
        # serviceaccount(-token), ttl-after-finished, namespace, node lifecycle, ...
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--kube-api-qps=1000",
        "--kube-api-burst=2000",
        "--concurrent-job-syncs=50",
        "--concurrent-gc-syncs=50",
        "--concurrent-ttl-after-finished-syncs=50",
        "--concurrent-namespace-syncs=20",
        "--concurrent-serviceaccount-token-syncs=10",
        "--profiling=false",
    ]


def _scheduler_args(state_dir: Path, ports: dict[str, int]) -> list[str]:
    kc = state_dir / "scheduler.kubeconfig"
    return [
        f"--config={state_dir / 'scheduler-config.yaml'}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports['kube-scheduler']}",
        "--profiling=false",
    ]


def _kwok_args(state_dir: Path) -> list[str]:
    return [
        f"--kubeconfig={state_dir / 'kwok.kubeconfig'}",
        f"--config={state_dir / 'kwok-config.yaml'}",
        f"--config={STAGES}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-lease-duration-seconds=40",
    ]
