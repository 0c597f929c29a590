"""The operator's own watches and listings: a watch that resumes with 410 Gone lists its kind
again, and that listing and the periodic resync delete what vanished unseen; a watch resumes
from the last version it told; a watch that tells nothing while the listings keep finding
changes is reported stuck (the liveness check)."""

from __future__ import annotations

import asyncio
from typing import Any

from bulkhead.kube.errors import Gone
from bulkhead.operator import LISTED, Operator

from tests.support.factories import make_operator, make_spec
from tests.support.fakes import OWNER, ListingKube, job

JOBS, BATCHJOBS = LISTED["jobs"][0], LISTED["batchjobs"][0]


def holders(operator: Operator) -> list[str]:
    return sorted(h.job for h in operator.deps.store.holders("orders-db"))


def versioned(body: dict[str, Any], version: str) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "resourceVersion": version}}


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_job_deleted_while_the_watch_was_gone_frees_its_units_when_it_lists_again() -> None:
    kube = ListingKube()
    kube.items[JOBS] = [job("a-1"), job("a-2")]
    operator = make_operator(kube)

    async def scenario() -> list[list[str]]:
        await operator.reflectors["batchjobs"].list()
        kube.plan(JOBS, [("MODIFIED", versioned(job("a-2"), "v9"))])  # the watch streams
        reflector = asyncio.create_task(operator.reflectors["jobs"].run())
        await settle()
        before = holders(operator)
        kube.items[JOBS] = [job("a-2")]  # a-1 deleted while the watch was away: no DELETED
        kube.plan(JOBS, Gone)  # it resumes too late; the listing after it
        await settle()
        reflector.cancel()
        return [before, holders(operator)]

    assert asyncio.run(scenario()) == [["a-1", "a-2"], ["a-2"]]


def test_a_watch_resumes_from_the_last_version_it_told_and_lists_only_after_410() -> None:
    kube = ListingKube()
    operator = make_operator(kube)

    async def scenario() -> list[tuple[str, str]]:
        kube.plan(
            JOBS,
            [("ADDED", versioned(job("a-1"), "v7"))],  # the server ends it: resume from v7
            [("BOOKMARK", {"metadata": {"resourceVersion": "v8"}})],  # resume from v8
            Gone,  # list again (v2), watch from there
        )
        reflector = asyncio.create_task(operator.reflectors["jobs"].run())
        await settle()
        reflector.cancel()
        return kube.watched_from

    assert asyncio.run(scenario()) == [(JOBS, v) for v in ("v1", "v7", "v8", "v2")]
    assert kube.listings == 2


def test_a_watch_that_tells_nothing_while_two_resyncs_find_changes_is_stuck() -> None:
    kube = ListingKube()
    operator = make_operator(kube)

    async def scenario() -> list[list[str]]:
        await operator.lifecycle.fill(fresh=True)
        seen = []
        kube.items[JOBS] = [job("a-1")]  # created; the watch tells nothing
        await operator.lifecycle.resync()
        seen.append(operator.liveness.stuck())
        kube.items[JOBS] = []  # deleted; the watch tells nothing again
        await operator.lifecycle.resync()
        seen.append(operator.liveness.stuck())
        operator.reflectors["jobs"].event("ADDED", job("a-2"))  # it streams again
        kube.items[JOBS] = [job("a-2"), job("a-3")]
        await operator.lifecycle.resync()
        seen.append(operator.liveness.stuck())
        return seen

    assert asyncio.run(scenario()) == [[], ["jobs"], []]


def test_changes_a_resync_finds_while_the_watch_streams_are_lag_not_a_stuck_watch() -> None:
    kube = ListingKube()
    operator = make_operator(kube)

    async def scenario() -> list[str]:
        await operator.lifecycle.fill(fresh=True)
        for name in ("a-1", "a-2", "a-3"):
            kube.items[JOBS].append(job(name))  # listed before the watch's event arrives
            await operator.lifecycle.resync()
            operator.reflectors["jobs"].event("ADDED", job(name))
        return operator.liveness.stuck()

    assert asyncio.run(scenario()) == []


