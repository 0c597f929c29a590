"""Pure: what `kubectl bulkhead` shows, given the objects read from the API server.

Each command first builds a report (a plain dict, what `-o json|yaml` prints) and then renders
it as text, so the text and the machine-readable output never disagree. No I/O here, the clock
is passed in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bulkhead.api.dependency import DependencySpec
from bulkhead.api.times import format_time, parse_time
from bulkhead.cli.shares import share_line, shares_report, shares_text
from bulkhead.cli.table import table
from bulkhead.policy.line import Candidate, order
from bulkhead.policy.windows import next_opening

BAR_WIDTH = 20


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _uses(batchjob: dict[str, Any]) -> dict[str, int]:
    return {u["dependency"]: u.get("units", 1) for u in batchjob["spec"].get("uses") or []}


def _window(dependency: dict[str, Any], now: datetime) -> str | None:
    """When the dependency's windows next open: None if it has none or one is open now."""
    spec = DependencySpec.model_validate(dependency["spec"])
    if not spec.windows:
        return None
    opens = next_opening(spec, now)
    if opens == now:
        return None
    return format_time(opens) if opens else "not within a week"


def _holders(dependency: dict[str, Any]) -> list[dict[str, Any]]:
    return list((dependency.get("status") or {}).get("holders") or [])


def duration(seconds: float) -> str:
    """A short human duration, kubectl's style: 45s, 12m, 3h20m, 2d4h."""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def bar(used: int, capacity: int, width: int = BAR_WIDTH) -> str:
    """`used` of `capacity` as a bar of `width` cells; more than the capacity fills it."""
    filled = width if capacity <= 0 else min(width, round(width * used / capacity))
    return "[" + "█" * filled + "░" * (width - filled) + "]"


# --- why -----------------------------------------------------------------------------------


def why_report(
    batchjob: dict[str, Any],
    dependencies: dict[str, dict[str, Any]],
    now: datetime,
    batchjobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Why the BatchJob is where it is: its phase, reason and message, the line it waits in
    (given every BatchJob, `batchjobs`, also its place in it, as `queue_report` orders the
    line; none in a fair-shared line), and per dependency it uses the units it needs, who
    holds that dependency (from the Dependency status), when its windows next open (absent
    while open) and, fair-shared, its shares (`shares_report`). `dependencies` holds those
    that exist, by name; a missing one is reported as missing."""
    status = batchjob.get("status") or {}
    uses = []
    for name, units in _uses(batchjob).items():
        dependency = dependencies.get(name)
        if dependency is None:
            uses.append({"dependency": name, "units": units, "missing": True})
            continue
        dep_status = dependency.get("status") or {}
        entry: dict[str, Any] = {
            "dependency": name,
            "units": units,
            "capacity": dependency["spec"]["capacity"],
            "inUse": dep_status.get("inUse", 0),
            "holders": _holders(dependency),
        }
        opens = _window(dependency, now)
        if opens:
            entry["windowOpens"] = opens
        shares = shares_report(dependency)
        if shares:
            entry["shares"] = shares
        uses.append(entry)
    report: dict[str, Any] = {
        "batchJob": _name(batchjob),
        "phase": status.get("phase", "Pending"),
        "reason": status.get("reason", ""),
        "message": status.get("message", ""),
        "uses": uses,
    }
    for key in ("queue", "jobName", "nextScheduleTime", "lastRunResult"):
        if status.get(key):
            report[key] = status[key]
    line_of = dependencies.get((status.get("queue") or {}).get("dependency", ""))
    # A fair-shared line has no one order to show a place in: shares take turns, and which
    # share a namespace is in takes its labels. The Share line says who is served next.
    fair = line_of is not None and (line_of.get("status") or {}).get("shares")
    if line_of is not None and batchjobs is not None and not fair:
        line = [
            (w["namespace"], w["name"]) for w in queue_report(line_of, batchjobs, now)["waiting"]
        ]
        me = (batchjob["metadata"]["namespace"], batchjob["metadata"]["name"])
        if me in line:
            report["queue"] = {**report["queue"], "position": line.index(me) + 1, "of": len(line)}
    if batchjob["spec"].get("suspend"):
        report["suspended"] = True
    return report


def _holders_text(holders: list[dict[str, Any]]) -> str:
    if not holders:
        return "nobody"
    return ", ".join(f"{h['namespace']}/{h['name']} ({h['units']})" for h in holders)


def why_text(report: dict[str, Any]) -> str:
    """The why report for a person: one fact per line, the blocking dependency first."""
    lines = [
        f"BatchJob:  {report['batchJob']}",
        f"Phase:     {report['phase']}" + (" (suspended)" if report.get("suspended") else ""),
    ]
    if report["reason"]:
        lines.append(f"Reason:    {report['reason']}")
    if report["message"]:
        lines.append(f"Message:   {report['message']}")
    queue = report.get("queue")
    if queue and "position" in queue:
        where = f"position {queue['position']} of {queue['of']}"
        lines.append(f"Queue:     {where} waiting for {queue['dependency']}")
    elif queue:
        lines.append(f"Queue:     waiting for {queue['dependency']}")
    blocking = queue["dependency"] if queue else None
    for use in sorted(report["uses"], key=lambda u: u["dependency"] != blocking):
        name = use["dependency"]
        if use.get("missing"):
            lines.append(f"Uses:      {name}: needs {use['units']}, no such Dependency")
            continue
        lines.append(
            f"Uses:      {name}: needs {use['units']}, {use['inUse']}/{use['capacity']} in use, "
            f"held by {_holders_text(use['holders'])}"
        )
        said = share_line(use["shares"]) if name == blocking and use.get("shares") else None
        if said:
            lines.append(f"Share:     {said}")
        if use.get("windowOpens"):
            lines.append(f"Window:    {name} opens at {use['windowOpens']}")
    if report.get("jobName"):
        lines.append(f"Job:       {report['jobName']}")
    if report.get("nextScheduleTime"):
        lines.append(f"Next run:  {report['nextScheduleTime']}")
    return "\n".join(lines)


def needs_attention(batchjob: dict[str, Any]) -> bool:
    """Whether `why` without a name lists it: it waits, failed, is suspended or Stalled."""
    phase = (batchjob.get("status") or {}).get("phase", "Pending")
    stalled = _condition(batchjob, "Stalled").get("status") == "True"
    return stalled or phase not in ("Running", "Succeeded", "Scheduled")


def not_ok_text(batchjobs: list[dict[str, Any]], all_namespaces: bool) -> str:
    """`why` without a name: one line for each BatchJob that waits, failed or is stalled."""
    rows = []
    for bj in filter(needs_attention, batchjobs):
        status = bj.get("status") or {}
        phase = status.get("phase", "Pending")
        meta = bj["metadata"]
        row = [meta["name"], phase, status.get("reason", ""), status.get("message", "")]
        rows.append([meta["namespace"], *row] if all_namespaces else row)
    if not rows:
        return "every BatchJob is running, scheduled or succeeded"
    header = ["NAME", "PHASE", "REASON", "MESSAGE"]
    return table(["NAMESPACE", *header] if all_namespaces else header, rows)


# --- queue ---------------------------------------------------------------------------------


def _in_line_since(batchjob: dict[str, Any]) -> str:
    """What admission orders a waiter by after priority: a scheduled run's instant (the first
    Deferred entry of status.runs), else the BatchJob's creation time."""
    runs = (batchjob.get("status") or {}).get("runs") or []
    deferred = [r["scheduledTime"] for r in runs if r["result"] == "Deferred"]
    return deferred[0] if deferred else str(batchjob["metadata"]["creationTimestamp"])


