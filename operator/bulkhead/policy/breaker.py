"""Pure: a Dependency's circuit breaker, one step at a time.

It opens when health turns Unhealthy: no new starts for min(baseWait x opens, maxWait),
lengthened by up to `jitter` of it (drawn from the Dependency and the opening, so the same after
a restart). Then, unless health is still Unhealthy (it opens again at once, with a longer
wait), HalfOpen: one probe run starts, and openWhen never holding for observeFor from its start
closes the breaker at minCapacity; openWhen holding once opens it again. The probe's exit code
plays no part. Signals unread: an open breaker stays open; a probe waits to be judged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bulkhead.api.constants import CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN, Key
from bulkhead.api.health import Breaker
from bulkhead.api.times import duration
from bulkhead.policy.health_state import (
    Change,
    LoopState,
    Probe,
    Settings,
    Verdicts,
    clock_text,
    values_text,
)


def wait(settings: Breaker, opens: int, seed: str) -> timedelta:
    """How long the `opens`-th opening in a row stays open: min(baseWait x opens, maxWait),
    lengthened by a share of it in [0, jitter) drawn from `seed` and `opens`."""
    base = min(duration(settings.base_wait) * max(opens, 1), duration(settings.max_wait))
    digest = hashlib.sha256(f"{seed}/{opens}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=round(base.total_seconds() * (1 + settings.jitter * share)))


def _open(
    state: LoopState,
    settings: Settings,
    now: datetime,
    seed: str,
    why: str,
    changes: list[Change],
) -> LoopState:
    """The breaker opened (again), told with `why`."""
    opens = state.opens + 1
    until = now + wait(settings.breaker, opens, seed)
    changes.append(
        Change(
            CIRCUIT_OPEN,
            f"circuit open: {why}; no new starts, half-open at {clock_text(until)} "
            f"(opening {opens})",
        )
    )
    return replace(state, breaker="Open", opens=opens, opened_at=now, open_until=until, probe=None)


def advance(
    state: LoopState,
    verdicts: Verdicts | None,
    settings: Settings,
    now: datetime,
    seed: str,
    values: Mapping[str, float],
    changes: list[Change],
) -> LoopState:
    """Returns the loop state with the breaker moved on, given the state after judging, the
    step's `verdicts` (None: signals unread), the settings, the time, the jitter seed and the
    values read; each move is appended to `changes`."""
    if state.breaker == "Closed":
        if state.health == "Unhealthy":
            return _open(state, settings, now, seed, f"unhealthy ({values_text(values)})", changes)
        return state
    if state.breaker == "Open":
        if state.open_until is not None and now < state.open_until:
            return state
        if verdicts is None:
            return state  # a probe could not be judged blind
        if state.health == "Unhealthy":
            return _open(
                state, settings, now, seed, f"still unhealthy ({values_text(values)})", changes
            )
        changes.append(Change(CIRCUIT_HALF_OPEN, "circuit half-open: one probe run may start"))
        return replace(state, breaker="HalfOpen", open_until=None, probe=None)
    # HalfOpen
    if state.probe is None:
        if state.health == "Unhealthy":
            return _open(state, settings, now, seed, f"unhealthy ({values_text(values)})", changes)
        return state
    if verdicts is None:
        return state
    name = f"{state.probe.key[0]}/{state.probe.key[1]}"
    if verdicts.open:
        return _open(
            state, settings, now, seed, f"probe {name} failed ({values_text(values)})", changes
        )
    if now - state.probe.since < duration(settings.breaker.observe_for):
        return state
    changes.append(
        Change(
            CIRCUIT_CLOSED,
            f"circuit closed: healthy for {settings.breaker.observe_for} after probe {name}; "
            f"effective capacity restarts at {settings.floor}",
        )
    )
    return replace(
        state,
        breaker="Closed",
        opens=0,
        open_until=None,
        probe=None,
        limit=settings.floor,
        last_change=now,
    )


def admits_probe(state: LoopState, key: Key) -> bool:
    """Whether the BatchJob `key` may start while the breaker is HalfOpen: the probe already
    chosen, or any BatchJob while none is (the caller then records it with `with_probe`).
    False in every other breaker state (Closed admits by the effective capacity instead)."""
    if state.breaker != "HalfOpen":
        return False
    return state.probe is None or state.probe.key == key


def with_probe(state: LoopState, key: Key, now: datetime) -> LoopState:
    """`state` with `key` as the half-open probe, admitted at `now`; the same state when a probe
    is already chosen or the breaker is not HalfOpen."""
    if not admits_probe(state, key) or state.probe is not None:
        return state
    return replace(state, probe=Probe(key, now))
