"""The commands that act on a BatchJob and wait for the outcome: run it now, suspend and
resume it, wait until it succeeds or fails."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import click

from bulkhead.api.constants import ANNOTATION_RUN_NOW, GROUP
from bulkhead.cli import render
from bulkhead.cli.options import (
    cluster_options,
    complete_batchjobs,
    emit,
    output_option,
    timeout_option,
    timeout_seconds,
)
from bulkhead.cli.target import (
    OK,
    POLL_SECONDS,
    TIMED_OUT,
    Target,
    execute,
    get_batchjob,
    patch_batchjob,
)


@click.command("run-now")
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


@click.command()
@click.argument("name", shell_complete=complete_batchjobs)
@cluster_options
def suspend(name: str, **options: Any) -> None:
    """Suspend NAME (spec.suspend=true): no new runs start; running ones finish."""
    _suspend(name, True, options)


@click.command()
@click.argument("name", shell_complete=complete_batchjobs)
@cluster_options
def resume(name: str, **options: Any) -> None:
    """Resume NAME (spec.suspend=false); spec.catchUp says which missed runs still start."""
    _suspend(name, False, options)


@click.command()
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
