"""runtime/writer.py: at most one write per interval per key, the newest wanted value lands,
the ones it replaced are never made, and a value equal to the last written is not written."""

from __future__ import annotations

import asyncio
from typing import Any

from bulkhead.runtime.writer import LatestWinsWriter

INTERVAL = 0.05


class Recorder:
    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.made: list[int] = []

    async def write(self, key: str, new: dict[str, Any], last: dict[str, Any]) -> None:
        self.written.append((key, new, last))

    def value(self, n: int) -> Any:
        """A want that records when it is made."""

        def make() -> dict[str, Any]:
            self.made.append(n)
            return {"n": n}

        return make


async def settle(writer: LatestWinsWriter[str]) -> None:
    while writer._writing:
        await asyncio.sleep(INTERVAL / 5)


def test_wants_inside_an_interval_write_only_the_newest_and_make_only_it() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        writer: LatestWinsWriter[str] = LatestWinsWriter(recorder.write, INTERVAL)
        writer.want("db", recorder.value(1), {"n": 0})
        await settle(writer)  # the first is written at once
        for n in (2, 3, 4):  # inside the interval: only the last lands
            writer.want("db", recorder.value(n), None)
        await settle(writer)

    asyncio.run(scenario())
    assert recorder.written == [("db", {"n": 1}, {"n": 0}), ("db", {"n": 4}, {"n": 1})]
    assert recorder.made == [1, 4]


def test_a_value_equal_to_the_last_written_or_seen_is_not_written() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        writer: LatestWinsWriter[str] = LatestWinsWriter(recorder.write, INTERVAL)
        writer.want("db", recorder.value(1), {"n": 1})  # what the object shows already
        await settle(writer)
        writer.want("db", recorder.value(2), {"n": 1})
        await settle(writer)
        writer.want("db", recorder.value(2), {"n": 1})  # as written
        await settle(writer)

    asyncio.run(scenario())
    assert recorder.written == [("db", {"n": 2}, {"n": 1})]
    assert recorder.made == [1, 2, 2]


def test_keys_are_written_apart() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        writer: LatestWinsWriter[str] = LatestWinsWriter(recorder.write, INTERVAL)
        writer.want("a", recorder.value(1), None)
        writer.want("b", recorder.value(2), None)
        await settle(writer)

    asyncio.run(scenario())
    assert sorted(recorder.written) == [("a", {"n": 1}, {}), ("b", {"n": 2}, {})]
