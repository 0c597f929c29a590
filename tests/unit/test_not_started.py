"""not_started: why a run's pods are not running, from its pods and the Job's Events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bulkhead.api.times import format_time
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.controllers.not_started import NotStartedReader
from bulkhead.policy.build import job_name
from bulkhead.policy.not_started import GRACE as NOT_STARTED_GRACE
from bulkhead.policy.not_started import MAX_RECHECK, RECHECK, NotStarted, diagnose, recheck_after
from bulkhead.runtime.workqueue import WorkQueue

from tests.support.factories import make_operator, spec_dict
from tests.support.fakes import METADATA, FakeKube

JOB = "nightly-1a2b3c4d"
QUOTA = (
    'Error creating: pods "nightly-1a2b3c4d-x7k2p" is forbidden: exceeded quota: batch, '
    "requested: cpu=1, used: cpu=2, limited: cpu=2"
)
PULL = 'Back-off pulling image "registry.example/etl:9.9"'


def pod(name: str, phase: str = "Pending", **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase, **status}}


def waiting(reason: str, message: str = "", name: str = "main") -> dict[str, Any]:
    state = {"reason": reason, **({"message": message} if message else {})}
    return {"name": name, "ready": False, "state": {"waiting": state}}


def unscheduled(message: str) -> dict[str, Any]:
    return {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }


def event(reason: str, message: str, last: str) -> dict[str, Any]:
    return {"reason": reason, "message": message, "lastTimestamp": last}


@pytest.mark.parametrize(
    ("pods", "events", "expected"),
    [
        pytest.param(
            [pod("p-1", containerStatuses=[waiting("ImagePullBackOff", PULL)])],
            [],
            NotStarted(
                "ImagePullBackOff",
                f"pod p-1 cannot start: container main is ImagePullBackOff: {PULL}",
            ),
            id="image-pull",
        ),
        pytest.param(
            [
                pod(
                    "p-1",
                    containerStatuses=[
                        waiting("CreateContainerConfigError", 'configmap "etl-config" not found')
                    ],
                )
            ],
            [],
            NotStarted(
                "CreateContainerConfigError",
                "pod p-1 cannot start: container main is CreateContainerConfigError: configmap "
                '"etl-config" not found',
            ),
            id="missing-configmap",
        ),
        pytest.param(
            [pod("p-1", initContainerStatuses=[waiting("ErrImagePull", name="init")])],
            [],
            NotStarted("ErrImagePull", "pod p-1 cannot start: container init is ErrImagePull"),
            id="init-container-no-message",
        ),
        pytest.param(
            [pod("p-1", conditions=[unscheduled("0/3 nodes are available: 3 Insufficient cpu.")])],
            [],
            NotStarted(
                "Unschedulable",
                "pod p-1 cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu.",
            ),
            id="unschedulable",
        ),
        pytest.param(
            [
                pod("p-2", containerStatuses=[waiting("ErrImagePull")]),
                pod("p-1", conditions=[unscheduled("0/3 nodes are available")]),
            ],
            [],
            NotStarted("ErrImagePull", "pod p-2 cannot start: container main is ErrImagePull"),
            id="a-container-that-cannot-start-comes-before-placement",
        ),
        pytest.param(
            [
                pod("p-2", containerStatuses=[waiting("ErrImagePull")]),
                pod("p-1", containerStatuses=[waiting("InvalidImageName")]),
            ],
            [],
            NotStarted(
                "InvalidImageName", "pod p-1 cannot start: container main is InvalidImageName"
            ),
            id="first-pod-by-name",
        ),
        pytest.param(
            [],
            [
                event("FailedCreate", "older", "2026-11-23T10:00:00Z"),
                event("FailedCreate", QUOTA, "2026-11-23T10:05:00Z"),
                event("SuccessfulCreate", "Created pod", "2026-11-23T10:06:00Z"),
            ],
            NotStarted("FailedCreate", f"Job {JOB} cannot create its pods: {QUOTA}"),
            id="quota-newest-failed-create",
        ),
        pytest.param(
            [pod("p-1", containerStatuses=[waiting("ContainerCreating")])],
            [],
            None,
            id="just-slow",
        ),
        pytest.param(
            [pod("p-1", "Running", containerStatuses=[waiting("CrashLoopBackOff")])],
            [],
            None,
            id="a-running-pod-has-started",
        ),
        pytest.param(
            [pod("p-1", "Failed", containerStatuses=[waiting("ErrImagePull")])],
            [],
            None,
            id="finished-pods-are-not-waiting",
        ),
        pytest.param([], [], None, id="nothing-reported"),
    ],
)
def test_diagnose(
    pods: list[dict[str, Any]], events: list[dict[str, Any]], expected: NotStarted | None
) -> None:
    assert diagnose(JOB, pods, events) == expected


def test_the_newest_event_wins_whichever_api_wrote_its_time() -> None:
    events = [
        {
            "reason": "FailedCreate",
            "message": "series",
            "series": {"lastObservedTime": "2026-11-23T10:09:00.000000Z"},
        },
        {"reason": "FailedCreate", "message": "core", "lastTimestamp": "2026-11-23T10:07:00Z"},
        {
            "reason": "FailedCreate",
            "message": "events.k8s.io",
            "eventTime": "2026-11-23T10:08:00.000000Z",
        },
    ]
    assert diagnose(JOB, [], events) == NotStarted(
        "FailedCreate", f"Job {JOB} cannot create its pods: series"
    )


# --- the reconcile: when it looks, what it reads, what it writes ------------------------------


class PodsKube(FakeKube):
    """A FakeKube whose run has these pods and FailedCreate Events; counts the reads."""

    def __init__(self, pods: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        super().__init__()
        self.pods, self.failed_creates, self.reads = pods, events, 0

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.reads += 1
        return self.pods

    async def list_failed_creates(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        self.reads += 1
        return self.failed_creates


RUN = job_name(METADATA["name"], METADATA["uid"])
CREATED = datetime(2026, 11, 18, 1, 0, 1, tzinfo=UTC)
RUNNING = {"phase": "Running", "reason": "Running", "jobName": RUN, "observedGeneration": 1}


def reconcile_twice(
    kube: PodsKube, run: JobView, seconds_after_create: float
) -> list[dict[str, Any]]:
    """Two reconciles of a BatchJob whose run is `run`; returns the status patches."""
    view = BatchJobView.from_body({"metadata": METADATA, "spec": spec_dict(), "status": RUNNING})
    now = CREATED + timedelta(seconds=seconds_after_create)
    operator = make_operator(kube, clock=lambda: now)
    operator.deps.store.put_batchjob(view.key, view)
    operator.deps.store.put_job(view.key, run.name, run)

    async def twice() -> None:
        await operator.batchjobs.reconcile(view.key)
        await operator.batchjobs.reconcile(view.key)

    asyncio.run(twice())
    return kube.status_patches


RAN = [("Running", "Running")]  # the status completed once (the fixture's is partial), no more


def phases(patches: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["phase"], p["reason"]) for p in patches]


def run_job(**fields: Any) -> JobView:
    return JobView(
        RUN, uid="job-uid", owner_uid=METADATA["uid"], created=format_time(CREATED), **fields
    )


def test_a_run_whose_image_cannot_be_pulled_is_pending_with_a_warning() -> None:
    kube = PodsKube([pod("p-1", containerStatuses=[waiting("ImagePullBackOff", PULL)])], [])
    patches = reconcile_twice(kube, run_job(active=1), NOT_STARTED_GRACE)
    assert phases(patches) == [("Pending", "ImagePullBackOff")]
    assert (
        patches[0]["message"] == f"pod p-1 cannot start: container main is ImagePullBackOff: {PULL}"
    )
    assert kube.events == [("Warning", "ImagePullBackOff")]
    assert kube.reads == 1  # the second reconcile kept what the first one found


def test_a_run_with_no_pods_shows_why_the_job_controller_cannot_make_them() -> None:
    kube = PodsKube([], [event("FailedCreate", QUOTA, "2026-11-18T01:00:02Z")])
    patches = reconcile_twice(kube, run_job(), NOT_STARTED_GRACE + 1)
    assert phases(patches) == [("Pending", "FailedCreate")]
    assert kube.events == [("Warning", "FailedCreate")]


def test_a_young_run_or_a_ready_one_costs_no_reads() -> None:
    young = PodsKube([pod("p-1", containerStatuses=[waiting("ErrImagePull")])], [])
    assert phases(reconcile_twice(young, run_job(active=1), NOT_STARTED_GRACE - 1)) == RAN
    ready = PodsKube([pod("p-1", containerStatuses=[waiting("ErrImagePull")])], [])
    assert phases(reconcile_twice(ready, run_job(active=1, ready=1), 600)) == RAN
    assert (young.reads, ready.reads) == (0, 0)


def test_a_run_that_had_pods_is_not_judged_by_old_events() -> None:
    kube = PodsKube([], [event("FailedCreate", QUOTA, "2026-11-18T01:00:02Z")])
    assert phases(reconcile_twice(kube, run_job(succeeded=1), 600)) == RAN
    assert kube.reads == 0


def test_the_reader_keeps_nothing_for_a_run_once_it_is_ready() -> None:
    kube = PodsKube([pod("p-1", containerStatuses=[waiting("ErrImagePull")])], [])
    later = CREATED + timedelta(seconds=600)
    reader = NotStartedReader(kube, WorkQueue(), clock=lambda: later)  # type: ignore[arg-type]
    key = ("default", METADATA["name"])

    async def looks() -> list[NotStarted | None]:
        return [
            await reader.why(key, "default", run_job(active=1)),
            await reader.why(key, "default", run_job(active=1, ready=1)),
            await reader.why(key, "default", run_job(active=1, ready=1)),
        ]

    found = asyncio.run(looks())
    assert [f.reason if f else None for f in found] == ["ErrImagePull", None, None]
    assert reader._seen == {}  # one dict per waiting run, none per BatchJob that runs


def test_a_run_that_is_only_slow_is_looked_at_less_and_less_often() -> None:
    pulling = NotStarted("ImagePullBackOff", "pod p-1 cannot start")
    quiet = [recheck_after(None, looks) for looks in range(6)]
    assert quiet == [RECHECK, 2 * RECHECK, 4 * RECHECK, 8 * RECHECK, MAX_RECHECK, MAX_RECHECK]
    assert recheck_after(pulling, 5) == RECHECK  # something is wrong: follow its fix
