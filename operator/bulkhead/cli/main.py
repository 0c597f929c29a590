"""`kubectl bulkhead`: the questions admins ask of BatchJobs and Dependencies.

Reads what the operator writes (the status contract in DESIGN.md) through kube.client.Kube,
the one API client of the package; what to show is decided in render.py. The commands live in
explain.py (they change nothing) and control.py (they act and wait); target.py runs them and
keeps the exit codes (EXIT_CODES), part of the interface: scripts branch on them.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from bulkhead import __version__
from bulkhead.cli import control, explain
from bulkhead.cli.target import EXIT_CODES, PROG


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name=PROG)
def cli() -> None:
    """kubectl bulkhead: why a BatchJob waits, who holds a Dependency, run now, wait."""


for command in (
    explain.why,
    explain.queue,
    control.run_now,
    control.suspend,
    control.resume,
    explain.runs,
    explain.logs,
    control.wait,
):
    cli.add_command(command)


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
