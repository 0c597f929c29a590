"""Where a `kubectl bulkhead` command points and how it runs there: the client and namespace
the kubeconfig names (`Target`), the paths and reads every command shares, and `execute`,
which turns what went wrong into the exit codes scripts branch on (EXIT_CODES)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import click
import kubernetes

from bulkhead import __version__
from bulkhead.api.constants import GROUP, VERSION
from bulkhead.kube.client import Kube
from bulkhead.kube.connection import Connection
from bulkhead.kube.errors import ApiError

PROG = "kubectl-bulkhead"
# The plugin's own name in the API server's audit log: a person's requests, not the operator's.
USER_AGENT = f"{PROG}/{__version__}"
OK, FAILED, USAGE, NOT_FOUND, TIMED_OUT, API_ERROR = 0, 1, 2, 3, 4, 5
EXIT_CODES = f"""\b
Exit codes:
  {OK}  done; `wait`: the BatchJob succeeded
  {FAILED}  `wait`: the BatchJob failed or is Stalled (only a person can fix it)
  {USAGE}  bad flags or arguments, or no usable kubeconfig
  {NOT_FOUND}  the BatchJob, Dependency or pods named do not exist
  {TIMED_OUT}  --timeout passed first (`wait`, `run-now --wait`)
  {API_ERROR}  the API server refused the request or could not be reached"""
# How often wait, run-now --wait and queue --watch read the object again.
POLL_SECONDS = 1.0


class Missing(Exception):
    """What was asked for does not exist (exit NOT_FOUND); the message says what."""


def not_found(resource: str, name: str) -> Missing:
    """kubectl's message for an object the API server does not have."""
    return Missing(f'Error from server (NotFound): {resource} "{name}" not found')


@dataclass(frozen=True)
class Target:
    """Where a command points: the client and the namespace (from -n or the context)."""

    kube: Kube
    namespace: str


def batchjobs_path(namespace: str | None, name: str = "") -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{GROUP}/{VERSION}{scope}/batchjobs" + (f"/{name}" if name else "")


def dependency_path(name: str = "") -> str:
    return f"/apis/{GROUP}/{VERSION}/dependencies" + (f"/{name}" if name else "")


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Target:
    """A client for the kubeconfig (default: $KUBECONFIG or ~/.kube/config) and context
    (default: its current one); the namespace is -n, else the context's, else "default"."""
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=kubeconfig, context=context, client_configuration=config
    )
    if namespace is None:
        contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = next((c for c in contexts if c["name"] == context), active)
        namespace = chosen["context"].get("namespace") or "default"
    return Target(Kube(connection_of(config), USER_AGENT), namespace)


def connection_of(config: kubernetes.client.Configuration) -> Connection:
    """The official client's configuration as kube.client.Kube's connection. Its loaders are
    kept here (the operator does without them): users' kubeconfigs run exec plugins and auth
    providers, whose token the configuration refreshes when it expires."""

    def token() -> str | None:
        auth: Any = config.auth_settings().get("BearerToken") or {}
        value = str(auth.get("value") or "")
        return value.removeprefix("Bearer ") or None

    return Connection(
        server=config.host,
        ca_file=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        token_source=token,
        cert_file=config.cert_file,
        key_file=config.key_file,
    )


def execute(options: dict[str, Any], body: Callable[[Target], Coroutine[Any, Any, int]]) -> None:
    """Runs `body` against the cluster the options name and exits with its code, or with the
    exit code of what went wrong (a message on stderr)."""
    try:
        target = connect(options["kubeconfig"], options["context"], options["namespace"])
    except (kubernetes.config.ConfigException, OSError) as error:
        click.echo(f"error: no usable kubeconfig: {error}", err=True)
        sys.exit(USAGE)

    async def run() -> int:
        try:
            return await body(target)
        finally:
            await target.kube.close()

    try:
        code = asyncio.run(run())
    except Missing as error:
        click.echo(str(error), err=True)
        code = NOT_FOUND
    except ApiError as error:
        click.echo(f"Error from server: {error}", err=True)
        code = API_ERROR
    except (aiohttp.ClientError, TimeoutError) as error:
        click.echo(f"error: cannot reach the API server: {error}", err=True)
        code = API_ERROR
    except KeyboardInterrupt:
        code = OK
    sys.exit(code)


async def get_batchjob(target: Target, name: str) -> dict[str, Any]:
    batchjob = await target.kube.get(batchjobs_path(target.namespace, name))
    if batchjob is None:
        raise not_found(f"batchjobs.{GROUP}", name)
    return batchjob


async def patch_batchjob(target: Target, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    patched = await target.kube.merge_patch(batchjobs_path(target.namespace, name), patch)
    if patched is None:
        raise not_found(f"batchjobs.{GROUP}", name)
    return patched
