"""The components as daemons: free ports, starting one with its log and pid file, waiting
until it is ready, telling whether a recorded pid still runs, stopping them in order."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import ClusterError, log

# Stop order: the apiserver's clients first (an apiserver with open watches waits a minute
# to drain them; kueue is one, when started), etcd last.
STOP_ORDER = (
    ("kueue", "kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)

Children = dict[str, subprocess.Popen]


def free_port() -> int:
    """Returns a port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """True if port of 127.0.0.1 can be bound now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_ports(ports: dict[str, int], keys: Iterable[str]) -> dict[str, int]:
    """Returns ports with a distinct free port for each of keys: the old one when it is free
    (etcd remembers its peer URL), else a new one."""
    picked = dict(ports)
    taken: set[int] = set()
    for key in keys:
        port = picked.get(key)
        if not port or port in taken or not port_free(port):
            port = free_port()
            while port in taken:
                port = free_port()
        picked[key] = port
        taken.add(port)
    return picked


def pid_alive(pid: int, marker: str) -> bool:
    """True if pid runs and its command line mentions marker (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Returns the last lines of the log at path (or "(no log)")."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"


def spawn(command: list[str], cwd: Path, log_file: Path, pid_file: Path) -> subprocess.Popen:
    """Starts command as a daemon in its own session, in cwd (kwok's work folder there too),
    appending its output to log_file after a header line, and records its pid in pid_file.
    Returns the process."""
    env = dict(os.environ)
    env["KWOK_WORKDIR"] = str(cwd / "kwok")  # keeps ~/.kwok/kwok.yaml out
    name = Path(command[0]).name
    with open(log_file, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def wait_until(
    what: str,
    deadline: float,
    ready: Callable[[], bool],
    children: Children,
    log_file: Callable[[str], Path],
) -> None:
    """Returns once ready() is true (its connection errors count as not yet). Raises
    ClusterError, with the last lines of the log at log_file(component), when one of
    children exits first, or at deadline (a monotonic time) for `what`."""
    while True:
        for c, p in children.items():
            if p.poll() is not None:
                raise ClusterError(
                    f"{c} exited with code {p.returncode} while starting; "
                    f"last lines of {log_file(c)}:\n{tail(log_file(c))}"
                )
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, ClusterError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"timed out waiting for {what}; last lines of {log_file(what)}:\n"
                f"{tail(log_file(what))}"
            )
        time.sleep(0.2)


def reap(children: Children) -> None:
    """Collects the exit status of those of children that ended (no zombies left)."""
    for p in children.values():
        p.poll()


def kill_and_wait(pid: int, sig: int, marker: str, children: Children) -> None:
    """Sends sig to pid and returns once it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    while pid_alive(pid, marker):
        reap(children)
        time.sleep(0.05)


def stop_in_order(pids: dict[str, int], marker: str, children: Children, grace: float) -> None:
    """Stops the components of pids (by component) group by group in STOP_ORDER: SIGTERM,
    then SIGKILL after grace seconds; returns once all are gone. marker: what their command
    lines mention (see pid_alive)."""
    for group in STOP_ORDER:
        alive = {c: p for c, p in pids.items() if c in group and pid_alive(p, marker)}
        for pid in alive.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            reap(children)
            alive = {c: p for c, p in alive.items() if pid_alive(p, marker)}
            if alive:
                time.sleep(0.05)
        for comp, pid in alive.items():
            log(f"{comp} (pid {pid}) ignored SIGTERM for {grace:.0f}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while alive:
            reap(children)
            alive = {c: p for c, p in alive.items() if pid_alive(p, marker)}
            time.sleep(0.05)
    reap(children)
