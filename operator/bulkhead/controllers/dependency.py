"""The Dependency status: what admission knows, published to each Dependency's status (at
most once a second each, the latest always lands) and to the metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from bulkhead.api.constants import Key
from bulkhead.controllers.health import HealthController
from bulkhead.kube.client import Kube
from bulkhead.kube.rest import replacing
from bulkhead.metrics import Metrics
from bulkhead.policy.budget import DependencyState
from bulkhead.policy.dependency_status import dependency_status, invalid_status
from bulkhead.runtime.writer import LatestWinsWriter
from bulkhead.state.store import Store

STATUS_INTERVAL = 1.0


class DependencyController:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], datetime],
        health: HealthController,
    ) -> None:
        self._kube = kube
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._health = health
        self._writer: LatestWinsWriter[str] = LatestWinsWriter(self._write, STATUS_INTERVAL)
        self._generations: dict[str, int] = {}

    def generation_changed(self, name: str, generation: int | None) -> bool:
        """True when a Dependency is new, gone, or its spec changed since last seen (its own
        status writes keep the generation)."""
        changed = self._generations.get(name) != generation
        if generation is None:
            self._generations.pop(name, None)
            self._writer.forget(name)
        else:
            self._generations[name] = generation
        return changed

    def publish(
        self,
        states: dict[str, DependencyState],
        waiting: dict[str, int],
        heads: dict[str, list[tuple[Key, int]]],
    ) -> None:
        """Each Dependency's status and metrics, given its state, how many wait for it and
        the head of its line (and its health's last step); an invalid one's status says what
        is wrong."""
        now = self._clock()
        self._metrics.shares(
            {name: s.shares.shown() for name, s in states.items() if s.shares is not None}
        )
        for name, state in states.items():
            self._metrics.dependency(name, state.in_use, state.spec.capacity, waiting[name])
            dep = self._store.dependency(name)
            if dep is not None:
                new = partial(
                    dependency_status,
                    dep,
                    state,
                    waiting[name],
                    heads[name],
                    now,
                    self._health.shown(name),
                )
                self._writer.want(name, new, dep.status)
        for dep in self._store.all_dependencies():
            if dep.name not in states and (problem := dep.spec_problem()):
                self._writer.want(dep.name, partial(invalid_status, dep, problem, now), dep.status)

    async def _write(self, name: str, new: dict[str, Any], last: dict[str, Any]) -> None:
        await self._kube.patch_dependency_status(name, replacing(last, new))
