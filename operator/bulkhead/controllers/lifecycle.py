"""What runs, and when: the reflectors always (a standby's keep its store warm); while this
replica decides, the fill of the store, admission, the health loops, the resyncs and the
workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bulkhead.api.constants import Key
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.batchjob import BatchJobController
from bulkhead.controllers.health import HealthController
from bulkhead.metrics import Metrics
from bulkhead.runtime.leader import LeaderElector
from bulkhead.runtime.reflector import Reflector
from bulkhead.runtime.workers import work
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.store import Store

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue[Key],
        metrics: Metrics,
        reflectors: list[Reflector[Any, Any]],
        admission: AdmissionController,
        health: HealthController,
        batchjobs: BatchJobController,
        workers: int,
        resync_period: float,
    ) -> None:
        """`workers`: reconciles in flight; `resync_period`: seconds between listings of
        every kind."""
        self._store = store
        self._queue = queue
        self._metrics = metrics
        self._reflectors = reflectors
        self._admission = admission
        self._health = health
        self._batchjobs = batchjobs
        self._workers = workers
        self._resync_period = resync_period
        self._tasks: list[asyncio.Task[None]] = []

    def start(
        self, elector: LeaderElector | None = None, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        """Watch, and decide from now on (one process); or, given `elector`, stand by (the
        watches keep the store warm) until it wins the lease, decide while it holds it, and
        call `on_lost()` once it no longer does (its writes are refused from that instant on,
        see Kube)."""
        self._tasks = [asyncio.create_task(r.run()) for r in self._reflectors]
        if elector is None:
            self._tasks.append(asyncio.create_task(self._lead(fresh=False)))
        else:
            self._tasks.append(asyncio.create_task(self._elect(elector, on_lost)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _elect(self, elector: LeaderElector, on_lost: Callable[[], None]) -> None:
        self._metrics.leader.set(0)
        await elector.run(lambda: self._lead(fresh=True))
        self._metrics.leader.set(0)
        log.error("%s lost the lease; it stops deciding", elector.identity)
        on_lost()

    async def _lead(self, fresh: bool) -> None:
        """Decide until cancelled: once the store is complete (`fill`), the workers and
        admission, and the listings of every resync period."""
        self._metrics.leader.set(1)
        await asyncio.gather(
            self.fill(fresh),
            self._admission.run(),
            self._health.run(),
            self._resync(),
            *(self._work() for _ in range(self._workers)),
        )

    async def fill(self, fresh: bool) -> None:
        """The store complete before any decision: each kind's first listing (by its
        reflector), or given `fresh` (a standby that now leads: its watches may lag the last
        writes of the leader before it) a listing of each kind now."""
        while fresh:
            try:
                for reflector in self._reflectors:
                    await reflector.list()
                break
            except Exception:
                log.exception("listing to lead failed; retrying in 2s")
                await asyncio.sleep(2)
        for reflector in self._reflectors:
            await reflector.listed.wait()
        self._store.mark_ready()
        for bj in self._store.all_batchjobs():
            self._queue.add(bj.key)
        self._admission.poke()

    async def _resync(self) -> None:
        """Every resync period, each kind is listed again: what a watch missed, by a bug or a
        watch that hangs, is repaired within one period, and the liveness bookkeeping learns
        which watch misses changes."""
        await self._store.ready.wait()
        while True:
            await asyncio.sleep(self._resync_period)
            await self.resync()

    async def resync(self) -> None:
        """Lists each kind again; a kind whose listing fails is tried next time."""
        for reflector in self._reflectors:
            await reflector.resync()

    async def _work(self) -> None:
        """One worker, once the store is complete."""
        await self._store.ready.wait()
        await work(self._queue, self._reconcile)

    async def _reconcile(self, key: Key) -> None:
        self._metrics.reconciles.inc()
        await self._batchjobs.reconcile(key)
