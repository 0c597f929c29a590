"""Where the operator's connection comes from (kube.connection.in_cluster, operator.connection
with kopf's kubeconfig reader, cli.target.connection_of), what it makes of TLS material, who each
client says it is, and that the operator process never imports the official client."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import kopf
import kubernetes
import pytest
import uvloop
import yaml
from aiohttp import web
from bulkhead import __version__, operator
from bulkhead.cli.target import connect, connection_of
from bulkhead.kube.client import Kube
from bulkhead.kube.connection import Connection, in_cluster
from bulkhead.operator import connection, login

OPERATOR = Path(__file__).resolve().parents[2] / "operator"


def kubeconfig(path: Path, user: dict, cluster: dict, current: str | None = "ctx") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:6443", **cluster}}],
        "users": [{"name": "me", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "local", "user": "me"}}],
    }
    if current:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("user", "cluster", "expected"),
    [
        # hack/install.py: the ServiceAccount's token, the CA as data
        (
            {"token": "t0k3n"},
            {"certificate-authority-data": "Q0E="},
            Connection("https://127.0.0.1:6443", ca_data="Q0E=", token="t0k3n"),
        ),
        # hack/cluster's admin: client certificates, all files
        (
            {"client-certificate": "/pki/admin.crt", "client-key": "/pki/admin.key"},
            {"certificate-authority": "/pki/ca.crt"},
            Connection(
                "https://127.0.0.1:6443",
                ca_file="/pki/ca.crt",
                cert_file="/pki/admin.crt",
                key_file="/pki/admin.key",
            ),
        ),
        # client certificates as data, no verification of the server
        (
            {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"},
            {"insecure-skip-tls-verify": True},
            Connection(
                "https://127.0.0.1:6443", insecure=True, cert_data="Q0VSVA==", key_data="S0VZ"
            ),
        ),
    ],
    ids=["token", "certificate-files", "certificate-data-insecure"],
)
def test_outside_a_pod_the_connection_is_the_kubeconfigs(
    outside_a_pod, tmp_path, user, cluster, expected
):
    outside_a_pod.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "config", user, cluster)))
    assert connection(kopf.OperatorSettings()) == expected


def test_kubeconfig_with_several_paths_takes_the_first_value_of_each(outside_a_pod, tmp_path):
    # the first file names no current context (the second's counts) and wins the user
    first = kubeconfig(tmp_path / "first", {"token": "first"}, {}, current=None)
    second = kubeconfig(tmp_path / "second", {"token": "second"}, {})
    outside_a_pod.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    assert connection(kopf.OperatorSettings()) == Connection(
        "https://127.0.0.1:6443", token="first"
    )


def test_no_kubeconfig_and_not_in_a_pod_is_a_login_error(outside_a_pod, tmp_path):
    outside_a_pod.delenv("KUBECONFIG", raising=False)
    outside_a_pod.setenv("HOME", str(tmp_path))
    with pytest.raises(kopf.LoginError, match="not in a pod, and no kubeconfig"):
        connection(kopf.OperatorSettings())


def test_kopf_logs_in_with_the_same_connection(outside_a_pod, tmp_path):
    config = kubeconfig(tmp_path / "config", {"token": "t0k3n"}, {"certificate-authority": "/ca"})
    outside_a_pod.setenv("KUBECONFIG", str(config))
    assert login(settings=kopf.OperatorSettings()) == kopf.ConnectionInfo(
        server="https://127.0.0.1:6443", ca_path="/ca", insecure=False, token="t0k3n"
    )


def test_in_a_pod_the_service_account_and_its_rotated_token(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert in_cluster(tmp_path) is None, "no token mounted: not in a pod"
    (tmp_path / "token").write_text("first\n")
    found = in_cluster(tmp_path)
    assert found is not None
    assert (found.server, found.ca_file, found.current_token()) == (
        "https://[fd00::1]:443",
        str(tmp_path / "ca.crt"),
        "first",
    )
    (tmp_path / "token").write_text("rotated")
    assert found.current_token() == "rotated"
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT")
    assert in_cluster(tmp_path) is None


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate (PEM) and its key (PEM), by openssl."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=bulkhead-test", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (folder / "cert.pem").read_text(), (folder / "key.pem").read_text()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("encode", [b64, str], ids=["base64", "pem"])
def test_ssl_context_from_data(certificate, encode):
    cert, key = certificate
    context = Connection(
        "https://x", ca_data=encode(cert), cert_data=encode(cert), key_data=encode(key)
    ).ssl_context()
    subjects = [c["subject"] for c in context.get_ca_certs()]
    assert subjects == [((("commonName", "bulkhead-test"),),)]
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_an_insecure_ssl_context_verifies_nothing():
    context = Connection("https://x", insecure=True).ssl_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


def test_the_kubectl_plugin_keeps_the_official_loaders(tmp_path):
    config = kubernetes.client.Configuration()
    path = kubeconfig(tmp_path / "config", {"token": "t0k3n"}, {"insecure-skip-tls-verify": True})
    kubernetes.config.load_kube_config(config_file=str(path), client_configuration=config)
    found = connection_of(config)
    assert (found.server, found.insecure, found.current_token(), found.cert_file) == (
        "https://127.0.0.1:6443",
        True,
        "t0k3n",
        None,
    )


def test_the_plugin_and_the_operator_each_send_their_own_user_agent(tmp_path):
    """The API server's audit log tells a person's kubectl plugin from the operator, and one
    operator replica from another."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers["User-Agent"])
        return web.json_response({})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/api", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        path = kubeconfig(tmp_path / "config", {"token": "t0k3n"}, {})
        path.write_text(path.read_text().replace("https://127.0.0.1:6443", server))
        plugin = connect(str(path), None, None).kube
        replica = Kube(Connection(server), operator.user_agent("bulkhead-7c9f-x2k4q"))
        try:
            for kube in (plugin, replica):
                await kube.get("/api")
        finally:
            for kube in (plugin, replica):
                await kube.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen == [
        f"kubectl-bulkhead/{__version__}",
        f"bulkhead/{__version__} (bulkhead-7c9f-x2k4q)",
    ]


