"""The kopf fix: dropping a toggle wakes the waiters only when the set changed."""

from __future__ import annotations

import asyncio

from bulkhead import kopf_fixes  # noqa: F401  (applies the fix)
from kopf._cogs.aiokits import aiotoggles


def test_dropping_a_gone_toggle_wakes_nobody() -> None:
    async def scenario() -> tuple[int, bool]:
        toggles = aiotoggles.ToggleSet(all)
        toggle = await toggles.make_toggle(name="indexed")
        wakeups = 0
        notify_all = toggles._condition.notify_all

        def counting() -> None:
            nonlocal wakeups
            wakeups += 1
            notify_all()

        toggles._condition.notify_all = counting  # type: ignore[method-assign]
        for _ in range(100):  # as every object of a resource does at startup
            await toggles.drop_toggle(toggle)
        return wakeups, toggles.is_on()

    wakeups, on = asyncio.run(scenario())
    assert wakeups == 1
    assert on, "with the toggle gone, waiters are released"


def test_waiters_are_released_when_the_last_toggle_drops() -> None:
    async def scenario() -> bool:
        toggles = aiotoggles.ToggleSet(all)
        toggle = await toggles.make_toggle(name="indexed")
        waiter = asyncio.create_task(toggles.wait_for(True))
        await asyncio.sleep(0)
        assert not waiter.done()
        await toggles.drop_toggle(toggle)
        await asyncio.wait_for(waiter, timeout=1)
        return waiter.done()

    assert asyncio.run(scenario())
