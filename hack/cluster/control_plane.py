"""Cluster: one local control plane, its state directory and the lifecycle of its processes
(up, down, one component restarted in place), put together from the package's parts."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import processes
from .certificates import make_pki
from .client import ApiServer, etcd_compact, etcd_ready, healthz
from .components import (
    BINARIES,
    COMPONENTS,
    PORTS,
    bin_dir_from_build,
    command_line,
    write_configs,
)
from .errors import ClusterError, log
from .kueue import Kueue, recorded_pid, start_kueue
from .nodes import NODES, create_nodes, usable


def clusters_root() -> Path:
    """Returns the folder of the named clusters' state directories:
    $XDG_CACHE_HOME/bulkhead/clusters (~/.cache/... by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bulkhead" / "clusters"


class Cluster:
    """A control plane in its state directory: a name under clusters_root(), or a path
    (containing a separator, or starting with a dot). Reads the recorded state, if any."""

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
        self._children: processes.Children = {}
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
        return {c: p for c, p in self._pids().items() if processes.pid_alive(p, str(self.dir))}

    def pids(self) -> dict[str, int]:
        """The running components' pids, by component (the benchmark reads their CPU)."""
        return self._alive()

    def log_file(self, comp: str) -> Path:
        return self.dir / "logs" / f"{comp}.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def _api(self) -> ApiServer:
        return ApiServer(self.server, self.pki)

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
    def _lock(self) -> Iterator[None]:
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
                log(f"reusing running cluster {self.name!r} ({self.dir})")
                return self
            if self._alive():
                log(f"cluster {self.name!r} is partly running or unhealthy; restarting it")
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
            log(f"cluster {self.name!r} up in {time.monotonic() - start:.1f}s ({self.dir})")
            return self

    def down(self, purge: bool = False) -> None:
        if not self.dir.exists():
            return
        with self._lock():
            self._stop()
        if purge:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self, grace: float = 15) -> None:
        """Stops every component, and a Kueue that cluster.kueue() started, by recorded pid
        (processes.stop_in_order) and forgets them."""
        kueue = recorded_pid(self.dir / "kueue")
        processes.stop_in_order({**self._pids(), **kueue}, str(self.dir), self._children, grace)
        for comp in COMPONENTS:
            with contextlib.suppress(FileNotFoundError):
                self._pid_file(comp).unlink()
        (self.dir / "kueue" / "kueue.pid").unlink(missing_ok=True)
        self._children.clear()

    def kueue(self, timeout: float = 120) -> Kueue:
        """Starts Kueue against this running cluster, as the admin, in the folder kueue/ of
        the state directory (hack/cluster/kueue.py); `down` stops it too."""
        if self.bin_dir is None:
            raise ClusterError(f"cluster {self.name!r} was never started")
        return start_kueue(self.kubeconfig, self.bin_dir, self.dir / "kueue", timeout)

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
            processes.kill_and_wait(pid, sig, str(self.dir), self._children)
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
                self._spawn(comp)
                self._save_state()
                try:
                    self._wait(comp, deadline, self._health(comp))
                    break
                except ClusterError:
                    with open(self.log_file(comp), "rb") as log_file:
                        log_file.seek(mark)
                        busy = b"address already in use" in log_file.read()
                    if not busy or time.monotonic() > deadline:
                        raise
                    self._children.pop(comp, None)
                    time.sleep(0.5)
            self._wait(comp, deadline, lambda: self._usable()[0])
        healthy = time.monotonic() - started
        log(f"{comp} started, healthy in {healthy:.1f}s")
        return healthy

    def _health(self, comp: str) -> Callable[[], bool]:
        """The readiness check of one component (kwok has none of its own: nodes Ready)."""
        if comp == "etcd":
            return lambda: etcd_ready(self.ports["etcd"])
        if comp == "kube-apiserver":
            return lambda: self._api().get("/readyz") == 200
        if comp == "kwok":
            return lambda: self._usable()[0]
        return lambda: healthz(self.ports[comp])

    def compact(self) -> int:
        """Compacts etcd up to its current revision (through its v3 HTTP gateway), so that a
        watch or list from any older resourceVersion is refused with 410 Gone (once the
        apiserver's watch cache, which may still hold them, is gone too: restart it).
        Returns the revision compacted to."""
        return etcd_compact(self.ports["etcd"])

    # ---- start -------------------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        for sub in ("pki", "logs", "pids", "etcd", "kwok"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "etcd", 0o700)
        self.ports = processes.pick_ports(self.ports, PORTS)
        make_pki(self.pki, self.name)
        write_configs(self.dir, self.name, self.server, self.pki, self.kubeconfig)
        self._save_state()
        deadline = time.monotonic() + timeout

        self._spawn("etcd")
        self._wait("etcd", deadline, self._health("etcd"))
        self._spawn("kube-apiserver")
        self._wait("kube-apiserver", deadline, self._health("kube-apiserver"))
        self._spawn("kube-controller-manager")
        self._spawn("kube-scheduler")
        self._spawn("kwok")
        self._save_state()
        create_nodes(self._api(), self.nodes)
        for comp in ("kube-controller-manager", "kube-scheduler"):
            self._wait(comp, deadline, self._health(comp))

        why = ""

        def ready() -> bool:
            nonlocal why
            ok, why = self._usable()
            return ok

        try:
            self._wait("kwok", deadline, ready)
        except ClusterError as e:
            # the default ServiceAccount is the controller-manager's work
            raise ClusterError(f"{e}\nnot usable yet: {why}") from None

    def _spawn(self, comp: str) -> None:
        assert self.bin_dir is not None
        command = [str(self.bin_dir / comp), *command_line(comp, self.dir, self.pki, self.ports)]
        self._children[comp] = processes.spawn(
            command, self.dir, self.log_file(comp), self._pid_file(comp)
        )

    def _wait(self, comp: str, deadline: float, ready: Callable[[], bool]) -> None:
        processes.wait_until(comp, deadline, ready, self._children, self.log_file)

    # ---- talking to the cluster --------------------------------------------------------
    def _usable(self) -> tuple[bool, str]:
        return usable(self._api(), self.nodes)

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
