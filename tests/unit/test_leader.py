"""Leader election (runtime/leader.py): the protocol's pure parts as tables, the elector on an
in-memory Lease with a clock the test moves, and why the stock LeaderElection is not used.
Its Lease requests through Kube: test_lease_requests.py."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bulkhead.kube.errors import ApiError
from bulkhead.runtime.leader import LeaderElector, Record, Timings, record_stamp, wait_to_take
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.leaderelection.electionconfig import Config
from kubernetes.aio.leaderelection.leaderelection import LeaderElection
from kubernetes.aio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.aio.leaderelection.resourcelock.baselock import BaseLock

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


def record(holder: str, duration: int = 12) -> Record:
    return Record(holder, duration, "t0", "t1")


@pytest.mark.parametrize(
    ("seen", "unchanged_for", "wait"),
    [
        (record(""), 0.0, 0.0),  # nobody holds it, or it was released
        (record("me"), 0.0, 0.0),  # ours: a renewal
        (record("other"), 5.0, 7.0),
        (record("other"), 12.0, 0.0),
        (record("other"), 30.0, 0.0),
        (record("other", 20), 12.0, 8.0),  # the holder's own duration counts
        (record("other", 0), 0.0, 0.0),  # no duration written: it holds nothing
    ],
)
def test_wait_to_take(seen, unchanged_for, wait):
    assert wait_to_take(seen, "me", unchanged_for) == wait


@pytest.mark.parametrize(
    ("now", "stamp"),
    [
        (WALL, "2026-11-23T12:00:00.000000Z"),  # isoformat() would drop the zero microseconds
        (WALL.astimezone(timezone(timedelta(hours=1))), "2026-11-23T12:00:00.000000Z"),
        (WALL + timedelta(microseconds=7), "2026-11-23T12:00:00.000007Z"),
    ],
)
def test_record_stamp_is_a_micro_time(now, stamp):
    assert record_stamp(now) == stamp


LEASE_SPEC = {
    "holderIdentity": "a",
    "leaseDurationSeconds": 12,
    "acquireTime": "2026-11-23T12:00:00.000000Z",
    "renewTime": "2026-11-23T12:00:02.000000Z",
    "leaseTransitions": 3,
}


@pytest.mark.parametrize(
    ("spec", "read"),
    [
        (LEASE_SPEC, Record("a", 12, LEASE_SPEC["acquireTime"], LEASE_SPEC["renewTime"], 3)),
        ({}, Record()),  # created by hand, empty
        ({"holderIdentity": None, "leaseTransitions": 2}, Record(transitions=2)),  # released
    ],
)
def test_a_record_reads_a_lease_spec(spec, read):
    assert Record.of({"spec": spec}) == read


def test_a_record_written_into_a_lease_keeps_its_metadata_and_other_spec_fields():
    lease = {
        "metadata": {"name": "bulkhead", "namespace": "ns", "resourceVersion": "7"},
        "spec": {**LEASE_SPEC, "strategy": "OldestEmulationVersion"},
    }
    written = Record("b", 15, "x", "y", 4).written_into(lease)
    assert written == {
        "metadata": {"name": "bulkhead", "namespace": "ns", "resourceVersion": "7"},
        "spec": {
            "holderIdentity": "b",
            "leaseDurationSeconds": 15,
            "acquireTime": "x",
            "renewTime": "y",
            "leaseTransitions": 4,
            "strategy": "OldestEmulationVersion",
        },
    }


# --- the elector on an in-memory Lease ------------------------------------------------------


@dataclass
class Store:
    """One Lease on a fake API server, as Kube's Lease requests see it: a resourceVersion that
    every write bumps, a create refused when it exists, a replace refused when stale."""

    lease: dict[str, Any] | None = None
    fail: BaseException | None = None  # raised by every call while set
    hang: bool = False  # every call waits forever while set

    async def _call(self) -> None:
        if self.fail is not None:
            raise self.fail
        if self.hang:
            await asyncio.Event().wait()

    @property
    def record(self) -> Record | None:
        return None if self.lease is None else Record.of(self.lease)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        await self._call()
        return json.loads(json.dumps(self.lease))  # a copy, as a response is

    async def create_lease(self, lease: dict[str, Any]) -> bool:
        await self._call()
        if self.lease is not None:
            return False
        self.lease = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "1"}}
        return True

    async def replace_lease(self, lease: dict[str, Any]) -> bool:
        await self._call()
        assert self.lease is not None
        version = self.lease["metadata"]["resourceVersion"]
        if lease["metadata"]["resourceVersion"] != version:
            return False
        bumped = str(int(version) + 1)
        self.lease = {**lease, "metadata": {**lease["metadata"], "resourceVersion": bumped}}
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TIMINGS = Timings(12, 8, 2)


def elector(store: Store, identity: str, clock: Clock, timings: Timings = TIMINGS) -> LeaderElector:
    # the wall clock moves with the monotonic one: each renewal writes a new renewTime
    return LeaderElector(
        store,
        "bulkhead-system",
        "bulkhead",
        identity,
        timings,
        clock,
        lambda: WALL + timedelta(seconds=clock.now),
    )


def attempt(e: LeaderElector, budget: float = 8.0) -> bool:
    return asyncio.run(e._attempt(budget))


def test_one_leader_and_a_takeover_only_a_lease_duration_after_the_last_renewal():
    store, clock = Store(), Clock()
    a, b = elector(store, "a", clock), elector(store, "b", clock)
    assert (attempt(a), attempt(b)) == (True, False)
    assert (a.leading(), b.leading()) == (True, False)
    created = "2026-11-23T12:01:40.000000Z"
    assert store.record == Record("a", 12, created, created, 0)
    clock.now += 2
    assert (attempt(a), attempt(b)) == (True, False)  # a renewed; b saw it change
    renewed = "2026-11-23T12:01:42.000000Z"
    assert store.record == Record("a", 12, created, renewed, 0), "acquired when it was"
    clock.now += 11.9  # a died: b has seen the same record for 11.9 s
    assert attempt(b) is False
    assert a.leading() is False, "a stopped deciding 8 s after its last renewal began"
    clock.now += 0.1
    assert attempt(b) is True
    taken = "2026-11-23T12:01:54.000000Z"
    assert store.record == Record("b", 12, taken, taken, 1), "one more transition"
    assert (a.leading(), b.leading()) == (False, True)


def test_a_released_lease_is_taken_at_once_and_counts_a_transition():
    store, clock = Store(), Clock()
    store.lease = Record(transitions=2).written_into(
        {"metadata": {"name": "bulkhead", "namespace": "bulkhead-system", "resourceVersion": "5"}}
    )
    assert attempt(elector(store, "a", clock)) is True
    stamp = "2026-11-23T12:01:40.000000Z"
    assert store.record == Record("a", 12, stamp, stamp, 3)


def test_leadership_ends_at_the_renew_deadline_even_if_nothing_runs():
    """A frozen process: no renewal loop ran, yet `leading()` is False on waking."""
    store, clock = Store(), Clock()
    a = elector(store, "a", clock)
    assert attempt(a) is True
    clock.now += 7.99
    assert a.leading() is True
    clock.now += 0.01
    assert a.leading() is False


@pytest.mark.parametrize(
    "trouble",
    [
        {"fail": ConnectionRefusedError("the API server restarts")},
        {"fail": ApiError("PUT /apis/coordination.k8s.io/...: 500 etcdserver: timeout")},
        {"hang": True},
    ],
    ids=["connection-refused", "server-error", "hung-request"],
)
def test_a_renewal_in_trouble_is_a_failed_attempt_within_its_budget(trouble):
    store, clock = Store(), Clock()
    a = elector(store, "a", clock)
    assert attempt(a) is True
    for field, value in trouble.items():
        setattr(store, field, value)
    assert attempt(a, budget=0.05) is False
    assert a.leading() is True, "until the renew deadline of the last success"
    clock.now += 8
    assert a.leading() is False


def test_run_returns_and_cancels_the_leading_task_once_renewals_fail():
    async def scenario() -> list[str]:
        store = Store()
        a = LeaderElector(store, "bulkhead-system", "bulkhead", "a", Timings(0.6, 0.4, 0.1))
        happened: list[str] = []

        async def lead() -> None:
            happened.append("leading")
            store.fail = ConnectionRefusedError()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                happened.append("cancelled")
                raise

        await asyncio.wait_for(a.run(lead), timeout=5)
        happened.append("returned" if not a.leading() else "returned while leading")
        return happened

    assert asyncio.run(scenario()) == ["leading", "cancelled", "returned"]


def test_a_fractional_lease_duration_is_written_rounded_up():
    """Others wait for the whole seconds written: never less than the leader counts on."""
    store, clock = Store(), Clock()
    assert attempt(elector(store, "a", clock, Timings(8.2, 8, 2))) is True
    assert store.record is not None
    assert store.record.duration == 9


# --- why not kubernetes.aio's LeaderElection --------------------------------------------------


class StockLock(BaseLock):
    """kubernetes.aio's lock contract over the in-memory Lease, for the stock loop."""

    def __init__(self, store: Store, identity: str) -> None:
        super().__init__("bulkhead", "bulkhead-system", identity)
        self.store = store
        self.seen: dict[str, Any] | None = None

    @staticmethod
    def stock(record: LeaderElectionRecord) -> Record:
        return Record(record.holder_identity, int(record.lease_duration), "t0", "t1")

    async def get(self, name, namespace):
        self.seen = await self.store.get_lease(namespace, name)
        if self.seen is None:
            return False, ApiException(status=404, reason="Not Found", body='{"code": 404}')
        record = Record.of(self.seen)
        return True, LeaderElectionRecord(record.holder, str(record.duration), "t0", "t1")

    async def create(self, name, namespace, election_record):
        metadata = {"name": name, "namespace": namespace}
        return await self.store.create_lease(
            self.stock(election_record).written_into({"metadata": metadata})
        )

    async def update(self, name, namespace, updated_record):
        assert self.seen is not None
        return await self.store.replace_lease(self.stock(updated_record).written_into(self.seen))


