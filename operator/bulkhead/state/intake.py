"""CloudEvents on their way from the endpoint into a BatchJob's ledger.

The endpoint hands each authorized event to `EventIntake.submit`, which queues the BatchJob and
waits. That BatchJob's next reconcile takes every event waiting for it (one status write for a
burst of them), records each in status.runs or status.triggers, and only once the API server has
stored that status does each caller get its answer: an accepted event (202) is durable in etcd
before the sender hears so, and an event whose write failed is answered 503, so the sender sends
it again and its (source, id) makes the resend harmless."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bulkhead.api.constants import Key
from bulkhead.api.triggers import RunEvent, Verdict


@dataclass
class Pending:
    """An event waiting for its BatchJob's reconcile."""

    trigger: str
    event: RunEvent
    answer: asyncio.Future[Verdict] = field(repr=False)


class EventIntake:
    def __init__(
        self,
        enqueue: Callable[[Key], None],
        leading: Callable[[], bool],
        takes: Callable[[Key, str], bool],
        timeout: float = 10.0,
    ) -> None:
        """`enqueue` queues a BatchJob's reconcile, `leading` says whether this replica decides,
        `takes(key, trigger)` whether BatchJob `key` has a cloudEvent trigger of that name (in
        the store: the reconcile decides with the spec it reads then); `timeout`: the longest a
        caller waits for its event to be recorded."""
        self._enqueue = enqueue
        self._takes = takes
        self._leading = leading
        self._timeout = timeout
        self._waiting: dict[Key, list[Pending]] = {}

    async def submit(self, key: Key, trigger: str, event: RunEvent) -> Verdict:
        """Returns what became of `event` for the trigger `trigger` of the BatchJob `key`, once
        its status holds it (or why it does not)."""
        if not self._leading():
            return "NotLeader"
        if not self._takes(key, trigger):
            return "UnknownTrigger"
        answer: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(Pending(trigger, event, answer))
        self._enqueue(key)
        try:
            return await asyncio.wait_for(asyncio.shield(answer), self._timeout)
        except TimeoutError:
            return "Unavailable"

    def take(self, key: Key) -> list[Pending]:
        """The events waiting for `key`, oldest first; the caller answers each."""
        return self._waiting.pop(key, [])

    def waiting(self, key: Key) -> bool:
        return key in self._waiting

    def forget(self, key: Key) -> None:
        """`key` is gone (deleted, or no longer reconciled here): its waiting events are not
        recorded."""
        for pending in self._waiting.pop(key, []):
            answer(pending, "UnknownTrigger")

    def stop(self) -> None:
        """This replica stops deciding: every waiting event is told to go to the new leader."""
        for key in list(self._waiting):
            for pending in self._waiting.pop(key):
                answer(pending, "NotLeader")


def answer(pending: Pending, verdict: Verdict) -> None:
    if not pending.answer.done():
        pending.answer.set_result(verdict)
