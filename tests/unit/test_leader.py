"""Leader election (runtime/leader.py): the protocol's pure parts as tables, the elector on an
in-memory Lease with a clock the test moves, and why the stock LeaderElection is not used."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import kubernetes
import pydantic
import pytest
from bulkhead.kube import Kube, NotLeader
from bulkhead.runtime.leader import (
    CreatingLeaseLock,
    LeaderElector,
    Timings,
    record_stamp,
    wait_to_take,
)
from kubernetes.aio.client import ApiClient, Configuration
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.leaderelection.electionconfig import Config
from kubernetes.aio.leaderelection.leaderelection import LeaderElection
from kubernetes.aio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.aio.leaderelection.resourcelock.baselock import BaseLock
from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock

WALL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("durations", "error"),
    [
        ((12, 8, 2), None),
        ((15, 10, 2), None),
        ((8, 8, 2), "lease duration must be greater than the renew deadline"),
        ((12, 2.4, 2), "renew deadline must be greater than 1.2 retry periods"),
        ((12, 8, 0), "retry period must be positive"),
    ],
)
def test_timings_keep_client_gos_constraints(durations, error):
    if error is None:
        assert Timings(*durations) == Timings(*durations)
    else:
        with pytest.raises(ValueError, match=error):
            Timings(*durations)


def record(holder: str | None, duration: str | None = "12") -> LeaderElectionRecord:
    return LeaderElectionRecord(holder, duration, "t0", "t1")


@pytest.mark.parametrize(
    ("seen", "unchanged_for", "wait"),
    [
        (record(None), 0.0, 0.0),  # nobody holds it
        (record(""), 0.0, 0.0),  # released
        (record("me"), 0.0, 0.0),  # ours: a renewal
        (record("other"), 5.0, 7.0),
        (record("other"), 12.0, 0.0),
        (record("other"), 30.0, 0.0),
        (record("other", "20"), 12.0, 8.0),  # the holder's own duration counts
        (record("other", "soon"), 0.0, 3600.0),  # unreadable: the longest sane lease
    ],
)
def test_wait_to_take(seen, unchanged_for, wait):
    assert wait_to_take(seen, "me", unchanged_for) == wait


@pytest.mark.parametrize(
    ("now", "stamp"),
    [
        (WALL, "2026-11-23 12:00:00.000000"),  # str() would drop the zero microseconds
        (WALL.astimezone(timezone(timedelta(hours=1))), "2026-11-23 12:00:00.000000"),
        (WALL + timedelta(microseconds=7), "2026-11-23 12:00:00.000007"),
    ],
)
def test_record_stamp_is_utc_with_microseconds(now, stamp):
    assert record_stamp(now) == stamp


# --- the elector on an in-memory Lease ------------------------------------------------------


@dataclass
class Lease:
    """One Lease object on a fake API server: a version that every write bumps."""

    record: LeaderElectionRecord | None = None
    version: int = 0
    fail: BaseException | None = None  # raised by every call while set
    hang: bool = False  # every call waits forever while set


class FakeLock(BaseLock):
    """LeaseLock's contract (get, then an update that fails if the Lease changed meanwhile)."""

    def __init__(self, lease: Lease, identity: str) -> None:
        super().__init__("bulkhead", "bulkhead-system", identity)
        self.lease = lease
        self.seen = -1

    async def _call(self) -> None:
        if self.lease.fail is not None:
            raise self.lease.fail
        if self.lease.hang:
            await asyncio.Event().wait()

    async def get(self, name, namespace):
        await self._call()
        if self.lease.record is None:
            return False, ApiException(status=404, reason="Not Found", body='{"code": 404}')
        self.seen = self.lease.version
        return True, LeaderElectionRecord(**self.lease.record.__dict__)

    async def create(self, name, namespace, election_record):
        await self._call()
        if self.lease.record is not None:
            return False
        self.lease.record, self.lease.version = election_record, 1
        return True

    async def update(self, name, namespace, updated_record):
        await self._call()
        if self.seen != self.lease.version:
            return False
        self.lease.record, self.lease.version = updated_record, self.lease.version + 1
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TIMINGS = Timings(12, 8, 2)


def elector(lease: Lease, identity: str, clock: Clock) -> LeaderElector:
    # the wall clock moves with the monotonic one: each renewal writes a new renewTime
    return LeaderElector(
        FakeLock(lease, identity), TIMINGS, clock, lambda: WALL + timedelta(seconds=clock.now)
    )


def attempt(e: LeaderElector, budget: float = 8.0) -> bool:
    return asyncio.run(e._attempt(budget))


def test_one_leader_and_a_takeover_only_a_lease_duration_after_the_last_renewal():
    lease, clock = Lease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    assert (attempt(a), attempt(b)) == (True, False)
    assert (a.leading(), b.leading()) == (True, False)
    clock.now += 2
    assert (attempt(a), attempt(b)) == (True, False)  # a renewed; b saw it change
    clock.now += 11.9  # a died: b has seen the same record for 11.9 s
    assert attempt(b) is False
    assert a.leading() is False, "a stopped deciding 8 s after its last renewal began"
    clock.now += 0.1
    assert attempt(b) is True
    assert lease.record is not None
    assert (lease.record.holder_identity, lease.record.acquire_time) == (
        "b",
        "2026-11-23 12:01:54.000000",
    )
    assert (a.leading(), b.leading()) == (False, True)


