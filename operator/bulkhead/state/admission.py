"""Admission bookkeeping (no I/O): who waits, the latest decision for each waiter and the one
its status shows, and who was admitted but is not in the store yet (it holds its units
already, Kueue's "assumed" workloads)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bulkhead.api.constants import Key
from bulkhead.policy.admission import Decision
from bulkhead.policy.budget import RATE_PERIOD, DependencyState, Gate, Holding
from bulkhead.policy.line import Candidate, Line, Wait
from bulkhead.state.store import Store


@dataclass
class Changes:
    """What a decision asks of the BatchJobs: start, or show a new wait."""

    start: list[Key] = field(default_factory=list)
    show: list[Key] = field(default_factory=list)


@dataclass
class AdmissionBook:
    waiting: Line = field(default_factory=Line)
    decided: dict[Key, Wait] = field(default_factory=dict)  # the latest decision per waiter
    admitted: dict[Key, Candidate] = field(default_factory=dict)

    def forget(self, key: Key) -> None:
        """`key` no longer waits (it started, finished, or cannot wait)."""
        self.waiting.pop(key)
        self.decided.pop(key, None)

    def record(self, decision: Decision) -> Changes:
        """The decision into the book: who starts, and the waiters whose status must show a
        new wait (another reason, dependency or message; a new place in line is no change:
        the Dependency's status.queue shows the head of the line). `decision` is a pass over
        `waiting`, told what `decided` holds."""
        changes = Changes()
        for key in decision.admitted:
            self.admitted[key] = self.waiting[key]
            self.waiting.pop(key)
            self.decided.pop(key, None)
            changes.start.append(key)
        for key, wait in decision.waiting.items():
            if self.decided.get(key) != wait:  # a Wait is its reason, dependency and message
                changes.show.append(key)
            self.decided[key] = wait
        self.waiting.settle(decision.settled)
        return changes


def dependency_states(
    store: Store,
    book: AdmissionBook,
    now: datetime,
    gates: Callable[[str], Gate | None] = lambda name: None,
) -> dict[str, DependencyState]:
    """Every parseable Dependency with what holds it: the unfinished Jobs in the store, plus the
    admitted runs whose Job the store does not show yet (one whose BatchJob is gone, or whose
    Job is seen, drops out of the book); and what its health allows, `gates(name)`."""
    states: dict[str, DependencyState] = {}
    for dep in store.all_dependencies():
        spec = dep.parsed_spec()
        if spec is None:
            continue
        holders = store.holders(dep.name)
        states[dep.name] = DependencyState(
            spec=spec,
            holders=[Holding(h.key, h.units) for h in holders],
            # only a rate limit needs them (and counting them is a walk over a minute of Jobs)
            recent_starts=store.starts_since(dep.name, now - RATE_PERIOD)
            if spec.max_starts_per_minute is not None
            else [],
            gate=gates(dep.name) if spec.health is not None else None,
        )
    for key, candidate in list(book.admitted.items()):
        if store.batchjob(key) is None or any(j.name == candidate.run for j in store.jobs(key)):
            del book.admitted[key]
            continue
        for dependency, units in candidate.uses:
            if dependency in states:
                states[dependency].holders.append(Holding(key, units))
                states[dependency].recent_starts.append(now)
    return states
