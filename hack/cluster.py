#!/usr/bin/env python3
"""A real Kubernetes control plane on loopback, without containers, for tests and demos.

    eval "$(python3 hack/cluster.py up [--name NAME])"    # starts it, or reuses a healthy one
    python3 hack/cluster.py down [--name NAME] [--purge]  # stops it (--purge: delete its state)
    python3 hack/cluster.py status [--name NAME]
    python3 hack/cluster.py restart COMPONENT [--down-for S] [--term] [--name NAME]
    python3 hack/cluster.py compact [--name NAME]   # etcd: watches from older revisions get 410

Runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes whose
pods run for `pod-complete.stage.kwok.x-k8s.io/delay`, default 1s, and exit with the code in
`local.bulkhead.dev/exit-code`, default 0; see hack/kwok/stages.yaml) as daemons on free
ports of 127.0.0.1, so several clusters can run side by side. Binaries come from
hack/tools/build.sh. Everything (certificates, kubeconfigs, etcd data, logs, pids) lives in
the state directory: $XDG_CACHE_HOME/bulkhead/clusters/NAME (~/.cache/... by default).
`down` stops the processes by their recorded pids and keeps the state (a later `up` starts
the cluster again on its old data); `down --purge` also deletes the state directory.

Identities (certificates signed by the cluster's own CA; authorization Node,RBAC):
  admin (kubeconfig)       CN=bulkhead-admin, O=system:masters
  kube-controller-manager  CN=system:kube-controller-manager (its controllers use their own
                           service accounts: --use-service-account-credentials)
  kube-scheduler           CN=system:kube-scheduler
  kwok                     CN=kwok-controller, O=system:masters (it plays every kubelet)

Python API (stdlib only, Python 3.11):
    c = Cluster("e2e-123").up()   # or Cluster("/some/state/dir")
    c.kubeconfig, c.bin_dir, c.env()  # env(): os.environ plus KUBECONFIG and PATH
    c.restart("kube-apiserver", down_for=3)   # one component in place: same ports, certs, data
    c.stop_component("etcd"); c.start_component("etcd")   # the same, in two steps
    c.compact()                                # etcd compaction up to its current revision
    c.down(purge=True)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_SH = ROOT / "hack" / "tools" / "build.sh"
STAGES = ROOT / "hack" / "kwok" / "stages.yaml"

# Start order (stopped clients first, etcd last).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
BINARIES = (*COMPONENTS, "kubectl")

NODES = 4  # fake nodes; each takes 500 pods, so 2,000 pods fit at once
NODE_CAPACITY = {"cpu": "1k", "memory": "4Ti", "pods": "500", "ephemeral-storage": "10Ti"}
SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ClusterError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def clusters_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bulkhead" / "clusters"


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int, marker: str) -> bool:
    """True if pid runs and its command line mentions marker (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


class Cluster:
    def __init__(self, name_or_dir: str | os.PathLike = "default", nodes: int = NODES):
        s = str(name_or_dir)
        if os.sep in s or s.startswith("."):
            self.dir = Path(s).expanduser().resolve()
        else:
            self.dir = clusters_root() / s
        self.name = self.dir.name
        self.nodes = nodes
        self.pki = self.dir / "pki"
        self.kubeconfig = self.dir / "kubeconfig"  # admin
        self.state_file = self.dir / "state.json"
        self.bin_dir: Path | None = None
        self.ports: dict[str, int] = {}
        self._children: dict[str, subprocess.Popen] = {}
        self._load_state()

    # ---- state -------------------------------------------------------------------------
    def _load_state(self) -> dict:
        try:
            st = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        self.ports = st.get("ports", {})
        if st.get("bin_dir"):
            self.bin_dir = Path(st["bin_dir"])
        return st

    def _save_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "name": self.name,
                    "bin_dir": str(self.bin_dir),
                    "ports": self.ports,
                    "pids": self._pids(),
                },
                indent=1,
            )
        )
        tmp.replace(self.state_file)

    def _pid_file(self, comp: str) -> Path:
        return self.dir / "pids" / f"{comp}.pid"

    def _pids(self) -> dict[str, int]:
        pids = {}
        for comp in COMPONENTS:
            with contextlib.suppress(FileNotFoundError, ValueError):
                pids[comp] = int(self._pid_file(comp).read_text())
        return pids

    def _alive(self) -> dict[str, int]:
        return {c: p for c, p in self._pids().items() if _pid_alive(p, str(self.dir))}

    def pids(self) -> dict[str, int]:
        """The running components' pids, by component (the benchmark reads their CPU)."""
        return self._alive()

    def log_file(self, comp: str) -> Path:
        return self.dir / "logs" / f"{comp}.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def exports(self) -> str:
        return (
            f"export KUBECONFIG={shlex.quote(str(self.kubeconfig))}\n"
            f"export PATH={shlex.quote(str(self.bin_dir))}:$PATH"
        )

    @contextlib.contextmanager
    def _lock(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ---- lifecycle ---------------------------------------------------------------------
    def running(self) -> bool:
        """All processes alive and the cluster answers as usable."""
        if set(self._alive()) != set(COMPONENTS) or "kube-apiserver" not in self.ports:
            return False
        try:
            return self._usable()[0]
        except Exception:
            return False

    def up(self, timeout: float = 180) -> Cluster:
        with self._lock():
            if self.running():
                _log(f"reusing running cluster {self.name!r} ({self.dir})")
                return self
            if self._alive():
                _log(f"cluster {self.name!r} is partly running or unhealthy; restarting it")
                self._stop()
            self.bin_dir = bin_dir_from_build()
            missing = [b for b in BINARIES if not (self.bin_dir / b).exists()]
            if missing:
                raise ClusterError(f"missing binaries in {self.bin_dir}: {missing}")
            start = time.monotonic()
            try:
                self._start(timeout)
            except BaseException:
                self._stop()
                raise
            _log(f"cluster {self.name!r} up in {time.monotonic() - start:.1f}s ({self.dir})")
            return self

    def down(self, purge: bool = False) -> None:
        if not self.dir.exists():
            return
        with self._lock():
            self._stop()
        if purge:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self, grace: float = 15) -> None:
        """SIGTERM, then SIGKILL after grace seconds, by recorded pid: the apiserver's clients
        first (an apiserver with open watches waits a minute to drain them), etcd last."""
        marker = str(self.dir)
        for group in (
            ("kwok", "kube-scheduler", "kube-controller-manager"),
            ("kube-apiserver",),
            ("etcd",),
        ):
            alive = {c: p for c, p in self._alive().items() if c in group}
            for pid in alive.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while alive and time.monotonic() < deadline:
                self._reap()
                alive = {c: p for c, p in alive.items() if _pid_alive(p, marker)}
                if alive:
                    time.sleep(0.05)
            for comp, pid in alive.items():
                _log(f"{comp} (pid {pid}) ignored SIGTERM for {grace:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            while alive:
                self._reap()
                alive = {c: p for c, p in alive.items() if _pid_alive(p, marker)}
                time.sleep(0.05)
        self._reap()
        for comp in COMPONENTS:
            with contextlib.suppress(FileNotFoundError):
                self._pid_file(comp).unlink()
        self._children.clear()

    def restart(
        self, comp: str, down_for: float = 0, sig: int = signal.SIGKILL, timeout: float = 120
    ) -> float:
        """`stop_component`, `down_for` seconds, then `start_component`: one component
        restarted in place (same ports, certificates and data directory). Returns the seconds
        from its start until healthy."""
        self.stop_component(comp, sig)
        time.sleep(down_for)
        return self.start_component(comp, timeout)

    def stop_component(self, comp: str, sig: int = signal.SIGKILL) -> None:
        """Stops one component with `sig` (SIGKILL: a crash, no graceful shutdown) and waits
        until it is gone. Raises ClusterError if it is not running."""
        if comp not in COMPONENTS:
            raise ClusterError(f"unknown component {comp!r}; one of {', '.join(COMPONENTS)}")
        with self._lock():
            pid = self._alive().get(comp)
            if pid is None:
                raise ClusterError(f"{comp} of cluster {self.name!r} is not running")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            while _pid_alive(pid, str(self.dir)):
                self._reap()
                time.sleep(0.05)
            self._children.pop(comp, None)
            self._pid_file(comp).unlink(missing_ok=True)

    def start_component(self, comp: str, timeout: float = 120) -> float:
        """Starts one stopped component with its usual command line and waits until it and
        the cluster are healthy. Its port may still be held for a while by the connections
        of a killed process to a peer that does not read (a frozen client): it tries again
        until `timeout`. Returns the seconds from the first try until healthy; raises
        ClusterError when it runs already, or is not healthy by then."""
        started = time.monotonic()
        deadline = started + timeout
        with self._lock():
            if comp in self._alive():
                raise ClusterError(f"{comp} of cluster {self.name!r} is running already")
            while True:
                mark = self.log_file(comp).stat().st_size if self.log_file(comp).exists() else 0
                self._spawn(comp, self._args(comp))
                self._save_state()
                try:
                    self._wait(comp, deadline, self._health(comp))
                    break
                except ClusterError:
                    with open(self.log_file(comp), "rb") as log:
                        log.seek(mark)
                        busy = b"address already in use" in log.read()
                    if not busy or time.monotonic() > deadline:
                        raise
                    self._children.pop(comp, None)
                    time.sleep(0.5)
            self._wait(comp, deadline, lambda: self._usable()[0])
        healthy = time.monotonic() - started
        _log(f"{comp} started, healthy in {healthy:.1f}s")
        return healthy

    def _args(self, comp: str) -> list[str]:
        return {
            "etcd": self._etcd_args,
            "kube-apiserver": self._apiserver_args,
            "kube-controller-manager": self._controller_manager_args,
            "kube-scheduler": self._scheduler_args,
            "kwok": self._kwok_args,
        }[comp]()

    def _health(self, comp: str):
        """The readiness check of one component (kwok has none of its own: nodes Ready)."""
        if comp == "etcd":
            return self._etcd_ready
        if comp == "kube-apiserver":
            return lambda: self._get("/readyz") == 200
        if comp == "kwok":
            return lambda: self._usable()[0]
        return lambda: self._healthz(self.ports[comp])

    def compact(self) -> int:
        """Compacts etcd up to its current revision (through its v3 HTTP gateway), so that a
        watch or list from any older resourceVersion is refused with 410 Gone (once the
        apiserver's watch cache, which may still hold them, is gone too: restart it).
        Returns the revision compacted to."""
        base = f"http://127.0.0.1:{self.ports['etcd']}/v3/kv"

        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(
                f"{base}/{path}", data=json.dumps(body).encode(), method="POST"
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)

        # any key will do: every response header carries the store's current revision
        revision = int(post("range", {"key": "AA=="})["header"]["revision"])
        post("compaction", {"revision": str(revision), "physical": True})
        return revision

    def _reap(self) -> None:
        for p in self._children.values():
            p.poll()

    # ---- start -------------------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        for sub in ("pki", "logs", "pids", "etcd", "kwok"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "etcd", 0o700)
        self._pick_ports()
        self._make_pki()
        self._write_configs()
        self._save_state()
        deadline = time.monotonic() + timeout

        self._spawn("etcd", self._etcd_args())
        self._wait("etcd", deadline, self._health("etcd"))
        self._spawn("kube-apiserver", self._apiserver_args())
        self._wait("kube-apiserver", deadline, self._health("kube-apiserver"))
        self._spawn("kube-controller-manager", self._controller_manager_args())
        self._spawn("kube-scheduler", self._scheduler_args())
        self._spawn("kwok", self._kwok_args())
        self._save_state()
        self._create_nodes()
        for comp in ("kube-controller-manager", "kube-scheduler"):
            self._wait(comp, deadline, self._health(comp))

        def usable():
            ok, why = self._usable()
            usable.why = why
            return ok

        usable.why = ""
        try:
            self._wait("kwok", deadline, usable)
        except ClusterError as e:
            # the default ServiceAccount is the controller-manager's work
            raise ClusterError(f"{e}\nnot usable yet: {usable.why}") from None

    def _pick_ports(self) -> None:
        want = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
        taken: set[int] = set()
        for key in want:  # keep the old ports when free (etcd remembers its peer URL)
            port = self.ports.get(key)
            if not port or port in taken or not _port_free(port):
                port = _free_port()
                while port in taken:
                    port = _free_port()
            self.ports[key] = port
            taken.add(port)

    def _make_pki(self) -> None:
        d = self.pki
        # ca: every identity and the serving certificate; front-proxy-ca: the aggregation
        # layer's request-header client (as kubeadm does; also quiets the components' logs)
        for ca in ("ca", "front-proxy-ca"):
            if (d / f"{ca}.crt").exists():
                continue
            _openssl(
                "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{ca}.key", cwd=d
            )
            _openssl(
                "req",
                "-x509",
                "-new",
                "-key",
                f"{ca}.key",
                "-days",
                "3650",
                "-subj",
                f"/CN=bulkhead-{self.name}-{ca}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
                "-out",
                f"{ca}.crt",
                cwd=d,
            )
        if not (d / "sa.key").exists():
            _openssl(
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "sa.key",
                cwd=d,
            )
            _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
        certs = {  # name: (subject, extended key usage, subject alt names[, signing CA])
            "apiserver": (
                "/CN=kube-apiserver",
                "serverAuth",
                "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
                "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
                "DNS:kubernetes.default.svc.cluster.local",
            ),
            "admin": ("/O=system:masters/CN=bulkhead-admin", "clientAuth", None),
            "controller-manager": ("/CN=system:kube-controller-manager", "clientAuth", None),
            "scheduler": ("/CN=system:kube-scheduler", "clientAuth", None),
            "kwok": ("/O=system:masters/CN=kwok-controller", "clientAuth", None),
            "front-proxy-client": ("/CN=front-proxy-client", "clientAuth", None, "front-proxy-ca"),
        }
        for name, (subj, usage, san, *signer) in certs.items():
            ca = signer[0] if signer else "ca"
            if (d / f"{name}.crt").exists():
                continue
            ext = d / f"{name}.ext"
            ext.write_text(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else "")
            )
            _openssl(
                "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d
            )
            _openssl(
                "req", "-new", "-key", f"{name}.key", "-subj", subj, "-out", f"{name}.csr", cwd=d
            )
            _openssl(
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                f"{ca}.crt",
                "-CAkey",
                f"{ca}.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                ext.name,
                "-out",
                f"{name}.crt",
                cwd=d,
            )
            (d / f"{name}.csr").unlink()
            ext.unlink()
        for key in d.glob("*.key"):
            key.chmod(0o600)

    def _kubeconfig_text(self, user: str) -> str:
        # file paths, not embedded data: small, and readable by every client
        return (
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": self.name,
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": str(self.pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": [
                        {
                            "name": user,
                            "user": {
                                "client-certificate": str(self.pki / f"{user}.crt"),
                                "client-key": str(self.pki / f"{user}.key"),
                            },
                        }
                    ],
                    "contexts": [
                        {"name": self.name, "context": {"cluster": self.name, "user": user}}
                    ],
                    "current-context": self.name,
                },
                indent=1,
            )
            + "\n"
        )

    def _write_configs(self) -> None:
        self.kubeconfig.write_text(self._kubeconfig_text("admin"))
        for user in ("controller-manager", "scheduler", "kwok"):
            (self.dir / f"{user}.kubeconfig").write_text(self._kubeconfig_text(user))
        (self.dir / "scheduler-config.yaml").write_text(
            json.dumps(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {
                        "kubeconfig": str(self.dir / "scheduler.kubeconfig"),
                        "qps": 1000,
                        "burst": 2000,
                    },
                    "leaderElection": {"leaderElect": False},
                },
                indent=1,
            )
            + "\n"
        )
        (self.dir / "kwok-config.yaml").write_text(
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

    # ---- component command lines -------------------------------------------------------
    def _etcd_args(self) -> list[str]:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        return [
            "--name=bulkhead",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=bulkhead={peer}",
            "--unsafe-no-fsync",  # throwaway test data; fsync makes a small disk the bottleneck
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        p = self.pki
        return [
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['kube-apiserver']}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
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
            f"--audit-policy-file={self._audit_policy()}",
            f"--audit-log-path={self.dir / 'logs' / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-maxsize=2000",
        ]

    def _audit_policy(self) -> Path:
        """Metadata for the requests of service accounts in bulkhead-system, nothing else."""
        path = self.dir / "audit-policy.yaml"
        path.write_text(
            "apiVersion: audit.k8s.io/v1\n"
            "kind: Policy\n"
            "omitStages: [RequestReceived]\n"
            "rules:\n"
            "- level: Metadata\n"
            "  userGroups: [system:serviceaccounts:bulkhead-system]\n"
            "- level: None\n"
        )
        return path

    def _controller_manager_args(self) -> list[str]:
        kc = self.dir / "controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['kube-controller-manager']}",
            "--leader-elect=false",
            "--controllers=*",  # every default controller: job, garbage collector,
            # serviceaccount(-token), ttl-after-finished, namespace, node lifecycle, ...
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
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

    def _scheduler_args(self) -> list[str]:
        kc = self.dir / "scheduler.kubeconfig"
        return [
            f"--config={self.dir / 'scheduler-config.yaml'}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['kube-scheduler']}",
            "--profiling=false",
        ]

    def _kwok_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.dir / 'kwok.kubeconfig'}",
            f"--config={self.dir / 'kwok-config.yaml'}",
            f"--config={STAGES}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
        ]

    def _spawn(self, comp: str, args: list[str]) -> None:
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = str(self.dir / "kwok")  # keeps ~/.kwok/kwok.yaml out
        with open(self.log_file(comp), "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {comp}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [str(self.bin_dir / comp), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=env,
                start_new_session=True,
            )
        self._children[comp] = proc
        self._pid_file(comp).write_text(f"{proc.pid}\n")

    def _wait(self, comp: str, deadline: float, ready) -> None:
        while True:
            for c, p in self._children.items():
                if p.poll() is not None:
                    raise ClusterError(
                        f"{c} exited with code {p.returncode} while starting; "
                        f"last lines of {self.log_file(c)}:\n{_tail(self.log_file(c))}"
                    )
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, ClusterError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out waiting for {comp}; last lines of {self.log_file(comp)}:\n"
                    f"{_tail(self.log_file(comp))}"
                )
            time.sleep(0.2)

    # ---- talking to the cluster --------------------------------------------------------
    def _etcd_ready(self) -> bool:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.ports['etcd']}/health", timeout=2
        ) as r:
            return json.load(r).get("health") == "true"

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _request(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(
            self.server + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=5) as r:
                data = r.read()
                return r.status, (json.loads(data) if data[:1] == b"{" else data.decode())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def _get(self, path: str) -> int:
        return self._request("GET", path)[0]

    def _healthz(self, port: int) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed serving certificate
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2
        ) as r:
            return r.status == 200

    def _create_nodes(self) -> None:
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node-role.kubernetes.io/agent": "",
                    },
                },
                # its own pod range per node: kwok's default range has 254 addresses
                "spec": {"podCIDR": f"10.{64 + i}.0.0/16", "podCIDRs": [f"10.{64 + i}.0.0/16"]},
                "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
            }
            code, body = self._request("POST", "/api/v1/nodes", node)
            if code not in (201, 409):
                raise ClusterError(f"creating node {name}: HTTP {code}: {body}")

    def _usable(self) -> tuple[bool, str]:
        if self._get("/readyz") != 200:
            return False, "kube-apiserver /readyz not ok"
        code, nodes = self._request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")
        if code != 200:
            return False, f"listing nodes: HTTP {code}"
        ready = [
            n["metadata"]["name"]
            for n in nodes["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) < self.nodes:
            return False, f"{len(ready)} of {self.nodes} nodes Ready"
        if self._get("/api/v1/namespaces/default/serviceaccounts/default") != 200:
            return False, "no ServiceAccount default/default yet"
        return True, ""

    def status(self) -> str:
        alive = self._alive()
        lines = [f"cluster {self.name!r} in {self.dir}"]
        for comp in COMPONENTS:
            pid = alive.get(comp)
            lines.append(f"  {comp:24} {f'pid {pid}' if pid else 'not running'}")
        if set(alive) == set(COMPONENTS):
            try:
                ok, why = self._usable()
                lines.append(f"  usable: {'yes' if ok else 'no, ' + why}  ({self.server})")
            except Exception as e:
                lines.append(f"  usable: no, {e}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("up", "down", "status", "restart", "compact"):
        p = sub.add_parser(cmd)
        p.add_argument(
            "--name",
            default="default",
            help="cluster name, or a state directory path (default: default)",
        )
        if cmd == "up":
            p.add_argument("--timeout", type=float, default=180)
        if cmd == "down":
            p.add_argument("--purge", action="store_true", help="also delete the state directory")
        if cmd == "restart":
            p.add_argument("component", choices=COMPONENTS)
            p.add_argument("--down-for", type=float, default=0, help="seconds kept stopped")
            p.add_argument("--term", action="store_true", help="SIGTERM instead of SIGKILL")
    a = ap.parse_args(argv)
    c = Cluster(a.name)
    try:
        if a.cmd == "up":
            c.up(timeout=a.timeout)
            print(c.exports())
        elif a.cmd == "down":
            c.down(purge=a.purge)
            _log(f"cluster {c.name!r} stopped" + (" and its state deleted" if a.purge else ""))
        elif a.cmd == "restart":
            sig = signal.SIGTERM if a.term else signal.SIGKILL
            c.restart(a.component, down_for=a.down_for, sig=sig)
        elif a.cmd == "compact":
            _log(f"etcd compacted to revision {c.compact()}")
        else:
            print(c.status())
    except (ClusterError, subprocess.CalledProcessError) as e:
        _log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
