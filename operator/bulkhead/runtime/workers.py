"""The workers: each takes a key from the work queue, reconciles it, and gives it back; a
reconcile that raises is logged and its key tried again RETRY seconds later."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bulkhead.api.constants import Key
from bulkhead.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

RETRY = 5.0


async def work(queue: WorkQueue[Key], reconcile: Callable[[Key], Awaitable[None]]) -> None:
    """One worker, until cancelled: `reconcile(key)` for each key the queue hands out."""
    while True:
        key = await queue.get()
        try:
            await reconcile(key)
        except Exception:
            log.exception("reconcile of %s/%s failed; retrying in %gs", *key, RETRY)
            queue.add_after(key, RETRY)
        finally:
            queue.done(key)
