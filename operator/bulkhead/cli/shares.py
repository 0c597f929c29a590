"""Pure: what `kubectl bulkhead` shows of a fair-shared Dependency, given it as read from the
API: each share of status.shares with its fair part of the effective capacity, and which
waiting share is served next, ranked by the operator's own rule (policy/fair_share.rank_of).

The operator's wait message names no numbers on purpose: one that moved with every start would
cost a status write per waiter per start. The plugin computes them when a person asks.
"""

from __future__ import annotations

from typing import Any

from bulkhead.api.fair_sharing import FairSharing
from bulkhead.cli.table import table
from bulkhead.policy.fair_share import Standing, rank_of


def effective_capacity(dependency: dict[str, Any]) -> int:
    """Returns the units admission fills, given a Dependency as read from the API: its health's
    effective capacity while health is enforced (not under dryRun), else its capacity."""
    spec, status = dependency["spec"], dependency.get("status") or {}
    dry_run = (spec.get("health") or {}).get("dryRun", False)
    if "effectiveCapacity" in status and not dry_run:
        return min(int(status["effectiveCapacity"]), int(spec["capacity"]))
    return int(spec["capacity"])


def _limits(fair: FairSharing, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Each shown share's most units (its guarantee as shown plus its borrowingLimit), by name;
    None: no limit. A namespace of its own takes the defaultShare's limit."""
    configured = {s.name: s.borrowing_limit for s in fair.shares or []}
    default = fair.default_share.borrowing_limit if fair.default_share else None
    limits: dict[str, int | None] = {}
    for row in rows:
        borrowing = default if row.get("namespace") else configured.get(row["name"])
        limits[row["name"]] = None if borrowing is None else row["guaranteed"] + borrowing
    return limits


def served_next(dependency: dict[str, Any]) -> dict[str, Any] | None:
    """Returns the status.shares row of the share the next free units go to, given the
    Dependency: of the shares that wait and are below their limit (guaranteed +
    borrowingLimit), the one below its guarantee first, then the lowest (inUse + usage) /
    weight; a tie goes to the first listed (admission breaks it by the heads' priority and age,
    which the status does not show). None when no share can be served."""
    rows = list((dependency.get("status") or {}).get("shares") or [])
    fair = FairSharing.model_validate(dependency["spec"].get("fairSharing") or {})
    limits = _limits(fair, rows)
    ranked = [
        (rank_of([_standing(row)]), at, row)
        for at, row in enumerate(rows)
        if row["waiting"] and (limits[row["name"]] is None or row["inUse"] < limits[row["name"]])
    ]
    return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None


def _standing(row: dict[str, Any]) -> Standing:
    return Standing(
        weight=row["weight"],
        guaranteed=row["guaranteed"],
        kept=0,
        limit=None,
        held=row["inUse"],
        usage=row["usage"],
        waiting=row["waiting"],
    )


def shares_report(dependency: dict[str, Any]) -> dict[str, Any] | None:
    """Returns the shares of a Dependency as its status shows them, each with `fair`: its part
    of the effective capacity among the shares that hold or wait (effective * weight / the sum
    of their weights, 1 decimal; None for a share that does neither), and `next`: the name of
    the share served next (`served_next`; None when none). None without status.shares."""
    rows = list((dependency.get("status") or {}).get("shares") or [])
    if not rows:
        return None
    effective = effective_capacity(dependency)
    weights = sum(r["weight"] for r in rows if r["inUse"] or r["waiting"])
    shares = [
        {
            **row,
            "fair": round(effective * row["weight"] / weights, 1)
            if row["inUse"] or row["waiting"]
            else None,
        }
        for row in rows
    ]
    after = served_next(dependency)
    return {"effectiveCapacity": effective, "shares": shares, "next": after and after["name"]}


def _why_next(row: dict[str, Any]) -> str:
    standing = _standing(row)
    if standing.below_guarantee:
        return f"below its guarantee of {row['guaranteed']}"
    return f"lowest (in use + usage) / weight: {standing.share:.2f}"


def shares_text(report: dict[str, Any]) -> list[str]:
    """The shares part of the queue report for a person: a table, a line per share, then who
    is served next and why."""
    rows = [
        [
            row["name"] + (" (namespace)" if row.get("namespace") else ""),
            str(row["weight"]),
            str(row["guaranteed"]),
            str(row["inUse"]),
            str(row["borrowed"]),
            str(row["waiting"]),
            f"{row['usage']:.2f}",
            "-" if row["fair"] is None else f"{row['fair']:.1f}",
        ]
        for row in report["shares"]
    ]
    header = ["SHARE", "WEIGHT", "GUARANTEED", "IN-USE", "BORROWED", "WAITING", "USAGE", "FAIR"]
    by_name = {row["name"]: row for row in report["shares"]}
    waits = any(row["waiting"] for row in report["shares"])
    if report["next"] is not None:
        after = f"{report['next']}, {_why_next(by_name[report['next']])}"
    else:
        after = "none, every waiting share is at its limit" if waits else "none waits"
    return [
        f"Shares (fair parts of {report['effectiveCapacity']} units):",
        table(header, rows),
        f"Next share: {after}",
    ]


def share_line(report: dict[str, Any]) -> str | None:
    """The line `why` adds for a waiter of a fair-shared Dependency, given its shares report:
    the holding share furthest above its fair part, with what it borrowed, and the share served
    next; None when no share holds and none is next."""
    holding = [row for row in report["shares"] if row["inUse"] and row["fair"] is not None]
    parts = []
    if holding:
        most = max(holding, key=lambda row: row["inUse"] - row["fair"])
        held = f"{most['name']} holds {most['inUse']} of its fair {most['fair']:.1f}"
        parts.append(held + (f" (+{most['borrowed']} borrowed)" if most["borrowed"] else ""))
    if report["next"] is not None:
        parts.append(f"{report['next']} is next")
    return "; ".join(parts) or None
