"""BacklogPoller (controllers/backlog.py): its loops against a fake reader whose answers the
test hands out one at a time, and a fake clock that a sleep moves on at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkhead.api.constants import Key
from bulkhead.api.health import SignalSource
from bulkhead.api.triggers import BacklogTrigger
from bulkhead.controllers.backlog import BacklogPoller
from bulkhead.policy.triggers import Reading

T0 = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
KEY: Key = ("billing", "invoices")
OTHER: Key = ("billing", "refunds")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def trigger(queue: str = "orders", items: int = 100, poll: str = "15s") -> BacklogTrigger:
    url = f"http://rabbitmq.queues:15672/api/queues/%2F/{queue}"
    return BacklogTrigger.model_validate(
        {
            "signal": {"http": {"url": url, "jsonPath": "$.messages"}},
            "itemsPerRun": items,
            "pollInterval": poll,
        }
    )


class Fake:
    """The reader, clock and sleep of a poller: a read of a queue's URL waits for the next
    answer `answer()` hands it (a str: a failed read; an exception: raised); a sleep waits
    until `answer()` moves the clock to its end (sleepers in the order they end)."""

    def __init__(self) -> None:
        self.now = T0
        self.answers: dict[str, asyncio.Queue[float | str | Exception]] = defaultdict(asyncio.Queue)
        self.reads: list[tuple[str, float]] = []  # (queue, seconds after T0) of each read
        self.slept: list[float] = []
        self.enqueued: list[Key] = []
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    async def read(self, source: SignalSource) -> float | str:
        assert source.http is not None
        queue = source.http.url.rsplit("/", 1)[1]
        self.reads.append((queue, (self.now - T0).total_seconds()))
        answer = await self.answers[queue].get()
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + timedelta(seconds=seconds), woken))
        await woken

    def poller(self) -> BacklogPoller:
        return BacklogPoller(self, self.enqueued.append, lambda: self.now, self.sleep)  # type: ignore[arg-type]

    async def answer(self, queue: str, *answers: float | str | Exception) -> None:
        """Each answer in turn to the next read of `queue`; after each, the loops run until
        they wait for an answer, the clock moving on to the end of each sleep."""
        for answer in answers:
            self.answers[queue].put_nowait(answer)
            await settle()
            while self._sleepers:
                self._sleepers.sort(key=lambda sleeper: sleeper[0])
                end, woken = self._sleepers.pop(0)
                if not woken.done():  # not cancelled
                    self.now = max(self.now, end)
                    woken.set_result(None)
                    await settle()


async def settle() -> None:
    """Lets every loop run until it waits for an answer."""
    for _ in range(20):
        await asyncio.sleep(0)


def run(scenario: Callable[[Fake, BacklogPoller], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        fake = Fake()
        poller = fake.poller()
        try:
            return await scenario(fake, poller)
        finally:
            poller.stop()
            await settle()

    return asyncio.run(main())


def test_reads_at_once_then_every_poll_interval_enqueueing_only_what_changed() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger()})
        await settle()
        assert (poller.reading(KEY, "orders"), fake.reads) == (None, [("orders", 0)])
        fake.now = at(2)  # the first read takes 2 s: the next starts 15 s after it started
        await fake.answer("orders", 500, 500, 500, 400, "HTTP 503: down", "HTTP 503: down", 400)
        return poller.reading(KEY, "orders"), fake.reads, fake.slept, fake.enqueued

    assert run(scenario) == (
        Reading(400, "", at(2 + 13 + 15 * 5)),
        [("orders", 0)] + [("orders", 2 + 13 + 15 * n) for n in range(7)],
        [13] + [15] * 6,
        # 500 (the first), 400, the error, 400 again: four, of seven reads
        [KEY] * 4,
    )


def test_a_failed_read_keeps_no_value_and_says_why() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger()})
        await fake.answer("orders", "HTTP 401: Not_Authorized")
        failed = poller.reading(KEY, "orders")
        await fake.answer("orders", RuntimeError("a bug"), 7)
        return failed, poller.reading(KEY, "orders"), fake.enqueued

    assert run(scenario) == (
        Reading(None, "HTTP 401: Not_Authorized", T0),
        Reading(7, "", at(30)),
        [KEY] * 3,
    )


def test_ensure_restarts_a_changed_source_and_stops_the_triggers_gone() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger(), "refunds": trigger("refunds")})
        poller.ensure(OTHER, {"orders": trigger()})
        await fake.answer("orders", 10, 10)  # one read of each BatchJob's "orders"
        await fake.answer("refunds", 3)
        fake.reads.clear()
        # itemsPerRun alone: the same loop; a new queue: a new loop, read at once; gone: none
        poller.ensure(KEY, {"orders": trigger("orders-v2", items=5)})
        poller.ensure(OTHER, {"orders": trigger(items=50)})
        await settle()
        return (
            {
                (key, name): poller.reading(key, name)
                for key in (KEY, OTHER)
                for name in ("orders", "refunds")
            },
            fake.reads,
        )

    assert run(scenario) == (
        {
            (KEY, "orders"): None,
            (KEY, "refunds"): None,
            (OTHER, "orders"): Reading(10, "", T0),
            (OTHER, "refunds"): None,
        },
        [("orders-v2", 15)],
    )


def test_a_changed_poll_interval_restarts_the_loop() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger()})
        await fake.answer("orders", 10)
        poller.ensure(KEY, {"orders": trigger(poll="1m")})
        await fake.answer("orders", 10, 10)
        return poller.reading(KEY, "orders"), fake.reads, fake.enqueued

    # the old loop's read at 15 s is cancelled; the new one reads at 15 s, 75 s and (waiting
    # for its answer) 135 s
    assert run(scenario) == (
        Reading(10, "", at(75)),
        [("orders", 0), ("orders", 15), ("orders", 15), ("orders", 75), ("orders", 135)],
        [KEY, KEY],
    )


def test_a_reading_fresh_after_a_moment_wakes_the_reconcile_once_even_if_unchanged() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger()})
        await fake.answer("orders", 500)  # started at 0
        enqueued = [len(fake.enqueued)]
        # a run ended at 10 s: the reading of 0 s may still count what it worked off
        poller.ensure(KEY, {"orders": trigger()}, fresh_after=at(10))
        await fake.answer("orders", 500)  # started at 15 s: fresh
        enqueued.append(len(fake.enqueued))
        await fake.answer("orders", 500)  # 30 s: nothing new
        enqueued.append(len(fake.enqueued))
        # the reading (30 s) is fresh already: no wish to meet
        poller.ensure(KEY, {"orders": trigger()}, fresh_after=at(20))
        await fake.answer("orders", 500)
        enqueued.append(len(fake.enqueued))
        return enqueued

    assert run(scenario) == [1, 2, 2, 2]


def test_forget_and_stop_end_the_loops_and_drop_the_readings() -> None:
    async def scenario(fake: Fake, poller: BacklogPoller) -> Any:
        poller.ensure(KEY, {"orders": trigger()})
        poller.ensure(OTHER, {"refunds": trigger("refunds")})
        await fake.answer("orders", 1)
        await fake.answer("refunds", 2)
        poller.forget(KEY)
        await settle()
        forgotten = (poller.reading(KEY, "orders"), poller.reading(OTHER, "refunds"))
        poller.stop()
        await settle()
        # a loop still running would take these answers
        await fake.answer("orders", 3)
        await fake.answer("refunds", 4)
        return (
            forgotten,
            poller.reading(OTHER, "refunds"),
            fake.answers["orders"].qsize(),
            fake.answers["refunds"].qsize(),
        )

    assert run(scenario) == ((None, Reading(2, "", T0)), None, 1, 1)
