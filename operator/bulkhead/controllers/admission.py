"""The admission loop, in Kueue's steps: 1. the waiting candidates, 2. a snapshot of every
Dependency (holders from the store plus runs admitted but not seen yet), 3. the pure decision,
4. assume the admitted ones hold their units, 5. hand out the changes: start or show a wait,
and publish the Dependency status (with the head of its line)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.api.constants import (
    DEPENDENCY_INVALID,
    DEPENDENCY_NOT_FOUND,
    NAMESPACE_NOT_ALLOWED,
    Key,
)
from bulkhead.api.views import BatchJobView
from bulkhead.controllers.dependency import DependencyController
from bulkhead.controllers.health import HealthController
from bulkhead.policy import admission, status
from bulkhead.policy.budget import Holding
from bulkhead.policy.line import Candidate
from bulkhead.policy.selectors import selector_matches
from bulkhead.policy.windows import windows_open
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.admission import AdmissionBook, dependency_states
from bulkhead.state.store import Store

log = logging.getLogger(__name__)

# Let a burst of Job events coalesce into the next pass.
COALESCE = 0.02
# How many of the BatchJobs waiting in line for a Dependency its status lists, in order.
QUEUE_HEAD = 10
WINDOW_RECHECK = 15.0


class AdmissionController:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue[Key],
        clock: Callable[[], datetime],
        dependencies: DependencyController,
        health: HealthController,
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._dependencies = dependencies
        self._health = health
        self.book = AdmissionBook()
        self._wanted = asyncio.Event()
        self._in_use: dict[str, int] = {}  # per Dependency, at the last pass

    def in_use(self, name: str) -> int:
        """The units of `name` held at the last pass (those it admitted included)."""
        return self._in_use.get(name, 0)

    def poke(self) -> None:
        self._wanted.set()

    def admitted(self, key: Key, run: str) -> bool:
        candidate = self.book.admitted.get(key)
        return candidate is not None and candidate.run == run

    def release(self, key: Key) -> None:
        """`key` does not wait (any more), nor holds what it was admitted with."""
        self.book.forget(key)
        self.book.admitted.pop(key, None)

    def request(
        self, bj: BatchJobView, spec: BatchJobSpec, run: str, due: str = ""
    ) -> status.Outcome | None:
        """`bj`'s run `run` waits for admission, in line since `due` (RFC 3339; default: the
        BatchJob's creation; a scheduled run's instant, so a run that waited longer goes first).
        The outcome its status should show: why it cannot wait (a Dependency missing, its
        namespace not allowed), the wait the last decision showed, or None when the next pass,
        milliseconds away, decides."""
        assert spec.uses
        labels = self._store.namespace_labels(bj.namespace)
        for use in spec.uses:
            dependency = self._store.dependency(use.dependency)
            if dependency is None:
                self.book.forget(bj.key)
                return status.Outcome(
                    "Pending",
                    DEPENDENCY_NOT_FOUND,
                    f"dependency {use.dependency} does not exist; nothing starts until it does",
                )
            dependency_spec = dependency.parsed_spec()
            if dependency_spec is None:
                self.book.forget(bj.key)
                return status.Outcome(
                    "Pending",
                    DEPENDENCY_INVALID,
                    f"dependency {use.dependency} has a spec bulkhead cannot read; nothing starts "
                    f"until it is fixed",
                )
            allowed = dependency_spec.allowed_namespaces
            if not selector_matches(allowed.wire() if allowed else None, labels):
                self.book.forget(bj.key)
                return status.Outcome(
                    "Pending",
                    NAMESPACE_NOT_ALLOWED,
                    f"namespace {bj.namespace} may not use dependency {use.dependency} "
                    f"(see its spec.allowedNamespaces)",
                )
        candidate = Candidate(
            key=bj.key,
            priority=spec.priority,
            created=due or bj.created,
            uses=tuple((u.dependency, u.units) for u in spec.uses),
            run=run,
        )
        # A waiter reconciled again as it was (its own status write, a Job event) changes
        # nothing a pass reads: with 5,000 waiting, each pass it asked for cost some 5 ms.
        if self.book.waiting.put(candidate):
            self.poke()
        wait = self.book.decided.get(bj.key)
        if wait is None:
            return None
        return status.waiting_outcome(wait.reason, wait.message, wait.dependency)

    async def run(self) -> None:
        await self._store.ready.wait()
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                retry = self.admit()
            except Exception:
                log.exception("admission pass failed; retrying in 1s")
                retry = 1.0
            if retry is not None:
                asyncio.get_running_loop().call_later(retry, self.poke)
            await asyncio.sleep(COALESCE)

    def admit(self) -> float | None:
        """One admission pass; returns seconds until the clock needs the next one."""
        now = self._clock()
        states = dependency_states(self._store, self.book, now, self._health.gate)
        # Walked only until the rest can change nothing, and in a line kept in order between
        # passes: a pass costs what it admits and shows (5,000 waiting through capacity 200:
        # 31 -> 4 ms by stopping early, 2 -> 0.2 ms by keeping the line; offline_admission.py)
        decision = admission.admit(
            self.book.waiting, states, now, head=QUEUE_HEAD, told=self.book.decided
        )
        for key in decision.admitted:
            for name, units in self.book.waiting[key].uses:
                states[name].holders.append(Holding(key, units))
        for name, key in decision.probes.items():
            self._health.probe_admitted(name, key)
        self._in_use = {name: state.in_use for name, state in states.items()}
        changes = self.book.record(decision)
        for key in changes.start:  # holds its units from now: it starts before any write
            self._queue.add(key, urgent=True)
        for key in changes.show:
            self._queue.add(key)
        heads = {
            name: [(key, self.book.waiting[key].units_of(name)) for key in line[:QUEUE_HEAD]]
            for name, line in decision.lines.items()
        }
        self._dependencies.publish(states, decision.lengths, heads)
        retry = None
        if decision.retry_at is not None:
            retry = max((decision.retry_at - now).total_seconds(), 0.05)
        if any(
            waiting and not windows_open(states[name].spec, now)
            for name, waiting in decision.lengths.items()
        ):  # a window that opens lets its waiters in
            retry = min(retry or WINDOW_RECHECK, WINDOW_RECHECK)
        return retry
