"""`kubectl bulkhead`: the questions admins ask of BatchJobs and Dependencies.

Reads what the operator writes (the status contract in DESIGN.md) through kube.Kube, the one
API client of the package; what to show is decided in render.py. Exit codes (EXIT_CODES) are
part of the interface: scripts branch on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import click
import kubernetes
import yaml
from click.shell_completion import get_completion_class

from bulkhead import __version__
from bulkhead.api.constants import ANNOTATION_RUN_NOW, GROUP, VERSION
from bulkhead.api.times import format_time
from bulkhead.cli import render
from bulkhead.kube.client import JOB_NAME_LABEL, Kube
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
    """The official client's configuration as kube.Kube's connection. Its loaders are kept
    here (the operator does without them): users' kubeconfigs run exec plugins and auth
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


def formatted(output: str | None, report: Any, text: str) -> str:
    """The report as -o json or yaml asks, else the text for a person."""
    if output == "json":
        return json.dumps(report, indent=2)
    if output == "yaml":
        return yaml.safe_dump(report, sort_keys=False).rstrip("\n")
    return text


def emit(output: str | None, report: Any, text: str) -> None:
    click.echo(formatted(output, report, text))


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


def complete_batchjobs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """BatchJob names of the namespace the command line names so far, for shell completion."""
    params = ctx.params
    try:
        target = connect(params.get("kubeconfig"), params.get("context"), params.get("namespace"))

        async def names() -> list[dict[str, Any]]:
            try:
                return await target.kube.list_items(batchjobs_path(target.namespace))
            finally:
                await target.kube.close()

        items = asyncio.run(names())
    except Exception:  # no cluster, no suggestions: completion must never print an error
        return []
    return [i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith(incomplete)]


# --- options -------------------------------------------------------------------------------


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """kubectl's flags for where to look: -n/--namespace, --context, --kubeconfig."""
    for option in (
        click.option("-n", "--namespace", help="The namespace (default: the context's)."),
        click.option("--context", help="The kubeconfig context to use."),
        click.option(
            "--kubeconfig",
            type=click.Path(dir_okay=False),
            help="Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
        ),
    ):
        func = option(func)
    return func


def output_option(*choices: str) -> Callable[..., Any]:
    return click.option("-o", "--output", type=click.Choice(choices), help="Output format.")


timeout_option = click.option(
    "--timeout",
    default="5m",
    show_default=True,
    help="How long to wait, e.g. 30s, 5m, 1h.",
)


