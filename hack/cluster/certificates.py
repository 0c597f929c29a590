"""The cluster's own certificate authorities, the identities signed by them, and the service
account signing key, made once with openssl into the pki folder and reused by every start.

Identities (authorization Node,RBAC):
  admin (kubeconfig)       CN=bulkhead-admin, O=system:masters
  kube-controller-manager  CN=system:kube-controller-manager (its controllers use their own
                           service accounts: --use-service-account-credentials)
  kube-scheduler           CN=system:kube-scheduler
  kwok                     CN=kwok-controller, O=system:masters (it plays every kubelet)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# name: (subject, extended key usage, subject alt names[, signing CA])
CERTIFICATES = {
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


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def make_pki(pki: Path, cluster_name: str) -> None:
    """Makes what is missing in the folder pki: the CAs (ca.crt, front-proxy-ca.crt), the
    service account key pair (sa.key, sa.pub) and each of CERTIFICATES (NAME.crt, NAME.key),
    keys readable by their owner only. Raises CalledProcessError when openssl fails."""
    # ca: every identity and the serving certificate; front-proxy-ca: the aggregation
    # layer's request-header client (as kubeadm does; also quiets the components' logs)
    for ca in ("ca", "front-proxy-ca"):
        if (pki / f"{ca}.crt").exists():
            continue
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{ca}.key", cwd=pki
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
            f"/CN=bulkhead-{cluster_name}-{ca}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
            "-out",
            f"{ca}.crt",
            cwd=pki,
        )
    if not (pki / "sa.key").exists():
        _openssl(
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "sa.key",
            cwd=pki,
        )
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for name, (subj, usage, san, *signer) in CERTIFICATES.items():
        ca = signer[0] if signer else "ca"
        if (pki / f"{name}.crt").exists():
            continue
        ext = pki / f"{name}.ext"
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else "")
        )
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=pki
        )
        _openssl(
            "req", "-new", "-key", f"{name}.key", "-subj", subj, "-out", f"{name}.csr", cwd=pki
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
            cwd=pki,
        )
        (pki / f"{name}.csr").unlink()
        ext.unlink()
    for key in pki.glob("*.key"):
        key.chmod(0o600)
