"""kubectl and helm through subprocess, and polling with a timeout, for the tiers on a cluster.

kubectl comes from PATH and talks to $KUBECONFIG; the `cluster` fixture (tests/support/cluster.py)
sets both for the whole session.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `helm ARGS` (helm from the cluster fixture's PATH, against its KUBECONFIG); with
    check, a non-zero exit fails the test with helm's stderr."""
    proc = subprocess.run(["helm", *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


class KubectlError(RuntimeError):
    def __init__(self, args: Iterable[str], proc: subprocess.CompletedProcess):
        self.proc = proc
        self.stderr = proc.stderr
        super().__init__(
            f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
        )


def kubectl(
    *args: str, input: str | dict | list | None = None, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Runs `kubectl ARGS`; input (text, or a manifest as dict / list of dicts) goes to stdin.

    Returns the CompletedProcess (text stdout/stderr); raises KubectlError on a non-zero exit
    when check is true.
    """
    if isinstance(input, list):
        input = {"apiVersion": "v1", "kind": "List", "items": input}
    if isinstance(input, dict):
        input = json.dumps(input)
    proc = subprocess.run(
        ["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise KubectlError(args, proc)
    return proc


def kubectl_json(*args: str, **kw: Any) -> Any:
    """Runs `kubectl ARGS -o json` and returns the parsed output."""
    return json.loads(kubectl(*args, "-o", "json", **kw).stdout)


def apply(manifest: str | dict | list, namespace: str | None = None) -> str:
    """`kubectl apply -f -` of a YAML/JSON text, an object, or a list of objects."""
    ns = ["-n", namespace] if namespace else []
    return kubectl("apply", *ns, "-f", "-", input=manifest).stdout


def create(
    manifest: str | dict | list, namespace: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """`kubectl create -f -`; with check=False, returns the result of a refused create."""
    ns = ["-n", namespace] if namespace else []
    return kubectl("create", *ns, "-f", "-", input=manifest, check=check)


def get(
    kind: str, name: str | None = None, namespace: str | None = None, selector: str | None = None
) -> Any:
    """The object as a dict (None if it does not exist), or with no name a list of items."""
    args = [kind] + ([name] if name else [])
    if namespace:
        args += ["-n", namespace]
    if selector:
        args += ["-l", selector]
    if name is None:
        return kubectl_json("get", *args)["items"]
    proc = kubectl("get", *args, "-o", "json", "--ignore-not-found", check=True)
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def condition(obj: dict | None, type_: str) -> dict | None:
    """The status condition of that type, or None."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def wait_for(
    predicate: Callable[[], T], timeout: float = 60, interval: float = 0.25, what: str = "condition"
) -> T:
    """Polls predicate() until it returns something truthy, and returns that.

    Exceptions from predicate count as "not yet". On timeout raises TimeoutError naming
    `what` with the last value or exception.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as e:
            last = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def wait_condition(
    kind: str,
    name: str,
    namespace: str | None,
    type_: str,
    status: str = "True",
    timeout: float = 60,
) -> dict:
    """Waits until the object has condition type_=status; returns the object."""

    def check() -> dict | None:
        obj = get(kind, name, namespace)
        c = condition(obj, type_)
        return obj if c and c.get("status") == status else None

    return wait_for(check, timeout, what=f"{kind}/{name} condition {type_}={status}")


def wait_gone(kind: str, name: str, namespace: str | None = None, timeout: float = 60) -> None:
    """Waits until the object no longer exists."""
    wait_for(lambda: get(kind, name, namespace) is None, timeout, what=f"{kind}/{name} gone")