def timeout_seconds(text: str) -> float:
    try:
        return render.parse_duration(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--timeout") from error


# --- commands ------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name=PROG)
def cli() -> None:
    """kubectl bulkhead: why a BatchJob waits, who holds a Dependency, run now, wait."""


@cli.command()
@click.argument("name", required=False, shell_complete=complete_batchjobs)
@click.option("-A", "--all-namespaces", is_flag=True, help="Without NAME: every namespace.")
@output_option("json", "yaml")
@cluster_options
def why(name: str | None, all_namespaces: bool, output: str | None, **options: Any) -> None:
    """Why BatchJob NAME is where it is: phase, reason, queue position, who holds the units
    it waits for, when a window opens. Without NAME: every BatchJob that waits, failed or is
    stalled."""

    async def body(target: Target) -> int:
        dependencies = {
            d["metadata"]["name"]: d for d in await target.kube.list_items(dependency_path())
        }
        now = datetime.now(UTC)
        if name is None:
            scope = None if all_namespaces else target.namespace
            listed = await target.kube.list_items(batchjobs_path(scope))
            text = render.not_ok_text(listed, all_namespaces)
            reports = [
                render.why_report(bj, dependencies, now)
                for bj in filter(render.needs_attention, listed)
            ]
            emit(output, reports, text)
            return OK
        batchjob = await get_batchjob(target, name)
        # its place in line: the line is every namespace's waiters (a Dependency is shared)
        everyone = (
            await target.kube.list_items(batchjobs_path(None))
            if (batchjob.get("status") or {}).get("queue")
            else None
        )
        report = render.why_report(batchjob, dependencies, now, everyone)
        emit(output, report, render.why_text(report))
        return OK

    execute(options, body)


@cli.command()
@click.argument("dependency")
@click.option("-w", "--watch", is_flag=True, help="Redraw whenever it changes, until Ctrl-C.")
@output_option("json", "yaml", "wide")
@cluster_options
def queue(dependency: str, watch: bool, output: str | None, **options: Any) -> None:
    """Dependency DEPENDENCY: capacity in use as a bar, its holders, and the BatchJobs waiting
    for it in admission order (every namespace: a Dependency is cluster-scoped)."""

    async def draw(target: Target) -> str:
        found = await target.kube.get(dependency_path(dependency))
        if found is None:
            raise not_found(f"dependencies.{GROUP}", dependency)
        now = datetime.now(UTC)
        report = render.queue_report(found, await target.kube.list_items(batchjobs_path(None)), now)
        return formatted(output, report, render.queue_text(report, now, wide=output == "wide"))

    async def body(target: Target) -> int:
        shown = await draw(target)
        click.echo(shown)
        while watch:
            await asyncio.sleep(POLL_SECONDS)
            drawn = await draw(target)
            if drawn != shown:
                click.clear()
                click.echo(f"{format_time(datetime.now(UTC))}\n{drawn}")
                shown = drawn
        return OK

    execute(options, body)


@cli.command("run-now")
@click.argument("name", shell_complete=complete_batchjobs)
@click.option("--wait", "wait_", is_flag=True, help="Wait until the operator has handled it.")
@timeout_option
@output_option("json", "yaml")
@cluster_options
def run_now(name: str, wait_: bool, timeout: str, output: str | None, **options: Any) -> None:
    """Start one run of NAME now: sets the bulkhead.dev/run-now annotation to a fresh token,
    which the operator copies to status.runNow when it has started the run (Flux's
    reconcile.fluxcd.io/requestedAt pattern: `kubectl wait
    --for=jsonpath='{.status.runNow}'=TOKEN` works too)."""
    seconds = timeout_seconds(timeout)
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    async def body(target: Target) -> int:
        patch = {"metadata": {"annotations": {ANNOTATION_RUN_NOW: token}}}
        batchjob = await patch_batchjob(target, name, patch)
        if output is None:
            click.echo(f"batchjob.{GROUP}/{name} run-now requested: {token}")
        if wait_:
            deadline = time.monotonic() + seconds
            while (batchjob.get("status") or {}).get("runNow") != token:
                if time.monotonic() > deadline:
                    click.echo(f"error: timed out waiting for {name} to handle {token}", err=True)
                    return TIMED_OUT
                await asyncio.sleep(POLL_SECONDS)
                batchjob = await get_batchjob(target, name)
            if output is None:
                click.echo(f"batchjob.{GROUP}/{name} run-now handled: {token}")
        if output is not None:
            emit(output, {"name": name, "runNow": token, "handled": wait_}, "")
        return OK

    execute(options, body)


def _suspend(name: str, suspend: bool, options: dict[str, Any]) -> None:
    async def body(target: Target) -> int:
        await patch_batchjob(target, name, {"spec": {"suspend": suspend}})
        click.echo(f"batchjob.{GROUP}/{name} {'suspended' if suspend else 'resumed'}")
        return OK

    execute(options, body)


@cli.command()
@click.argument("name", shell_complete=complete_batchjobs)
@cluster_options
def suspend(name: str, **options: Any) -> None:
    """Suspend NAME (spec.suspend=true): no new runs start; running ones finish."""
    _suspend(name, True, options)


@cli.command()
@click.argument("name", shell_complete=complete_batchjobs)
@cluster_options
def resume(name: str, **options: Any) -> None:
    """Resume NAME (spec.suspend=false); spec.catchUp says which missed runs still start."""
    _suspend(name, False, options)


@cli.command()
@click.argument("name", shell_complete=complete_batchjobs)
@output_option("json", "yaml", "wide")
@cluster_options
def runs(name: str, output: str | None, **options: Any) -> None:
    """The history of scheduled BatchJob NAME (status.runs, oldest first)."""

    async def body(target: Target) -> int:
        batchjob = await get_batchjob(target, name)
        history = (batchjob.get("status") or {}).get("runs") or []
        emit(output, history, render.runs_text(batchjob, wide=output == "wide"))
        return OK

    execute(options, body)


@cli.command()
@click.argument("name", shell_complete=complete_batchjobs)
@click.option("-f", "--follow", is_flag=True, help="Stream the logs.")
@cluster_options
def logs(name: str, follow: bool, **options: Any) -> None:
    """The logs of the pods of NAME's latest run (status.jobName), through `kubectl logs`
    ($KUBECTL names another kubectl binary), every container, each line prefixed with its
    pod."""

    async def body(target: Target) -> int:
        batchjob = await get_batchjob(target, name)
        job = (batchjob.get("status") or {}).get("jobName")
        if not job:
            raise Missing(f"error: {name} has no run yet (status.jobName is empty)")
        selector = f"{JOB_NAME_LABEL}={job}"
        pods = await target.kube.list_pods(target.namespace, selector)
        if not pods:
            raise Missing(f"error: job {job} has no pods (any more)")
        names = sorted(p["metadata"]["name"] for p in pods)
        click.echo(f"job {job}: pods {', '.join(names)}", err=True)
        command = [os.environ.get("KUBECTL", "kubectl"), "logs", "-n", target.namespace]
        command += ["-l", selector, "--all-containers", "--prefix", "--tail=-1"]
        command += [f"--max-log-requests={max(5, len(pods))}"] + (["-f"] if follow else [])
        for flag in ("kubeconfig", "context"):
            command += [f"--{flag}={options[flag]}"] if options[flag] else []
        return subprocess.run(command, check=False).returncode

    execute(options, body)


@cli.command()
@click.argument("name", shell_complete=complete_batchjobs)
@timeout_option
@cluster_options
def wait(name: str, timeout: str, **options: Any) -> None:
    """Wait until NAME succeeds (exit 0), fails or is Stalled (exit 1), or --timeout passes
    (exit 4): unlike `kubectl wait`, a failure ends the wait at once."""
    seconds = timeout_seconds(timeout)

    async def body(target: Target) -> int:
        deadline = time.monotonic() + seconds
        while True:
            batchjob = await get_batchjob(target, name)
            code = render.verdict(batchjob)
            if code is not None:
                status = batchjob["status"]
                click.echo(
                    f"batchjob.{GROUP}/{name} {status.get('phase')}: {status.get('reason', '')}"
                    f" {status.get('message', '')}".rstrip()
                )
                return code
            if time.monotonic() > deadline:
                click.echo(f"error: timed out waiting for {name}", err=True)
                return TIMED_OUT
            await asyncio.sleep(POLL_SECONDS)

    execute(options, body)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `source <(kubectl-bulkhead completion bash)`."""
    completer = get_completion_class(shell)
    assert completer is not None  # the three choices are click's own
    complete_var = "_" + PROG.replace("-", "_").upper() + "_COMPLETE"
    click.echo(completer(cli, {}, PROG, complete_var).source())


def main() -> None:
    """The console script `kubectl-bulkhead`."""
    cli(prog_name=PROG)
