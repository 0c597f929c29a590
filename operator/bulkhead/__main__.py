"""`python -m bulkhead`: run the operator against the current KUBECONFIG (or in-cluster).

Settings come from the environment only (settings.SETTINGS); `--help` lists them.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import version

from bulkhead import __version__
from bulkhead.settings import SETTINGS


def version_line() -> str:
    """The one line `--version` prints: bulkhead's version, kopf's and Python's."""
    return f"bulkhead {__version__} (kopf {version('kopf')}, Python {platform.python_version()})"


def settings_help() -> str:
    """Every setting as `--help` prints it: the variable, its default and what it sets."""
    width = max(len(s.env) for s in SETTINGS)
    lines = ["settings (environment variables, default in brackets):"]
    lines += [f"  {s.env:<{width}}  [{s.default}] {s.help}" for s in SETTINGS]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The command line: only --help and --version; everything else is a setting."""
    result = argparse.ArgumentParser(
        prog="python -m bulkhead",
        description="Run the bulkhead operator against the current KUBECONFIG, or in-cluster.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--version", action="version", version=version_line())
    return result


def without_official_client() -> None:
    """Makes `import kubernetes` fail in this process, as if it were not installed. kopf
    imports it (kopf/_cogs/helpers/thirdparty.py, and its registry's check for a client to log
    in with) whenever it is installed, and it is: the kubectl plugin, the tests and the bench
    use it. Nothing in the operator does (10 MiB of peak RSS saved;
    docs/design-decisions.md). Call before kopf is imported."""
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    """Parses the command line (exits for --help, --version or a wrong argument), then runs."""
    parser().parse_args(argv)
    without_official_client()
    # Imported here: --help and --version need no kopf and no cluster.
    from bulkhead.operator import run

    run()


if __name__ == "__main__":
    main(sys.argv[1:])
