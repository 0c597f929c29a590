"""The work queue: each key is worked on by one worker at a time; a key changed meanwhile is
redone once, after the worker is done with it.

Urgent keys go first: a run that admission let in holds its Dependency's units from that
instant, so its start must not wait behind a thousand new waiters' status writes."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._urgent: deque[K] = deque()
        self._normal: deque[K] = deque()
        self._items = asyncio.Semaphore(0)  # one per key in either deque
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: dict[K, bool] = {}  # key -> urgent
        self._wakes: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K, urgent: bool = False) -> None:
        """Queue `key` (at the back of its lane); a key already queued keeps its place, or
        moves to the urgent lane if `urgent`."""
        if key in self._active:
            self._dirty[key] = self._dirty.get(key, False) or urgent
        elif key not in self._queued:
            self._queued.add(key)
            (self._urgent if urgent else self._normal).append(key)
            self._items.release()
        elif urgent and key in self._normal:
            self._normal.remove(key)
            self._urgent.append(key)

    def add_after(self, key: K, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    def wake_after(self, key: K, delay: float) -> None:
        """Add `key` after `delay` seconds; one such wake per key, the earliest wins (a clock
        that is asked every reconcile does not pile up timers)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(delay, 0.0)
        pending = self._wakes.get(key)
        if pending is not None and not pending.cancelled() and pending.when() <= when:
            return
        if pending is not None:
            pending.cancel()

        def wake() -> None:
            self._wakes.pop(key, None)
            self.add(key)

        self._wakes[key] = loop.call_at(when, wake)

    async def get(self) -> K:
        await self._items.acquire()
        key = self._urgent.popleft() if self._urgent else self._normal.popleft()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))
