"""The commands that explain, and change nothing: why a BatchJob is where it is, who holds and
who waits for a Dependency, the runs of a scheduled BatchJob, the logs of its latest run."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime
from typing import Any

import click

from bulkhead.api.constants import GROUP
from bulkhead.api.times import format_time
from bulkhead.cli import render
from bulkhead.cli.options import (
    cluster_options,
    complete_batchjobs,
    emit,
    formatted,
    output_option,
)
from bulkhead.cli.target import (
    OK,
    POLL_SECONDS,
    Missing,
    Target,
    batchjobs_path,
    dependency_path,
    execute,
    get_batchjob,
    not_found,
)
from bulkhead.kube.client import JOB_NAME_LABEL


@click.command()
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


@click.command()
@click.argument("dependency")
@click.option("-w", "--watch", is_flag=True, help="Redraw whenever it changes, until Ctrl-C.")
@output_option("json", "yaml", "wide")
@cluster_options
def queue(dependency: str, watch: bool, output: str | None, **options: Any) -> None:
    """Dependency DEPENDENCY: capacity in use as a bar, its shares (with fairSharing: each one's
    fair part and the share served next), its holders, and the BatchJobs waiting for it in
    admission order (every namespace: a Dependency is cluster-scoped)."""

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


@click.command()
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


@click.command()
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
