"""The flags `kubectl bulkhead` commands share (where to look, -o, --timeout), shell
completion of BatchJob names, and the output -o selects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import click
import yaml

from bulkhead.cli import render
from bulkhead.cli.target import batchjobs_path, connect


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


def formatted(output: str | None, report: Any, text: str) -> str:
    """The report as -o json or yaml asks, else the text for a person."""
    if output == "json":
        return json.dumps(report, indent=2)
    if output == "yaml":
        return yaml.safe_dump(report, sort_keys=False).rstrip("\n")
    return text


def emit(output: str | None, report: Any, text: str) -> None:
    click.echo(formatted(output, report, text))
