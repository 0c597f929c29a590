"""The command line: `python3 hack/cluster up|down|status|restart|compact` (see the package's
docstring; `python3 -m cluster ...` from hack/ is the same)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

if not __package__:
    # `python3 hack/cluster` runs this file with hack/cluster/ first on sys.path: hack/ in its
    # place makes the folder the package `cluster`, whose modules import each other as such.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import cluster
from cluster import COMPONENTS, Cluster, ClusterError
from cluster.errors import log


def main(argv: list[str] | None = None) -> int:
    """Runs one command on one cluster; returns the exit code (1 on a ClusterError or a
    failed build, told on stderr)."""
    ap = argparse.ArgumentParser(
        prog="hack/cluster", description=(cluster.__doc__ or "").split("\n\n")[0]
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("up", "down", "status", "restart", "compact"):
        p = sub.add_parser(cmd)
        p.add_argument(
            "--name",
            default="default",
            help="cluster name, or a state directory path (default: default)",
        )
        if cmd == "up":
            p.add_argument("--timeout", type=float, default=180)
        if cmd == "down":
            p.add_argument("--purge", action="store_true", help="also delete the state directory")
        if cmd == "restart":
            p.add_argument("component", choices=COMPONENTS)
            p.add_argument("--down-for", type=float, default=0, help="seconds kept stopped")
            p.add_argument("--term", action="store_true", help="SIGTERM instead of SIGKILL")
    a = ap.parse_args(argv)
    c = Cluster(a.name)
    try:
        if a.cmd == "up":
            c.up(timeout=a.timeout)
            print(c.exports())
        elif a.cmd == "down":
            c.down(purge=a.purge)
            log(f"cluster {c.name!r} stopped" + (" and its state deleted" if a.purge else ""))
        elif a.cmd == "restart":
            sig = signal.SIGTERM if a.term else signal.SIGKILL
            c.restart(a.component, down_for=a.down_for, sig=sig)
        elif a.cmd == "compact":
            log(f"etcd compacted to revision {c.compact()}")
        else:
            print(c.status())
    except (ClusterError, subprocess.CalledProcessError) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
