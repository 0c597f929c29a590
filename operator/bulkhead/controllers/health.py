"""Dependency health, wired: for each Dependency with spec.health, a loop that reads its signals
every `interval`, runs the pure step (policy/health.py), tells each change as an Event, and
hands admission the gate it decided (the enforced capacity, the half-open probe, why waiters
wait). Its state lives in the Dependency's status (written with the rest of it by the
DependencyController), so a restart or a new leader resumes the loop where it was."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bulkhead.api.constants import HEALTH_WARNINGS, Key
from bulkhead.api.health import Health
from bulkhead.api.times import duration
from bulkhead.controllers.signals import SignalReader
from bulkhead.kube.client import Kube
from bulkhead.metrics import Metrics
from bulkhead.policy import breaker, health, health_state, health_status
from bulkhead.policy.budget import Gate
from bulkhead.state.store import Store

log = logging.getLogger(__name__)


@dataclass
class _Loop:
    """One Dependency's loop: what its spec was when it started, the last step and readings,
    and the message its waiters show (kept while the gate is the same, so a waiter's status
    is not rewritten at every reading)."""

    spec: Health
    capacity: int
    task: asyncio.Task[None] | None = None
    state: health_state.LoopState = field(default_factory=health_state.LoopState)
    readings: dict[str, health_state.Reading] = field(default_factory=dict)
    result: health_state.Step | None = None
    gate: Gate | None = None


class HealthController:
    def __init__(
        self,
        kube: Kube,
        store: Store,
        metrics: Metrics,
        reader: SignalReader,
        clock: Callable[[], datetime],
        in_use: Callable[[str], int],
        changed: Callable[[], None],
    ) -> None:
        """`reader`: reads each signal; `in_use(name)`: the units a Dependency's running work
        holds (admission's count); `changed()`: called after a step that may change what
        admission decides or the status shows."""
        self._kube = kube
        self._store = store
        self._metrics = metrics
        self._reader = reader
        self._clock = clock
        self._in_use = in_use
        self._changed = changed
        self._loops: dict[str, _Loop] = {}
        self._wanted = asyncio.Event()

    # --- what admission and the status read ----------------------------------------------

    def gate(self, name: str) -> Gate:
        """What the health of `name` (a Dependency with spec.health) allows admission: nothing
        until its loop has stepped once since this replica leads (a step reads the signals at
        once, within their timeout), so a restart never admits past a cut or an open breaker."""
        loop = self._loops.get(name)
        if loop is None or loop.gate is None:
            return Gate(0, message=f"{name}: its health signals are not read yet")
        return loop.gate

    def shown(self, name: str) -> tuple[health_state.Step, dict[str, health_state.Reading]] | None:
        """The last step and its readings, for the Dependency's status (a copy: the status
        may be made later, and the readings change in place as signals are read)."""
        loop = self._loops.get(name)
        if loop is None or loop.result is None:
            return None
        return loop.result, dict(loop.readings)

    def probe_admitted(self, name: str, key: Key) -> None:
        """Admission started `key` as `name`'s half-open probe: judged from now on."""
        loop = self._loops.get(name)
        if loop is None or loop.result is None:
            return
        loop.state = breaker.with_probe(loop.state, key, self._clock())
        loop.result = replace(loop.result, state=loop.state)
        self._set_gate(name, loop)

    # --- the loops ---------------------------------------------------------------------------

    def poke(self) -> None:
        """A Dependency appeared, changed or went: its loop may start, restart or end."""
        self._wanted.set()

    async def run(self) -> None:
        """The loops, while this replica decides (cancelled when it stops deciding)."""
        await self._store.ready.wait()
        try:
            while True:
                self._wanted.clear()
                self.sync()
                await self._wanted.wait()
        finally:
            self.stop()

    def sync(self) -> None:
        """A loop for each Dependency with a valid spec.health, started again when its health
        spec or capacity changes; none for the others."""
        wanted: dict[str, tuple[Health, int]] = {}
        for view in self._store.all_dependencies():
            parsed = view.parsed_spec()
            if parsed is not None and parsed.health is not None and view.spec_problem() is None:
                wanted[view.name] = (parsed.health, parsed.capacity)
        for name in list(self._loops):
            loop = self._loops[name]
            if wanted.get(name) != (loop.spec, loop.capacity):
                if loop.task is not None:
                    loop.task.cancel()
                del self._loops[name]
                self._metrics.forget_health(name, (s.name for s in loop.spec.signals))
        for name, (spec, capacity) in wanted.items():
            if name not in self._loops:
                dep = self._store.dependency(name)
                status = dep.status if dep is not None else None
                loop = _Loop(
                    spec=spec,
                    capacity=capacity,
                    state=health_status.from_status(status),
                    readings=health_status.readings_from_status(status),
                )
                self._loops[name] = loop
                loop.task = asyncio.get_running_loop().create_task(self._run(name, loop))

    def stop(self) -> None:
        for loop in self._loops.values():
            if loop.task is not None:
                loop.task.cancel()
        self._loops.clear()

    async def _run(self, name: str, loop: _Loop) -> None:
        interval = duration(loop.spec.interval).total_seconds()
        while True:
            started = time.monotonic()
            try:
                await self._step(name, loop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "health step of dependency %s failed; next try in %gs", name, interval
                )
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.0))

    async def _step(self, name: str, loop: _Loop) -> None:
        read = await asyncio.gather(*(self._reader.read(signal) for signal in loop.spec.signals))
        now = self._clock()
        for signal, value in zip(loop.spec.signals, read, strict=True):
            last = loop.readings.get(signal.name)
            if isinstance(value, str):
                loop.readings[signal.name] = health_state.Reading(
                    last.value if last else None, last.time if last else None, value
                )
                self._metrics.signal_failed(name, signal.name)
            else:
                loop.readings[signal.name] = health_state.Reading(value, now)
                self._metrics.signal(name, signal.name, value)
        result = health.step(
            loop.spec, loop.capacity, self._in_use(name), loop.readings, loop.state, now, name
        )
        loop.state, loop.result = result.state, result
        self._set_gate(name, loop)
        self._metrics.health(name, result.state.health, result.state.breaker, result.effective)
        for change in result.changes:
            log.info("dependency %s: %s", name, change.message)
            await self._kube.post_event(
                {"apiVersion": "bulkhead.dev/v1alpha1", "kind": "Dependency", "name": name},
                "Warning" if change.reason in HEALTH_WARNINGS else "Normal",
                change.reason,
                change.message,
            )
        self._changed()

    def _set_gate(self, name: str, loop: _Loop) -> None:
        """The gate of the last step; its message kept while the gate stays the same."""
        result = loop.result
        assert result is not None
        state = result.state
        probe = state.probe.key if state.probe else None
        half_open = state.breaker == "HalfOpen" and not loop.spec.dry_run
        before = loop.gate
        if before is not None and (before.capacity, before.half_open, before.probe) == (
            result.enforced,
            half_open,
            probe,
        ):
            return
        why = health_status.waiting_message(
            name, result, loop.capacity, health_status.readings_text(loop.readings)
        )
        loop.gate = Gate(
            capacity=result.enforced,
            half_open=half_open,
            probe=probe,
            message=why.removeprefix("waiting for ") if why else "",
        )
