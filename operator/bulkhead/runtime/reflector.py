"""client-go's reflector (tools/cache/reflector.go), one per watched kind: list, then watch
from the listing's version; a watch the server ends resumes from the last version it told
(bookmarks keep that fresh); 410 Gone lists again, and that listing deletes what vanished
unseen; a failed watch is tried again WATCH_BACKOFF apart. Every resync period it lists again,
and its liveness bookkeeping learns whether the watch still tells the changes.

The watches are the operator's own, not kopf's: kopf spends on every event a deep copy of the
object for change detection no handler here uses, and its handler machinery; profiled at
N=1,000 BatchJobs, 8,035 events cost 77 s of 113 s of operator CPU in kopf, 7 s in the
controllers (cProfile, bench/run.py with BENCH_PROFILE).

A reflector knows neither the store nor the controllers: it hands each body to its kind's
`Cache` (the store's side, state/watched.py), which answers the typed `Change` it made, and
tells that change to its kind's callback (the controllers' side, controllers/events.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bulkhead.runtime.liveness import WatchLiveness

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# Seconds between tries of a watch that fails (the API server restarting): at most 2 s apart,
# so watches resume within 2 s of it coming back.
WATCH_BACKOFF = (0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class Change(Generic[K, V]):
    """One object's change as the store took it: its key and view (the last view, for one
    deleted), and `before`, its view before a watch event changed it where the cache tells it
    (None: unknown, new, or told by a listing)."""

    key: K
    view: V
    deleted: bool = False
    before: V | None = None


@dataclass(frozen=True, slots=True)
class Relisted(Generic[K, V]):
    """What a listing found that no watch event had told: objects gone, and listed objects
    that changed the store."""

    gone: list[Change[K, V]]
    changed: list[Change[K, V]]

    @property
    def drift(self) -> int:
        return len(self.gone) + len(self.changed)


class ListerWatcher(Protocol):
    """The API requests a reflector sends (kube.rest.RestClient's)."""

    def list_pages(
        self, path: str, label_selector: str = ""
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str]]: ...

    def watch(
        self, path: str, label_selector: str, version: str, timeout: float, client_timeout: float
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...


class Cache(Protocol[K, V]):
    """Where a reflector's kind is kept (the store, state/watched.py)."""

    def put(self, body: dict[str, Any], deleted: bool) -> Change[K, V] | None:
        """A watch event's object in (or out, `deleted`); None for a malformed one, skipped."""
        ...

    def begin_listing(self) -> None: ...

    def fill(self, items: list[dict[str, Any]]) -> None:
        """One page of the listing begun last."""
        ...

    def end_listing(self) -> Relisted[K, V]:
        """Ends the listing: what the cache holds and the listing did not show is deleted."""
        ...


@dataclass(frozen=True, slots=True)
class Watching:
    """What every reflector shares: the API, the watch requests' timeouts (the server's, and
    the operator's own for a connection that died without closing), the error a watch raises
    for a version the server no longer has (kube.errors.Gone), the liveness bookkeeping, and where
    watch events and the changes a resync found are counted (the metrics)."""

    source: ListerWatcher
    server_timeout: float
    client_timeout: float
    expired: type[Exception]
    liveness: WatchLiveness
    told: Callable[[str], None] = lambda kind: None
    missed: Callable[[str, int], None] = lambda kind, count: None


class Reflector(Generic[K, V]):
    def __init__(
        self,
        kind: str,
        path: str,
        label_selector: str,
        watching: Watching,
        cache: Cache[K, V],
        changed: Callable[[Change[K, V]], None],
        relisted: Callable[[Relisted[K, V]], None],
    ) -> None:
        """`kind` names it in logs and metrics; `changed(change)` is told each change a watch
        event made, `relisted(found)` what each listing found that no event had told."""
        self.kind = kind
        self._path = path
        self._selector = label_selector
        self._watching = watching
        self._cache = cache
        self._changed = changed
        self._relisted = relisted
        self._listing = asyncio.Lock()
        self.listed = asyncio.Event()  # listed once

    async def list(self) -> tuple[int, str]:
        """One paginated LIST into the cache; what it no longer shows is deleted. Returns how
        many changes it found that no watch event had told, and the listing's
        resourceVersion."""
        version = ""
        async with self._listing:
            # a failed listing stays open, deleting nothing, until the next one begins it again
            self._cache.begin_listing()
            async for page, at in self._watching.source.list_pages(self._path, self._selector):
                self._cache.fill(page)
                version = at
            found = self._cache.end_listing()
        self.listed.set()
        self._relisted(found)
        return found.drift, version

    async def run(self) -> None:
        """List and watch, until cancelled (the module's docstring)."""
        watching = self._watching
        version, failures = "", 0
        while True:
            try:
                if not version:
                    _, version = await self.list()
                async for type_, body in watching.source.watch(
                    self._path,
                    self._selector,
                    version,
                    watching.server_timeout,
                    watching.client_timeout,
                ):
                    failures = 0
                    version = _resource_version(body) or version
                    if type_ != "BOOKMARK":
                        self.event(type_, body)
            except watching.expired:
                log.info("the watch of %s resumed too late (410 Gone); listing it again", self.kind)
                version = ""
            except Exception as error:
                delay = WATCH_BACKOFF[min(failures, len(WATCH_BACKOFF) - 1)]
                failures += 1
                log.warning(
                    "watch of %s failed: %s; trying again in %.1fs", self.kind, error, delay
                )
                await asyncio.sleep(delay)

    def event(self, type_: str, body: dict[str, Any]) -> None:
        """A watch event: type_ ADDED, MODIFIED or DELETED."""
        self._watching.liveness.heard(self.kind)
        self._watching.told(self.kind)
        change = self._cache.put(body, deleted=type_ == "DELETED")
        if change is not None:
            self._changed(change)

    async def resync(self) -> None:
        """Lists again (a failed listing is logged, and tried at the next resync); counts and
        logs what it found that the watch had not told, for the liveness bookkeeping."""
        liveness = self._watching.liveness
        heard = liveness.period_ends(self.kind)
        try:
            drift, _ = await self.list()
        except Exception:
            log.exception("listing %s to resync failed; next try in one period", self.kind)
            return
        if drift:
            log.warning("resync of %s found %d changes no watch event told", self.kind, drift)
            self._watching.missed(self.kind, drift)
        liveness.resynced(self.kind, drift, heard)


def _resource_version(body: dict[str, Any]) -> str:
    """The resourceVersion a watch event tells ("" when it tells none)."""
    try:
        return str(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError):
        return ""
