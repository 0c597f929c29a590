"""runtime/reflector.py alone, on a scripted API server and a plain dict for a cache: it lists,
watches from the listing's version, resumes a watch the server ends or that fails, lists again
after 410 Gone (and that listing deletes what vanished), and a resync tells the liveness
bookkeeping and the counters what the watch had missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bulkhead.runtime import reflector as reflector_module
from bulkhead.runtime.liveness import WatchLiveness
from bulkhead.runtime.reflector import Change, Reflector, Relisted, Watching

PATH = "/apis/example.dev/v1/widgets"
Body = dict[str, Any]


class Expired(Exception):
    """The scripted server's 410 Gone."""


def widget(name: str, version: str) -> Body:
    return {"metadata": {"name": name, "resourceVersion": version}}


class ScriptedServer:
    """Answers the scripted listings in turn (the n-th at version "l<n>"), and hands out the
    scripted watches in turn, each a list of events, an exception to raise, or (past the
    last) a watch that waits forever."""

    def __init__(
        self, listings: list[list[Body]], *watches: list[tuple[str, Body]] | Exception
    ) -> None:
        self.listings = listings
        self.watches = list(watches)
        self.listed = 0
        self.watched_from: list[str] = []

    async def list_pages(
        self, path: str, label_selector: str = ""
    ) -> AsyncIterator[tuple[list[Body], str]]:
        self.listed += 1
        yield self.listings[self.listed - 1], f"l{self.listed}"

    async def watch(
        self, path: str, label_selector: str, version: str, timeout: float, client_timeout: float
    ) -> AsyncIterator[tuple[str, Body]]:
        self.watched_from.append(version)
        if not self.watches:
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event


class DictCache:
    """The store's part in its simplest form: name -> body."""

    def __init__(self) -> None:
        self.items: dict[str, Body] = {}
        self._listed: dict[str, Body] = {}

    def put(self, body: Body, deleted: bool) -> Change[str, Body]:
        name = body["metadata"]["name"]
        before = self.items.pop(name, None)
        if not deleted:
            self.items[name] = body
        return Change(name, body, deleted, before)

    def begin_listing(self) -> None:
        self._listed = {}

    def fill(self, items: list[Body]) -> None:
        self._listed.update((body["metadata"]["name"], body) for body in items)

    def end_listing(self) -> Relisted[str, Body]:
        gone = [Change(n, b, deleted=True) for n, b in self.items.items() if n not in self._listed]
        changed = [Change(n, b) for n, b in self._listed.items() if self.items.get(n) != b]
        self.items = dict(self._listed)
        return Relisted(gone, changed)


class Told:
    """What a reflector told its callbacks and counters, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def changed(self, change: Change[str, Body]) -> None:
        before = change.before["metadata"]["resourceVersion"] if change.before else "-"
        self.seen.append(("deleted" if change.deleted else "changed", change.key, before))

    def relisted(self, found: Relisted[str, Body]) -> None:
        self.seen.append(
            ("listed", *(f"-{c.key}" for c in found.gone), *(c.key for c in found.changed))
        )


def reflector(
    server: ScriptedServer, cache: DictCache, told: Told, liveness: WatchLiveness
) -> Reflector[str, Body]:
    watching = Watching(
        server,
        server_timeout=600,
        client_timeout=660,
        expired=Expired,
        liveness=liveness,
        told=lambda kind: told.seen.append(("event of", kind)),
        missed=lambda kind, count: told.seen.append(("missed", kind, str(count))),
    )
    return Reflector("widgets", PATH, "", watching, cache, told.changed, told.relisted)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_list_watch_retry_and_410(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch the server ends resumes from the last version it told; a failed one is tried
    again from there; after 410 Gone the reflector lists again, and the listing tells what
    vanished meanwhile, deleted."""
    monkeypatch.setattr(reflector_module, "WATCH_BACKOFF", (0.0,))
    server = ScriptedServer(
        [
            [widget("a", "1"), widget("b", "1")],
            [widget("a", "7"), widget("c", "5")],  # b deleted while the watch was away
        ],
        [("ADDED", widget("c", "5")), ("BOOKMARK", {"metadata": {"resourceVersion": "6"}})],
        [("MODIFIED", widget("a", "7"))],
        ConnectionError("the API server restarts"),
        Expired(),
    )
    cache, told, liveness = DictCache(), Told(), WatchLiveness()
    reflecting = reflector(server, cache, told, liveness)

    async def scenario() -> None:
        task = asyncio.create_task(reflecting.run())
        await settle()
        task.cancel()

    asyncio.run(scenario())
    assert server.watched_from == ["l1", "6", "7", "7", "l2"]
    assert told.seen == [
        ("listed", "a", "b"),
        ("event of", "widgets"),
        ("changed", "c", "-"),
        ("event of", "widgets"),
        ("changed", "a", "1"),
        ("listed", "-b"),
    ]
    assert cache.items == {"a": widget("a", "7"), "c": widget("c", "5")}
    assert liveness.stuck() == []


def test_resyncs_that_find_what_a_silent_watch_missed_make_it_stuck() -> None:
    """Two resyncs in a row that find changes, with no event in between: stuck; an event
    since the last resync: not."""
    # created, deleted, another created: the watch tells none; then it tells one
    server = ScriptedServer([[], [widget("a", "1")], [], [widget("b", "2")], [widget("b", "2")]])
    told, liveness = Told(), WatchLiveness()
    reflecting = reflector(server, DictCache(), told, liveness)

    async def scenario() -> list[list[str]]:
        await reflecting.list()
        stuck = []
        for _ in range(3):
            await reflecting.resync()
            stuck.append(liveness.stuck())
        reflecting.event("ADDED", widget("c", "3"))
        await reflecting.resync()
        stuck.append(liveness.stuck())
        return stuck

    assert asyncio.run(scenario()) == [[], ["widgets"], ["widgets"], []]
    assert told.seen == [
        ("listed",),
        ("listed", "a"),
        ("missed", "widgets", "1"),
        ("listed", "-a"),
        ("missed", "widgets", "1"),
        ("listed", "b"),
        ("missed", "widgets", "1"),
        ("event of", "widgets"),
        ("changed", "c", "-"),
        ("listed", "-c"),
        ("missed", "widgets", "1"),
    ]
