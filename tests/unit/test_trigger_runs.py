"""Triggered BatchJobs through the reconcile, on a fake API server: a CloudEvent is answered
only once the status holding its run is stored, its run's Job comes in a later pass and
carries the event; a run of another BatchJob starts exactly one run here; a cycle stalls."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bulkhead.api.constants import ANNOTATION_TRIGGER_RUN, TRIGGER_CYCLE, Key
from bulkhead.api.triggers import RunEvent
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.controllers.events import EventRouter
from bulkhead.operator import Operator
from bulkhead.policy.cloudevent import event_key
from bulkhead.runtime.reflector import Change
from bulkhead.runtime.workqueue import WorkQueue

from tests.support.factories import make_operator, spec_dict
from tests.support.fakes import METADATA, FakeKube

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
KEY = (METADATA["namespace"], METADATA["name"])
CLOUD = [{"name": "exported", "cloudEvent": {"types": ["order.exported"]}}]


def view(
    status: dict[str, Any] | None = None, name: str = METADATA["name"], **spec: Any
) -> BatchJobView:
    body: dict[str, Any] = {
        "metadata": {**METADATA, "name": name, "uid": f"uid-{name}"},
        "spec": spec_dict(**spec),
    }
    if status:
        body["status"] = status
    return BatchJobView.from_body(body)


class Harness:
    """An operator on a fake API server whose status writes land in the store, as the watch
    would bring them back."""

    def __init__(self, stored: bool = True) -> None:
        self.kube = FakeKube()
        self.operator: Operator = make_operator(self.kube, clock=lambda: NOW)
        self.stored = stored
        patch = self.kube.patch_batchjob_status

        async def patched(namespace: str, name: str, body: dict[str, Any]) -> bool:
            await patch(namespace, name, body)
            return self.stored

        self.kube.patch_batchjob_status = patched  # type: ignore[method-assign]
        create = self.kube.create_job

        async def created(job: dict[str, Any]) -> dict[str, Any]:
            body = await create(job)
            # The watch brings it back, its pod running.
            view = replace(JobView.from_job(body), active=1, ready=1)
            self.operator.deps.store.put_job(KEY, view.name, view)
            return body

        self.kube.create_job = created  # type: ignore[method-assign]

    def put(self, bj: BatchJobView) -> None:
        self.operator.deps.store.put_batchjob(bj.key, bj)

    async def reconcile(self, key: tuple[str, str] = KEY) -> None:
        await self.operator.batchjobs.reconcile(key)

    def status(self) -> dict[str, Any]:
        return self.kube.status_patches[-1]


def event(event_id: str) -> RunEvent:
    return RunEvent(id=event_id, source="/orders", type="order.exported", data='{"order": 7}')


def test_an_event_is_answered_once_its_run_is_stored_and_its_job_comes_next() -> None:
    async def scenario() -> None:
        harness = Harness()
        harness.put(view(triggers=CLOUD))
        answer = asyncio.ensure_future(harness.operator.intake.submit(KEY, "exported", event("1")))
        await asyncio.sleep(0)
        assert not answer.done()
        await harness.reconcile()
        assert await answer == "Accepted"
        assert not harness.kube.created  # the ledger first, the Job in the next pass
        [run] = harness.status()["runs"]
        assert (run["result"], run["trigger"], run["key"]) == (
            "Deferred",
            "exported",
            event_key("/orders", "1"),
        )
        assert harness.status()["triggers"][0]["runsStarted"] == 1
        await harness.reconcile()
        [job] = harness.kube.created
        key = event_key("/orders", "1")
        assert job["metadata"]["annotations"][ANNOTATION_TRIGGER_RUN] == f"exported/{key}"
        env = {
            e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["BULKHEAD_EVENT_ID"] == "1" and env["BULKHEAD_EVENT_DATA"] == '{"order": 7}'
        # Sent again once its run is running: no second run.
        again = asyncio.ensure_future(harness.operator.intake.submit(KEY, "exported", event("1")))
        await asyncio.sleep(0)
        await harness.reconcile()
        assert await again == "Duplicate"
        assert len(harness.kube.created) == 1

    asyncio.run(scenario())


def test_an_event_whose_status_write_fails_is_not_accepted() -> None:
    async def scenario() -> None:
        harness = Harness(stored=False)
        harness.put(view(triggers=CLOUD))
        answer = asyncio.ensure_future(harness.operator.intake.submit(KEY, "exported", event("1")))
        await asyncio.sleep(0)
        await harness.reconcile()
        assert await answer == "Unavailable"
        assert not harness.kube.created

    asyncio.run(scenario())


def test_a_burst_of_events_is_one_status_write() -> None:
    async def scenario() -> None:
        harness = Harness()
        harness.put(view(triggers=CLOUD, eventRuns={"maxInFlight": 2, "maxPending": 3}))
        answers = [
            asyncio.ensure_future(harness.operator.intake.submit(KEY, "exported", event(str(i))))
            for i in range(50)
        ]
        await asyncio.sleep(0)
        await harness.reconcile()
        verdicts = [await a for a in answers]
        assert verdicts.count("Accepted") == 5 and verdicts.count("Coalesced") == 45
        assert len(harness.kube.status_patches) == 1
        assert harness.status()["triggers"][0]["coalesced"] == 45

    asyncio.run(scenario())


def test_an_event_for_a_suspended_batchjob_is_told_and_starts_nothing() -> None:
    async def scenario() -> None:
        harness = Harness()
        harness.put(view(triggers=CLOUD, suspend=True))
        answer = asyncio.ensure_future(harness.operator.intake.submit(KEY, "exported", event("1")))
        await asyncio.sleep(0)
        await harness.reconcile()
        assert await answer == "Suspended"
        assert not harness.status().get("runs")

    asyncio.run(scenario())


AFTER = [{"name": "after-extract", "after": {"batchJob": "extract"}}]
EXTRACT_DONE = {
    "phase": "Succeeded",
    "jobName": "extract-1a2b3c4d",
    "completionTime": "2026-11-18T01:30:00Z",
}


def test_a_run_of_the_other_batchjob_starts_exactly_one_run() -> None:
    async def scenario() -> None:
        harness = Harness()
        harness.put(view(EXTRACT_DONE, name="extract"))
        harness.put(view(triggers=AFTER))
        for _ in range(4):  # passes: record, start, and again with nothing new
            await harness.reconcile()
            last = harness.status()
            harness.put(view(last, triggers=AFTER))
        [job] = harness.kube.created
        assert job["metadata"]["annotations"][ANNOTATION_TRIGGER_RUN] == (
            "after-extract/extract-1a2b3c4d"
        )
        [run] = harness.status()["runs"]
        assert run["jobName"] == job["metadata"]["name"]

    asyncio.run(scenario())


class RecordingQueue(WorkQueue[Key]):
    def __init__(self) -> None:
        super().__init__()
        self.added: list[Key] = []

    def add(self, key: Key, urgent: bool = False) -> None:
        self.added.append(key)


def test_the_followers_of_a_batchjob_are_reconciled_when_it_changes() -> None:
    operator = Harness().operator
    queue = RecordingQueue()
    router = EventRouter(
        operator.deps.store,
        queue,
        operator.admission,
        operator.dependencies,
        operator.health,
        operator.batchjobs,
    )
    follower, source = view(triggers=AFTER), view(EXTRACT_DONE, name="extract")
    router.batchjob_changed(Change(follower.key, follower))
    router.batchjob_changed(Change(source.key, source))
    assert queue.added == [follower.key, source.key, follower.key]
    # It no longer follows: a change of the other reconciles that one alone.
    router.batchjob_changed(Change(follower.key, view()))
    queue.added.clear()
    router.batchjob_changed(Change(source.key, source))
    assert queue.added == [source.key]


def test_after_triggers_that_make_a_cycle_stall_with_the_reason() -> None:
    async def scenario() -> None:
        harness = Harness()
        harness.put(
            view(
                EXTRACT_DONE,
                name="extract",
                triggers=[{"name": "after-load", "after": {"batchJob": METADATA["name"]}}],
            )
        )
        harness.put(view(triggers=AFTER))
        await harness.reconcile()
        status = harness.status()
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert (stalled["status"], stalled["reason"]) == ("True", TRIGGER_CYCLE)
        assert status["triggers"][0]["reason"] == TRIGGER_CYCLE
        assert not harness.kube.created and not status.get("runs")
        assert ("Warning", TRIGGER_CYCLE) in harness.kube.events

    asyncio.run(scenario())


def test_a_job_of_a_triggered_run_keeps_its_trigger_when_its_status_was_lost() -> None:
    """Created, then the operator died before the status write: the Job names its run."""

    async def scenario() -> None:
        harness = Harness()
        harness.put(view(triggers=CLOUD))
        key = event_key("/orders", "1")
        job = JobView(
            "nightly-invoices-00000000",
            owner_uid=f"uid-{METADATA['name']}",
            trigger_run=f"exported/{key}",
            created="2026-11-18T01:59:00Z",
            active=1,
            ready=1,
        )
        harness.operator.deps.store.put_job(KEY, job.name, job)
        await harness.reconcile()
        [run] = harness.status()["runs"]
        assert (run["result"], run["trigger"], run["key"]) == ("Running", "exported", key)

    asyncio.run(scenario())
