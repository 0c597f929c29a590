"""A throttled, latest-wins writer: per key, at most one write per interval; the newest wanted
value always lands, values in between are skipped, and a value equal to the last one written is
not written at all. A value is wanted as a function that makes it, called only when its write
is due: the ones skipped are never made (a Dependency's status, with its 200 holders sorted,
was made on every admission pass, up to 50 a second, to be written once a second)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
Value = dict[str, Any]

log = logging.getLogger(__name__)


class LatestWinsWriter(Generic[K]):
    def __init__(
        self,
        write: Callable[[K, Value, Value], Awaitable[None]],
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`write(key, new, last)` writes `new` over `last` (what was written or read before)."""
        self._write = write
        self._interval = interval
        self._monotonic = monotonic
        self._wanted: dict[K, Callable[[], Value]] = {}
        self._written: dict[K, tuple[float, Value]] = {}
        self._writing: set[K] = set()

    def want(self, key: K, value: Callable[[], Value], seen: Value | None) -> None:
        """What `value()` makes should be written for `key`, unless a newer want replaces it
        before its write is due; `seen` is what the object shows now (used until this writer
        has written the key once)."""
        self._wanted[key] = value
        if key not in self._writing:
            self._writing.add(key)
            asyncio.get_running_loop().create_task(self._run(key, seen or {}))

    async def _run(self, key: K, seen: Value) -> None:
        try:
            written_at, last = self._written.get(key, (0.0, seen))
            wait = written_at + self._interval - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            new = self._wanted.pop(key)()
            if new != last:
                await self._write(key, new, last)
                self._written[key] = (self._monotonic(), new)
        except Exception:
            log.exception("writing %s failed; the next change writes it again", key)
        finally:
            self._writing.discard(key)
            if key in self._wanted:  # changed again while this one was writing
                self.want(key, self._wanted[key], seen)

    def forget(self, key: K) -> None:
        self._written.pop(key, None)
