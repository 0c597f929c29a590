"""Where the API server is and how to authenticate to it: a `Connection`, from the pod's own
ServiceAccount (`in_cluster`) or built by the caller from a kubeconfig."""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

# Seconds a token file's token is used before the file is read again: a ServiceAccount token is
# rotated by the kubelet well before it expires (at 80% of its hour), so a minute is plenty.
AUTH_TTL = 60.0
# Where the kubelet mounts a pod's ServiceAccount (its token is rotated in place).
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach and authenticate to one API server. Certificate data is PEM, or base64 of
    PEM as a kubeconfig holds it; a `*_file` and its `*_data` are never both set."""

    server: str  # e.g. https://10.96.0.1:443
    ca_file: str | None = None
    ca_data: str | None = None
    insecure: bool = False  # no verification of the server's certificate
    token: str | None = None
    # Asked for the token instead, again every AUTH_TTL seconds: a ServiceAccount token file
    # the kubelet rotates, or (the kubectl plugin) the official client's refreshed token.
    token_source: Callable[[], str | None] | None = None
    cert_file: str | None = None
    cert_data: str | None = None
    key_file: str | None = None
    key_data: str | None = None

    def current_token(self) -> str | None:
        """The bearer token: what `token_source` answers now, else `token`."""
        return self.token_source() if self.token_source else self.token

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings: the CA to trust, the client certificate to present."""
        context = ssl.create_default_context(
            cafile=self.ca_file, cadata=_pem(self.ca_data) if self.ca_data else None
        )
        with contextlib.ExitStack() as files:
            # ssl loads a certificate chain from files only: data goes through a temporary file
            # (deleted on leaving the block: it may hold a private key).
            def path(file: str | None, data: str | None) -> str | None:
                if file or not data:
                    return file
                temporary = files.enter_context(tempfile.NamedTemporaryFile("w", suffix=".pem"))
                temporary.write(_pem(data))
                temporary.flush()
                return temporary.name

            cert, key = path(self.cert_file, self.cert_data), path(self.key_file, self.key_data)
            if cert:
                context.load_cert_chain(cert, key)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _pem(data: str) -> str:
    return data if data.lstrip().startswith("-----BEGIN") else base64.b64decode(data).decode()


def in_cluster(root: Path = SERVICE_ACCOUNT) -> Connection | None:
    """The pod's own ServiceAccount as client-go's rest.InClusterConfig reads it: the API
    server at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, the mounted CA, and the mounted
    token file (read again as it rotates). None outside a pod (no such variables or token)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (root / "token").exists():
        return None
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return Connection(
        server=f"https://{host}:{port}",
        ca_file=str(root / "ca.crt"),
        token_source=partial(_file_text, root / "token"),
    )


def _file_text(path: Path) -> str | None:
    return path.read_text().strip() or None