def test_leadership_ends_at_the_renew_deadline_even_if_nothing_runs():
    """A frozen process: no renewal loop ran, yet `leading()` is False on waking."""
    lease, clock = Lease(), Clock()
    a = elector(lease, "a", clock)
    assert attempt(a) is True
    clock.now += 7.99
    assert a.leading() is True
    clock.now += 0.01
    assert a.leading() is False


@pytest.mark.parametrize(
    "trouble",
    [
        {"fail": ConnectionRefusedError("the API server restarts")},
        {"fail": ApiException(status=500, reason="etcd")},
        {"hang": True},
    ],
    ids=["connection-refused", "server-error", "hung-request"],
)
def test_a_renewal_in_trouble_is_a_failed_attempt_within_its_budget(trouble):
    lease, clock = Lease(), Clock()
    a = elector(lease, "a", clock)
    assert attempt(a) is True
    for field, value in trouble.items():
        setattr(lease, field, value)
    assert attempt(a, budget=0.05) is False
    assert a.leading() is True, "until the renew deadline of the last success"
    clock.now += 8
    assert a.leading() is False


def test_run_returns_and_cancels_the_leading_task_once_renewals_fail():
    async def scenario() -> list[str]:
        lease = Lease()
        a = LeaderElector(FakeLock(lease, "a"), Timings(0.6, 0.4, 0.1))
        happened: list[str] = []

        async def lead() -> None:
            happened.append("leading")
            lease.fail = ConnectionRefusedError()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                happened.append("cancelled")
                raise

        await asyncio.wait_for(a.run(lead), timeout=5)
        happened.append("returned" if not a.leading() else "returned while leading")
        return happened

    assert asyncio.run(scenario()) == ["leading", "cancelled", "returned"]


def test_the_stock_leader_election_leaves_the_leader_running_on_a_connection_error():
    """Why runtime/leader.py does not use kubernetes.aio's LeaderElection: an error that is not
    an ApiException ends `run()` with the leading task still running and no
    onstopped_leading, so the process would go on deciding without renewing its lease."""

    async def scenario() -> tuple[bool, list[str]]:
        lease = Lease()
        stopped: list[str] = []
        leading = asyncio.Event()
        forever = asyncio.Event()

        async def lead() -> None:
            leading.set()
            lease.fail = ConnectionRefusedError()
            await forever.wait()

        async def on_stopped() -> None:
            stopped.append("stopped")

        stock = LeaderElection(Config(FakeLock(lease, "a"), 15, 10, 1, lead, on_stopped))
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(stock.run(), timeout=10)
        still_running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        running = leading.is_set() and len(still_running) == 1 and not still_running[0].done()
        for task in still_running:
            task.cancel()
        return running, stopped

    assert asyncio.run(scenario()) == (True, [])


def test_kube_refuses_a_write_before_sending_it_when_not_the_leader():
    config = kubernetes.client.Configuration(host="http://127.0.0.1:9")  # nothing listens
    kube = Kube(config)
    kube.may_write = lambda: False

    async def scenario() -> None:
        try:
            with pytest.raises(NotLeader, match="POST /api/v1/namespaces/ns/events: not the"):
                await kube.create("/api/v1/namespaces/ns/events", {})
            # a read is still sent (and here finds nothing listening)
            with pytest.raises(aiohttp.ClientConnectionError):
                await kube.get("/api/v1/namespaces")
        finally:
            await kube.close()

    asyncio.run(scenario())


def test_the_stock_lease_lock_cannot_create_a_lease_and_ours_can():
    """kubernetes 37.0.2's LeaseLock.create passes pretty=True, refused before any request."""

    async def create(lock_class: type[LeaseLock]) -> BaseException | bool:
        client = ApiClient(Configuration(host="http://127.0.0.1:9"))  # nothing listens
        lock = lock_class("bulkhead", "bulkhead-system", "a", client)
        try:
            return await lock.create("bulkhead", "bulkhead-system", record("a"))
        except Exception as error:
            return error
        finally:
            await client.close()

    stock = asyncio.run(create(LeaseLock))
    assert isinstance(stock, pydantic.ValidationError)
    assert "pretty" in str(stock)
    ours = asyncio.run(create(CreatingLeaseLock))
    assert isinstance(ours, aiohttp.ClientConnectionError), "sent: only the network failed"


def test_the_stock_leader_election_keeps_leading_through_a_hung_renewal():
    """The stock loop has no timeout on an attempt: with a renewal hung, its leader is still
    running a whole lease duration (3 s here) later, when a standby may have taken over."""

    async def scenario() -> tuple[bool, list[str]]:
        lease = Lease()
        stopped: list[str] = []

        async def lead() -> None:
            lease.hang = True
            await asyncio.Event().wait()

        async def on_stopped() -> None:
            stopped.append("stopped")

        stock = asyncio.create_task(
            LeaderElection(Config(FakeLock(lease, "a"), 3, 2.5, 1, lead, on_stopped)).run()
        )
        await asyncio.sleep(4)  # acquired at once, then one retry period, then a lease
        still_leading = not stock.done()
        stock.cancel()
        return still_leading, stopped

    assert asyncio.run(scenario()) == (True, [])


def test_a_fractional_lease_duration_is_written_rounded_up():
    """Others wait for the whole seconds written: never less than the leader counts on."""
    lease, clock = Lease(), Clock()
    a = LeaderElector(FakeLock(lease, "a"), Timings(8.2, 8, 2), clock, lambda: WALL)
    assert attempt(a) is True
    assert lease.record is not None
    assert lease.record.lease_duration == "9"