# The official client's modules imported so far (kopf's blocked attempt leaves a None entry).
IMPORTED = "sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes' and sys.modules[m])"


def imported_by(code: str) -> list[str]:
    """The kubernetes modules a fresh interpreter has imported after running `code`."""
    result = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint({IMPORTED})"],
        env={**os.environ, "PYTHONPATH": str(OPERATOR)},
        capture_output=True,
        text=True,
        check=True,
    )
    return yaml.safe_load(result.stdout)


def test_the_operator_process_never_imports_the_official_client():
    """`python -m bulkhead` blocks it before kopf is imported (10 MiB of RSS); kopf would
    import it on its own, which the second case shows."""
    entry = "from bulkhead.__main__ import without_official_client\nwithout_official_client()\n"
    assert imported_by(entry + "import bulkhead.operator") == []
    assert "kubernetes.client" in imported_by("import bulkhead.operator")


def test_a_started_operator_has_not_imported_the_official_client(tmp_path):
    """The real start path, `python -m bulkhead` with kopf logging in and the watches
    sending, against a server that is not there; it says what it imported as it exits."""
    config = kubeconfig(tmp_path / "config", {"token": "t0k3n"}, {})
    config.write_text(config.read_text().replace("https://127.0.0.1:6443", "http://127.0.0.1:9"))
    code = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: print('imported:', {IMPORTED}, flush=True))\n"
        "runpy.run_module('bulkhead', run_name='__main__', alter_sys=True)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(OPERATOR),
        "KUBECONFIG": str(config),
        "BULKHEAD_HEALTH_PORT": "0",
        "BULKHEAD_METRICS_PORT": "0",
        "BULKHEAD_LEADER_ELECTION": "false",
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    started = {"GET http://127.0.0.1:9/api": False, "watch of batchjobs failed": False}
    with subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            started.update({sign: True for sign in started if sign in line})
            if all(started.values()):
                process.send_signal(signal.SIGTERM)
                break
        rest, _ = process.communicate(timeout=60)
    assert started == {"GET http://127.0.0.1:9/api": True, "watch of batchjobs failed": True}
    assert rest.splitlines()[-1] == "imported: []"


@pytest.mark.parametrize("installed", [True, False])
def test_the_operator_runs_on_uvloop_where_it_is_installed(monkeypatch, installed):
    """kopf is handed uvloop's loop (its C sockets and TLS: a quarter of the operator's CPU per
    BatchJob); without uvloop (Windows has no build) asyncio's own, and either is closed
    when kopf returns."""
    if not installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)
    ran: list[asyncio.AbstractEventLoop] = []
    monkeypatch.setattr(operator, "freeze_startup_objects", lambda: None)
    monkeypatch.setattr(operator.kopf, "run", lambda loop, **_: ran.append(loop))
    operator.run()
    [loop] = ran
    assert isinstance(loop, uvloop.Loop) is installed
    assert loop.is_closed()
