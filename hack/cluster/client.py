"""Talking to the running components over HTTP: the API server as the admin, etcd through
its v3 gateway, the other components' health endpoints. Stdlib only."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiServer:
    """The API server at `server`, as the admin (pki/admin.crt, trusting pki/ca.crt)."""

    def __init__(self, server: str, pki: Path) -> None:
        self.server, self.pki = server, pki

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """Returns (HTTP status, the response: parsed if a JSON object, else text), given a
        method, a path and an optional JSON body."""
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

    def get(self, path: str) -> int:
        """Returns the HTTP status of GET path."""
        return self.request("GET", path)[0]


def healthz(port: int) -> bool:
    """True if the component serving HTTPS on port answers /healthz with 200."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed serving certificate
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as r:
        return r.status == 200


def etcd_ready(port: int) -> bool:
    """True if etcd's client port answers /health as healthy."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
        return json.load(r).get("health") == "true"


def etcd_compact(port: int) -> int:
    """Compacts etcd on port up to its current revision (through its v3 HTTP gateway) and
    returns that revision."""
    base = f"http://127.0.0.1:{port}/v3/kv"

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
