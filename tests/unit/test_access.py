"""state/access: a review is reused until its TTL ends, at most `size` are kept (the oldest
goes), and one that failed is dropped so the next caller asks again."""

from __future__ import annotations

import asyncio

from bulkhead.state.access import Access, AccessCache, access_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_review_is_reused_until_its_ttl_ends() -> None:
    async def run() -> list[bool]:
        clock = Clock()
        cache = AccessCache(clock, ttl=30, size=10)
        review: asyncio.Future[Access] = asyncio.get_running_loop().create_future()
        cache.put("k", review)
        seen = [cache.get("k") is review]
        clock.now = 29.9
        seen.append(cache.get("k") is review)
        clock.now = 30
        seen.append(cache.get("k") is None)
        return [*seen, len(cache) == 0]

    assert asyncio.run(run()) == [True, True, True, True]


def test_at_most_size_reviews_are_kept_the_oldest_goes_first() -> None:
    async def run() -> list[bool]:
        cache = AccessCache(Clock(), ttl=30, size=3)
        loop = asyncio.get_running_loop()
        for key in "abcd":
            cache.put(key, loop.create_future())
        return [cache.get(key) is not None for key in "abcd"]

    assert asyncio.run(run()) == [False, True, True, True]


def test_a_failed_review_is_dropped_an_answer_is_kept() -> None:
    async def run() -> tuple[bool, bool]:
        cache = AccessCache(Clock())
        loop = asyncio.get_running_loop()
        failed: asyncio.Future[Access] = loop.create_future()
        answered: asyncio.Future[Access] = loop.create_future()
        cache.put("failed", failed)
        cache.put("answered", answered)
        failed.set_exception(ConnectionError("refused"))
        answered.set_result("Forbidden")
        await asyncio.sleep(0)  # the done callbacks run
        failed.exception()  # retrieved: no warning at garbage collection
        return cache.get("failed") is None, cache.get("answered") is answered

    assert asyncio.run(run()) == (True, True)


def test_access_keys_tell_tokens_and_batchjobs_apart() -> None:
    keys = {
        access_key("t1", "ns", "a"),
        access_key("t2", "ns", "a"),
        access_key("t1", "ns", "b"),
        access_key("t1", "nsa", ""),
    }
    assert len(keys) == 4
