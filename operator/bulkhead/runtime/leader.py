"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's protocol (lease
duration, renew deadline, retry period), so that of several replicas exactly one decides.

The Lease I/O is a GET, then a PUT that carries the resourceVersion it read, so two candidates
can never both win one update (409: lost the race), or a POST when there is no Lease yet (409:
another replica created it first). kube/client.py sends them (`LeaseStore`). kubernetes.aio's
LeaseLock did this before; it went with the official client (importing it cost 10 MiB of
the operator's memory). Its LeaderElection loop was never used: reading it (kubernetes
37.0.2), a leader can keep deciding after its lease has passed to another replica, three ways
(tests/unit/test_leader.py shows the first two on the stock class):
1. an error that is not an ApiException (connection refused while the API server restarts)
   escapes `run()` without cancelling the leading task or calling `onstopped_leading`;
2. no attempt has a timeout (the aio client waits up to 5 min) and the renew deadline is
   checked only between attempts: a renew hung on a dying API server keeps the leader leading;
3. every deadline is read off the wall clock (`time.time()`), which NTP or a person can step,
   and a failed leader sleeps one more retry period before giving up (renew deadline + 2 retry
   periods after its last renewal: 14 s, one second short of a 15 s lease).

Here leadership is valid until the monotonic start of the last successful renewal plus the
renew deadline. `leading()` reads that alone, and the operator asks it before every write, so
a frozen or slow process stops deciding on time even before its renew loop runs again. The
other replicas take the lease only a whole lease duration after they last saw it change, so
there are lease duration - renew deadline seconds (5 s by default) between the old leader's
last write and the new one's first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timings:
    """The constraints of client-go's NewLeaderElector. The defaults are client-go's (15 s,
    10 s, 2 s) shortened so that a standby takes over within 15 s of the leader's death:
    lease duration + one retry period = 14 s at most; a leader that cannot renew stops
    deciding 4 s before its lease can pass on."""

    lease_duration: float = 12.0
    renew_deadline: float = 8.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("the lease duration must be greater than the renew deadline")
        if not self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("the renew deadline must be greater than 1.2 retry periods")
        if not self.retry_period > 0:
            raise ValueError("the retry period must be positive")


class LeaseStore(Protocol):
    """The Lease requests the election sends (Kube's), whether or not this replica leads."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, lease: dict[str, Any]) -> bool: ...

    async def replace_lease(self, lease: dict[str, Any]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Record:
    """A Lease's spec, as client-go's LeaderElectionRecord: who holds it, for how long from
    its last renewal, since when, and how often it changed hands. Times are MicroTime text
    (RFC 3339 with microseconds), kept as read."""

    holder: str = ""
    duration: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0

    @classmethod
    def of(cls, lease: dict[str, Any]) -> Record:
        """The record a Lease shows; a field it lacks is empty."""
        spec = lease.get("spec") or {}
        return cls(
            spec.get("holderIdentity") or "",
            spec.get("leaseDurationSeconds") or 0,
            spec.get("acquireTime") or "",
            spec.get("renewTime") or "",
            spec.get("leaseTransitions") or 0,
        )

    def written_into(self, lease: dict[str, Any]) -> dict[str, Any]:
        """`lease` (its metadata and resourceVersion kept) with this record as its spec; spec
        fields the election does not own (strategy, preferredHolder) are kept."""
        spec = {
            **(lease.get("spec") or {}),
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }
        return {**lease, "spec": spec}


def wait_to_take(record: Record, identity: str, unchanged_for: float) -> float:
    """How many seconds `identity` must still wait before it may write itself into a Lease
    showing `record`, which this replica has seen unchanged for `unchanged_for` seconds (by its
    own clock: the clocks of two machines are never compared). 0 when it holds the lease
    already or nobody does; else what is left of the lease duration the holder wrote."""
    if not record.holder or record.holder == identity:
        return 0.0
    return max(record.duration - unchanged_for, 0.0)


def record_stamp(now: datetime) -> str:
    """An aware time as a Lease's MicroTime: RFC 3339 in UTC, always with microseconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        store: LeaseStore,
        namespace: str,
        name: str,
        identity: str,
        timings: Timings,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timings = timings
        self._monotonic = monotonic
        self._wall = wall
        self._valid_until = float("-inf")
        self._observed: Record | None = None
        self._observed_at = 0.0
        self._wait = 0.0  # until the lease seen last may be taken

    def leading(self) -> bool:
        """True while this replica holds the lease: until the renew deadline after the start
        of its last successful renewal. Cheap, and safe to call from any thread."""
        return self._monotonic() < self._valid_until

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Waits until this replica acquires the lease, runs `lead()` as a task while it renews
        the lease every retry period, and returns (the task cancelled) as soon as it is no
        longer leading: a renewal failed for the renew deadline, or the process was too slow to
        renew in time. A replica that lost the lease does not stand by again: its caller exits."""
        while not await self._attempt(self.timings.renew_deadline):
            # Wake when the lease seen expires, not up to a retry period later: the takeover
            # is lease duration + at most one retry period (seeing the last renewal) after the
            # leader's death. A try that failed otherwise waits a whole retry period.
            await asyncio.sleep(
                min(self._wait, self.timings.retry_period) or self.timings.retry_period
            )
        log.info("%s acquired the lease %s/%s", self.identity, self.namespace, self.name)
        task = asyncio.create_task(lead())
        try:
            while self.leading():
                await asyncio.sleep(min(self.timings.retry_period, self._left()))
                if self.leading():
                    await self._attempt(self._left())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _left(self) -> float:
        return max(self._valid_until - self._monotonic(), 0.0)

    async def _attempt(self, budget: float) -> bool:
        """One try to acquire or renew, cut at `budget` seconds; any error is a failed try."""
        started = self._monotonic()
        self._wait = 0.0  # known again only if this try reads the lease
        try:
            async with asyncio.timeout(budget):
                succeeded = await self._try_acquire_or_renew()
        except Exception as error:  # the API server restarting: try again next period
            log.warning("%s: acquiring or renewing the lease failed: %r", self.identity, error)
            succeeded = False
        if succeeded:
            self._valid_until = started + self.timings.renew_deadline
        return succeeded

    async def _try_acquire_or_renew(self) -> bool:
        """One GET, then a create or a compare-and-swap replace, as client-go's
        tryAcquireOrRenew: a renewal keeps acquireTime and leaseTransitions, a takeover counts
        one more transition. True when this replica wrote itself in."""
        lease = await self._store.get_lease(self.namespace, self.name)
        stamp = record_stamp(self._wall())
        # Whole seconds in a Lease: rounded up, others wait at least as long as we count on.
        duration = math.ceil(self.timings.lease_duration)
        if lease is None:
            mine = Record(self.identity, duration, stamp, stamp)
            metadata = {"name": self.name, "namespace": self.namespace}
            new = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata}
            return await self._store.create_lease(mine.written_into(new))
        record = Record.of(lease)
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()
        self._wait = wait_to_take(record, self.identity, self._monotonic() - self._observed_at)
        if self._wait > 0:
            return False
        if record.holder == self.identity:
            mine = replace(record, duration=duration, renew_time=stamp)
        else:
            mine = Record(self.identity, duration, stamp, stamp, record.transitions + 1)
        return await self._store.replace_lease(mine.written_into(lease))