def test_a_change_the_watch_missed_is_stored_and_its_batchjob_reconciled_after_a_resync() -> None:
    kube = ListingKube()
    operator = make_operator(kube)

    async def scenario() -> tuple[list[tuple[str, str]], str]:
        await operator.lifecycle.fill(fresh=True)
        key = await operator.deps.queue.get()  # the startup enqueues every BatchJob
        operator.deps.queue.done(key)
        kube.items[BATCHJOBS] = [{**kube.items[BATCHJOBS][0], "status": {"phase": "Running"}}]
        await operator.lifecycle.resync()
        queued = [await asyncio.wait_for(operator.deps.queue.get(), 1)]
        view = operator.deps.store.batchjob(("billing", "a"))
        return queued, view.phase if view else ""

    assert asyncio.run(scenario()) == ([("billing", "a")], "Running")


def test_admission_looks_again_only_when_a_job_changes_what_it_counts() -> None:
    """A run's Job changes about six times; admission is asked again when one appears,
    finishes or goes, not when its pods are counted again (with 5,000 waiting a pass costs
    milliseconds). Its BatchJob is reconciled every time."""
    operator = make_operator(ListingKube())
    pokes, reconciles = [], []
    operator.admission.poke = lambda: pokes.append(1)  # type: ignore[method-assign]
    operator.deps.queue.add = lambda key, urgent=False: reconciles.append(key)  # type: ignore[method-assign]
    running = job("a-1")
    ready = {**running, "status": {"active": 1, "ready": 1, "startTime": "2026-11-23T02:00:01Z"}}
    complete = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-23T02:00:09Z"}
    done = {**running, "status": {"succeeded": 1, "conditions": [complete]}}
    seen = []
    for type_, body in [
        ("ADDED", running),  # it holds a unit from now
        ("MODIFIED", ready),  # counts only
        ("MODIFIED", done),  # finished: its unit is free
        ("MODIFIED", {**done, "status": {**done["status"], "uncountedTerminatedPods": {}}}),
        ("DELETED", done),
    ]:
        operator.reflectors["jobs"].event(type_, body)
        seen.append(len(pokes))
    assert seen == [1, 1, 2, 2, 3]
    assert len(reconciles) == 5


def test_a_waiter_asks_admission_for_a_pass_only_when_what_it_waits_with_changes() -> None:
    """A waiting BatchJob is reconciled again on its own status write and on other events;
    as it was, it changes nothing a pass reads (with 5,000 waiting, a pass costs
    milliseconds). A new run or priority does."""
    operator = make_operator(ListingKube())
    dependency = {
        "metadata": {"name": "orders-db", "uid": "d1", "generation": 1},
        "spec": {"capacity": 1},
    }
    operator.reflectors["dependencies"].event("ADDED", dependency)
    operator.reflectors["batchjobs"].event("ADDED", {"metadata": OWNER, "spec": {"image": "x"}})
    bj = operator.deps.store.batchjob(("billing", "a"))
    assert bj is not None
    pokes = []
    operator.admission.poke = lambda: pokes.append(1)  # type: ignore[method-assign]
    uses = [{"dependency": "orders-db", "units": 1}]
    seen = []
    for spec, run in [
        (make_spec(uses=uses), "a-1"),  # starts to wait
        (make_spec(uses=uses), "a-1"),  # reconciled again as it was
        (make_spec(uses=uses, priority=5), "a-1"),  # its priority changed
        (make_spec(uses=uses, priority=5), "a-2"),  # another run
        (make_spec(uses=uses, priority=5), "a-2"),
    ]:
        assert operator.admission.request(bj, spec, run) is None  # no pass has decided yet
        seen.append(len(pokes))
    assert seen == [1, 1, 2, 3, 3]
    assert operator.admission.book.waiting[("billing", "a")].run == "a-2"
