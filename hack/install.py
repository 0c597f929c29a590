"""Installs bulkhead's chart on the current cluster without the Deployment, for an operator
run as a local process under the chart's own ServiceAccount and RBAC (tests, demo, bench).

`python hack/install.py OUT` installs and writes OUT: a kubeconfig for that ServiceAccount.
kubectl and helm come from PATH, the admin credentials from KUBECONFIG.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "bulkhead-system"
SERVICE_ACCOUNT = "bulkhead"


def _run(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout


def install(out: Path, values: tuple[str, ...] = ()) -> Path:
    """Applies CRDs and RBAC (not the Deployment), with the chart's `values` (helm --set
    expressions), and writes a kubeconfig for the operator."""
    sets = [arg for value in values for arg in ("--set", value)]
    rendered = _run(
        "helm", "template", "bulkhead", str(ROOT / "charts/bulkhead"), "-n", NAMESPACE, *sets
    )
    documents = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] != "Deployment"]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    _run(
        "kubectl",
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        stdin=yaml.safe_dump_all([namespace, *documents]),
    )
    _run("kubectl", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return service_account_kubeconfig(NAMESPACE, SERVICE_ACCOUNT, out)


def service_account_kubeconfig(namespace: str, account: str, out: Path) -> Path:
    """Writes out: a kubeconfig for ServiceAccount namespace/account of the current cluster
    (a token for 48 h, the admin's server and CA), and returns it."""
    token = _run("kubectl", "create", "token", account, "-n", namespace, "--duration=48h").strip()
    admin = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    cluster = admin["clusters"][0]["cluster"]
    out.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
                "current-context": account,
            }
        )
    )
    out.chmod(0o600)
    return out


if __name__ == "__main__":
    print(install(Path(sys.argv[1])))
