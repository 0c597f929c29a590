"""How the cluster tells what it did and what went wrong: lines on stderr, and ClusterError."""

from __future__ import annotations

import sys


class ClusterError(RuntimeError):
    """A cluster, or one of its components, cannot do what was asked (the CLI prints it)."""


def log(msg: str) -> None:
    """Prints msg on stderr as the cluster's: stdout carries only what `up` exports."""
    print(f"cluster: {msg}", file=sys.stderr, flush=True)