def queue_report(
    dependency: dict[str, Any], batchjobs: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """A Dependency's capacity, units in use, holders, fair-shared its shares (`shares_report`),
    and the BatchJobs that use it and wait (status.queue set), in admission order: priority,
    then creation time (a scheduled run's: its instant), then namespace/name (fair-shared, the
    order within each share)."""
    name = dependency["metadata"]["name"]
    status = dependency.get("status") or {}
    waiting = {}
    for bj in batchjobs:
        units = _uses(bj).get(name)
        queue = (bj.get("status") or {}).get("queue")
        if units is None or not queue:
            continue
        meta = bj["metadata"]
        key = (meta["namespace"], meta["name"])
        candidate = Candidate(
            key=key,
            priority=bj["spec"].get("priority", 0),
            created=_in_line_since(bj),
            uses=tuple(_uses(bj).items()),
        )
        waiting[key] = (candidate, bj, units, queue)
    ordered = order([c for c, *_ in waiting.values()])
    report: dict[str, Any] = {
        "dependency": name,
        "capacity": dependency["spec"]["capacity"],
        "inUse": status.get("inUse", 0),
        "holders": _holders(dependency),
        "waiting": [
            {
                "namespace": c.key[0],
                "name": c.key[1],
                "units": waiting[c.key][2],
                "priority": c.priority,
                "waitingFor": waiting[c.key][3]["dependency"],
                "reason": (waiting[c.key][1].get("status") or {}).get("reason", ""),
                "inLineSince": c.created,
            }
            for c in ordered
        ],
    }
    opens = _window(dependency, now)
    if opens:
        report["windowOpens"] = opens
    shares = shares_report(dependency)
    if shares:
        report["shares"] = shares
    if "effectiveCapacity" in status:
        breaker = status.get("breaker") or {}
        report["health"] = {
            "health": status.get("health", "Unknown"),
            "effectiveCapacity": status["effectiveCapacity"],
            "breaker": breaker.get("state", "Closed"),
            "openUntil": breaker.get("openUntil"),
            "probe": breaker.get("probe"),
            "signals": status.get("signals") or [],
        }
    return report


def _health_text(health: dict[str, Any], capacity: int) -> list[str]:
    """The health lines of the queue report: state and effective capacity, the breaker, and
    each signal's last value (or its error)."""
    breaker = health["breaker"]
    if breaker == "Open" and health["openUntil"]:
        breaker += f" until {health['openUntil']}"
    if breaker == "HalfOpen" and health["probe"]:
        breaker += f", probe {health['probe']['namespace']}/{health['probe']['name']}"
    signals = ", ".join(
        f"{s['name']} {s['value']:g}" if s.get("value") is not None else f"{s['name']} unread"
        for s in health["signals"]
    )
    return [
        f"Health:     {health['health']}, effective capacity {health['effectiveCapacity']} of "
        f"{capacity}, breaker {breaker}",
        f"Signals:    {signals or 'none read yet'}",
    ]


def queue_text(report: dict[str, Any], now: datetime, wide: bool = False) -> str:
    """The queue report for a person: the bar, then the shares, holders, then waiters in
    admission order (with `wide`, also priority, what each waits for and how long)."""
    used, capacity = report["inUse"], report["capacity"]
    lines = [
        f"Dependency: {report['dependency']}",
        f"Capacity:   {bar(used, capacity)} {used}/{capacity} units in use",
    ]
    if report.get("windowOpens"):
        lines.append(f"Window:     closed, opens at {report['windowOpens']}")
    if report.get("health"):
        lines += _health_text(report["health"], capacity)
    lines.append("")
    if report.get("shares"):
        lines += [*shares_text(report["shares"]), ""]
    if report["holders"]:
        rows = [[h["namespace"], h["name"], str(h["units"])] for h in report["holders"]]
        lines += ["Holders:", table(["NAMESPACE", "NAME", "UNITS"], rows)]
    else:
        lines.append("Holders: none")
    lines.append("")
    if not report["waiting"]:
        lines.append("Waiting: none")
        return "\n".join(lines)
    header = ["#", "NAMESPACE", "NAME", "UNITS", "REASON"]
    if wide:
        header += ["PRIORITY", "WAITING-FOR", "IN-LINE"]
    rows = []
    for position, w in enumerate(report["waiting"], start=1):
        row = [str(position), w["namespace"], w["name"], str(w["units"]), w["reason"]]
        if wide:
            age = duration((now - parse_time(w["inLineSince"])).total_seconds())
            row += [str(w["priority"]), w["waitingFor"], age]
        rows.append(row)
    order = "priority, then age, within each share" if report.get("shares") else "admission order"
    lines += [f"Waiting ({order}):", table(header, rows)]
    return "\n".join(lines)


# --- runs ----------------------------------------------------------------------------------


def runs_text(batchjob: dict[str, Any], wide: bool = False) -> str:
    """A scheduled or triggered BatchJob's history (status.runs, oldest first) as a table; a
    triggered one's shows the trigger of each run; `wide` adds the message, the run-now token
    and (triggered) what named the run and the events coalesced into it. A one-shot BatchJob or
    one with no runs yet says so."""
    spec = batchjob["spec"]
    triggered = bool(spec.get("triggers"))
    if not spec.get("schedule") and not triggered:
        return f"{_name(batchjob)} has no schedule nor triggers: it runs once (see `why`)"
    runs = (batchjob.get("status") or {}).get("runs") or []
    if not runs:
        return f"{_name(batchjob)} has no runs yet"
    header = ["RECORDED", "TRIGGER"] if triggered else ["SCHEDULED"]
    header += ["RESULT", "JOB", "STARTED", "FINISHED", "REASON"]
    if wide:
        header += (
            ["RUN-NOW", "KEY", "COALESCED", "MESSAGE"] if triggered else ["RUN-NOW", "MESSAGE"]
        )
    rows = []
    for run in runs:
        row = [run["scheduledTime"]]
        if triggered:
            row.append(run.get("trigger") or ("run-now" if run.get("runNow") else ""))
        row += [
            run["result"],
            run.get("jobName", ""),
            run.get("startTime", ""),
            run.get("completionTime", ""),
            run.get("reason", ""),
        ]
        if wide:
            row.append(run.get("runNow", ""))
            if triggered:
                row += [run.get("key", ""), str(run.get("coalesced") or "")]
            row.append(run.get("message", ""))
        rows.append(row)
    return table(header, rows)


# --- wait ----------------------------------------------------------------------------------

SUCCEEDED, FAILED = 0, 1


def verdict(batchjob: dict[str, Any]) -> int | None:
    """The exit code `wait` ends with, or None to keep waiting: SUCCEEDED once a one-shot
    BatchJob succeeded, FAILED once it failed or is Stalled (only a person can fix it; for a
    scheduled BatchJob, its last run failed). Read only from a status that has observed the
    current generation, so an edit made just before is not judged by the old status."""
    status = batchjob.get("status") or {}
    if status.get("observedGeneration") != batchjob["metadata"].get("generation"):
        return None
    if status.get("phase") == "Failed" or _condition(batchjob, "Stalled").get("status") == "True":
        return FAILED
    if status.get("phase") == "Succeeded":
        return SUCCEEDED
    return None


def parse_duration(text: str) -> float:
    """Seconds in a kubectl-style duration: "90", "90s", "5m", "1h", "1h30m"."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)
