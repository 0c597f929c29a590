"""Backlog triggers, read: for each backlog trigger of each BatchJob, a loop that reads its
signal every pollInterval and keeps the last reading for the BatchJob's reconcile (which
decides the runs it wants, policy/triggers.py). A reading wakes the reconcile only when it
tells something new, so an unchanged backlog costs reads, not reconciles.

When a read enqueues the BatchJob:
- its value or error differs from the previous reading's (the first reading of a trigger
  always does);
- it is the first reading that started at or after the moment a reconcile asked for
  (`ensure(..., fresh_after=)`), e.g. the end of a run: a reading started before the run
  ended may still count the items it worked off, so the reconcile waits for a newer one and
  is woken by it even if the number did not change.
Not on every read that follows a reconcile: that reconcile is most often the one the previous
reading woke, and waking it again each pollInterval would reconcile every triggered BatchJob
at that rate for nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bulkhead.api.constants import Key
from bulkhead.api.times import duration
from bulkhead.api.triggers import BacklogTrigger
from bulkhead.controllers.signals import SignalReader
from bulkhead.policy.triggers import Reading

log = logging.getLogger(__name__)


@dataclass
class _Loop:
    """One trigger's loop: the trigger it reads (restarted when its signal or pollInterval
    changes), its task, its last reading, and the moment a reconcile wants a reading started
    at or after (None: no such wish)."""

    trigger: BacklogTrigger
    task: asyncio.Task[None] | None = None
    reading: Reading | None = None
    fresh_after: datetime | None = None


def _same_source(a: BacklogTrigger, b: BacklogTrigger) -> bool:
    """Whether a loop reading `a` also reads `b` (itemsPerRun is the reconcile's business)."""
    return (a.signal, a.poll_interval) == (b.signal, b.poll_interval)


class BacklogPoller:
    def __init__(
        self,
        reader: SignalReader,
        enqueue: Callable[[Key], None],
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`enqueue(key)`: asks for a reconcile of BatchJob `key`; `clock()`: now, the time a
        read starts; `sleep(seconds)`: waits between reads (a test's is instant)."""
        self._reader = reader
        self._enqueue = enqueue
        self._clock = clock
        self._sleep = sleep
        self._loops: dict[Key, dict[str, _Loop]] = {}

    def ensure(
        self,
        key: Key,
        triggers: dict[str, BacklogTrigger],
        fresh_after: datetime | None = None,
    ) -> None:
        """The backlog triggers BatchJob `key` has now, by trigger name: starts a loop for each
        new one (its first read at once), restarts one whose signal or pollInterval changed
        (dropping its reading), stops the ones gone. Given `fresh_after`, the first reading of
        each trigger that starts at or after it enqueues `key` even if unchanged (see the
        module's docstring); a trigger whose last reading started then already has it."""
        loops = self._loops.setdefault(key, {})
        for name in list(loops):
            wanted = triggers.get(name)
            if wanted is None or not _same_source(loops[name].trigger, wanted):
                self._cancel(loops.pop(name))
        for name, trigger in triggers.items():
            loop = loops.get(name)
            if loop is None:
                loop = loops[name] = _Loop(trigger)
                loop.task = asyncio.get_running_loop().create_task(self._run(key, name, loop))
            loop.trigger = trigger
            if fresh_after is not None and not (
                loop.reading is not None and loop.reading.started >= fresh_after
            ):
                loop.fresh_after = max(loop.fresh_after or fresh_after, fresh_after)
        if not loops:
            del self._loops[key]

    def reading(self, key: Key, trigger: str) -> Reading | None:
        """The last reading of `key`'s trigger `trigger`; None before its first read ends."""
        loop = self._loops.get(key, {}).get(trigger)
        return loop.reading if loop is not None else None

    def forget(self, key: Key) -> None:
        """BatchJob `key` is gone: its loops stop and their readings go."""
        for loop in self._loops.pop(key, {}).values():
            self._cancel(loop)

    def stop(self) -> None:
        """Every loop stops (leadership lost, shutdown); ensure() starts them again."""
        for key in list(self._loops):
            self.forget(key)

    def _cancel(self, loop: _Loop) -> None:
        if loop.task is not None:
            loop.task.cancel()

    async def _run(self, key: Key, name: str, loop: _Loop) -> None:
        """Reads every pollInterval, from now, until cancelled."""
        interval = duration(loop.trigger.poll_interval).total_seconds()
        while True:
            started = self._clock()
            try:
                value = await self._reader.read(loop.trigger.signal)
            except Exception as error:  # a bug; CancelledError is not an Exception and ends it
                log.exception("backlog trigger %s of %s/%s: the read failed", name, *key)
                value = f"the read failed: {error!r}"
            self._store(key, loop, started, value)
            elapsed = (self._clock() - started).total_seconds()
            await self._sleep(max(interval - elapsed, 0.0))

    def _store(self, key: Key, loop: _Loop, started: datetime, value: float | str) -> None:
        """Keeps the reading, and enqueues `key` when it tells something new."""
        reading = (
            Reading(None, value, started) if isinstance(value, str) else Reading(value, "", started)
        )
        before = loop.reading
        loop.reading = reading
        changed = before is None or (before.value, before.error) != (reading.value, reading.error)
        fresh = loop.fresh_after is not None and started >= loop.fresh_after
        if fresh:
            loop.fresh_after = None
        if changed or fresh:
            self._enqueue(key)
