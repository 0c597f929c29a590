"""Pure: what admission knows of a Dependency -> its status (inUse, holders, waiting, the head
of its line, the Ready and WindowClosed conditions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bulkhead.api.constants import INVALID_SPEC, Key
from bulkhead.api.models import DependencyStatus
from bulkhead.api.times import format_time
from bulkhead.api.views import DependencyView
from bulkhead.policy.admission import DependencyState, windows_open
from bulkhead.policy.conditions import condition, parse

MAX_HOLDERS_SHOWN = 1000


def dependency_status(
    dep: DependencyView,
    state: DependencyState,
    waiting: int,
    head: list[tuple[Key, int]],
    now: datetime,
) -> dict[str, Any]:
    """The status `dep` should show, given its holders, the number of BatchJobs waiting for it
    and the head of its line ((namespace, name), units needed) in order; conditions keep their
    lastTransitionTime while their status holds."""
    before = parse((dep.status or {}).get("conditions"))
    stamp = format_time(now)
    closed = not windows_open(state.spec, now)
    full = state.in_use >= state.spec.capacity
    capacity = state.spec.capacity
    return DependencyStatus(
        observed_generation=dep.generation,
        in_use=state.in_use,
        holders=[
            {"namespace": h.key[0], "name": h.key[1], "units": h.units}
            for h in sorted(state.holders, key=lambda h: h.key)[:MAX_HOLDERS_SHOWN]
        ],
        waiting=waiting,
        queue=[
            {"position": i, "namespace": key[0], "name": key[1], "units": units}
            for i, (key, units) in enumerate(head, start=1)
        ]
        or None,
        conditions=[
            condition(
                "Ready",
                True,
                "Full" if full else "Available",
                f"{state.in_use} of {capacity} units in use, {waiting} waiting",
                generation=dep.generation,
                before=before.get("Ready"),
                now=stamp,
            ),
            condition(
                "WindowClosed",
                closed,
                "OutsideWindows" if closed else "InsideWindow",
                "no new starts until a window opens" if closed else "new starts allowed",
                generation=dep.generation,
                before=before.get("WindowClosed"),
                now=stamp,
            ),
        ],
    ).wire()


def invalid_status(dep: DependencyView, problem: str, now: datetime) -> dict[str, Any]:
    """The status of a Dependency whose spec does not parse: Ready=False, InvalidSpec, naming
    the fields (it takes no part in admission; its users wait with DependencyInvalid)."""
    before = parse((dep.status or {}).get("conditions"))
    message = f"invalid spec, not used for admission: {problem}"
    return DependencyStatus(
        observed_generation=dep.generation,
        conditions=[
            condition(
                "Ready",
                False,
                INVALID_SPEC,
                message,
                generation=dep.generation,
                before=before.get("Ready"),
                now=format_time(now),
            )
        ],
    ).wire()
