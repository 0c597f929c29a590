"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's protocol (lease
duration, renew deadline, retry period), so that of several replicas exactly one decides.

The Lease I/O is kubernetes.aio.leaderelection's LeaseLock: a GET, then a PUT that carries the
resourceVersion it read, so two candidates can never both win one update. Its LeaderElection
loop is not used: reading it (kubernetes 37.0.2), a leader can keep deciding after its lease
has passed to another replica, three ways (tests/unit/test_leader.py shows the first two on the
stock class):
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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.aio.client import ApiClient, Configuration, V1Lease, V1ObjectMeta
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.config import ConfigException, load_incluster_config, load_kube_config
from kubernetes.aio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.aio.leaderelection.resourcelock.baselock import BaseLock
from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock

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


def wait_to_take(record: LeaderElectionRecord, identity: str, unchanged_for: float) -> float:
    """How many seconds `identity` must still wait before it may write itself into a Lease
    showing `record`, which this replica has seen unchanged for `unchanged_for` seconds (by its
    own clock: the clocks of two machines are never compared). 0 when it holds the lease
    already or nobody does; else what is left of the lease duration the holder wrote."""
    if not record.holder_identity or record.holder_identity == identity:
        return 0.0
    try:
        duration = float(record.lease_duration or 0)
    except ValueError:  # not written by a client-go-style elector: wait the longest sane lease
        duration = 3600.0
    return max(duration - unchanged_for, 0.0)


def record_stamp(now: datetime) -> str:
    """An aware time as LeaseLock parses it: UTC, always with microseconds (`str(datetime)`
    drops them when they are zero, and LeaseLock then leaves the time unwritten)."""
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class LeaderElector:
    def __init__(
        self,
        lock: BaseLock,
        timings: Timings,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._lock = lock
        self.identity: str = lock.identity
        self.timings = timings
        self._monotonic = monotonic
        self._wall = wall
        self._valid_until = float("-inf")
        self._observed: dict[str, str | None] | None = None
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
        log.info(
            "%s acquired the lease %s/%s", self.identity, self._lock.namespace, self._lock.name
        )
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
        name, namespace = self._lock.name, self._lock.namespace
        found, record = await self._lock.get(name, namespace)
        stamp = record_stamp(self._wall())
        # Whole seconds in a Lease: rounded up, others wait at least as long as we count on.
        duration = str(math.ceil(self.timings.lease_duration))
        mine = LeaderElectionRecord(self.identity, duration, stamp, stamp)
        if not found:
            if isinstance(record, ApiException) and record.status == 404:
                return bool(await self._lock.create(name, namespace, mine))
            raise RuntimeError(f"reading the lease failed: {record!r}")
        assert isinstance(record, LeaderElectionRecord)
        if record.__dict__ != self._observed:
            self._observed, self._observed_at = dict(record.__dict__), self._monotonic()
        self._wait = wait_to_take(record, self.identity, self._monotonic() - self._observed_at)
        if self._wait > 0:
            return False
        if record.holder_identity == self.identity and record.acquire_time:
            # LeaseLock reads Lease times back as naive UTC
            acquired = datetime.fromisoformat(record.acquire_time).replace(tzinfo=UTC)
            mine.acquire_time = record_stamp(acquired)
        return bool(await self._lock.update(name, namespace, mine))


class CreatingLeaseLock(LeaseLock):
    """LeaseLock with a `create` that works: kubernetes 37.0.2's passes `pretty=True`, which the
    aio client's argument validation refuses (it wants a string), so the stock lock can never
    create its Lease (found on the local cluster)."""

    async def create(
        self, name: str, namespace: str, election_record: LeaderElectionRecord
    ) -> bool:
        body = V1Lease(metadata=V1ObjectMeta(name=name), spec=self.update_lease(election_record))
        try:
            await self.api_instance.create_namespaced_lease(namespace, body)
        except ApiException as error:
            if error.status != 409:  # another replica created it first: that is no error
                log.warning("creating the lease %s/%s failed: %s", namespace, name, error.reason)
            return False
        return True


async def lease_lock(name: str, namespace: str, identity: str, user_agent: str) -> LeaseLock:
    """A LeaseLock on its own aio client, configured in-cluster or from KUBECONFIG."""
    config = Configuration()
    try:
        load_incluster_config(client_configuration=config)
    except ConfigException:
        await load_kube_config(client_configuration=config)
    client = ApiClient(config)
    client.user_agent = user_agent
    return CreatingLeaseLock(name, namespace, identity, client)