def test_the_stock_leader_election_leaves_the_leader_running_on_a_connection_error():
    """Why runtime/leader.py does not use kubernetes.aio's LeaderElection: an error that is not
    an ApiException ends `run()` with the leading task still running and no
    onstopped_leading, so the process would go on deciding without renewing its lease."""

    async def scenario() -> tuple[bool, list[str]]:
        store = Store()
        stopped: list[str] = []
        leading = asyncio.Event()
        forever = asyncio.Event()

        async def lead() -> None:
            leading.set()
            store.fail = ConnectionRefusedError()
            await forever.wait()

        async def on_stopped() -> None:
            stopped.append("stopped")

        stock = LeaderElection(Config(StockLock(store, "a"), 15, 10, 1, lead, on_stopped))
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(stock.run(), timeout=10)
        still_running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        running = leading.is_set() and len(still_running) == 1 and not still_running[0].done()
        for task in still_running:
            task.cancel()
        return running, stopped

    assert asyncio.run(scenario()) == (True, [])


def test_the_stock_leader_election_keeps_leading_through_a_hung_renewal():
    """The stock loop has no timeout on an attempt: with a renewal hung, its leader is still
    running a whole lease duration (3 s here) later, when a standby may have taken over."""

    async def scenario() -> tuple[bool, list[str]]:
        store = Store()
        stopped: list[str] = []

        async def lead() -> None:
            store.hang = True
            await asyncio.Event().wait()

        async def on_stopped() -> None:
            stopped.append("stopped")

        stock = asyncio.create_task(
            LeaderElection(Config(StockLock(store, "a"), 3, 2.5, 1, lead, on_stopped)).run()
        )
        await asyncio.sleep(4)  # acquired at once, then one retry period, then a lease
        still_leading = not stock.done()
        stock.cancel()
        return still_leading, stopped

    assert asyncio.run(scenario()) == (True, [])
