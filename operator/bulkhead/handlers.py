"""kopf wiring, thin: indexes keep what the watches see; handlers only enqueue keys.

No change-detecting handlers (on.create/update/delete) are used, so kopf stores no progress
and no diff-base on the objects, and adds no finalizer: deletion is owner-reference garbage
collection alone. Every decision is recomputed from the indexes by the controller.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from bulkhead import kopf_fixes  # noqa: F401  (applies the fix on import)
from bulkhead.build import LABEL_BATCHJOB
from bulkhead.controller import (
    BatchJobView,
    Controller,
    DependencyView,
    Views,
    holdings,
)
from bulkhead.kube import REPORTING_COMPONENT, Kube
from bulkhead.metrics import Metrics
from bulkhead.models import GROUP, VERSION
from bulkhead.status import NAMESPACE_NOT_ALLOWED, JobView

OWNED_JOBS = {LABEL_BATCHJOB: kopf.PRESENT}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # One replica owns admission (the Deployment uses strategy Recreate); no peering CRD needed.
    settings.peering.standalone = True
    # The resources are fixed: no CRD watching (and no RBAC on CRDs) needed to find them.
    settings.scanning.disabled = True
    # Events are posted by the controller, one per transition, and nothing else.
    settings.posting.enabled = False
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    metrics = Metrics()
    port = int(os.environ.get("BULKHEAD_METRICS_PORT", "8080"))
    if port:
        metrics.serve(port)
    memo.controller = Controller(Kube(), metrics)
    memo.controller.start()


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.stop()
    memo.controller.kube.close()


@kopf.index(GROUP, VERSION, "batchjobs")
def batchjob_index(namespace: str, name: str, body: kopf.Body, **_: Any) -> Any:
    return {(namespace, name): BatchJobView.from_body(body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED_JOBS)
def job_index(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return {(namespace, labels[LABEL_BATCHJOB]): JobView.from_job(dict(body))}


@kopf.index("batch", "v1", "jobs", labels=OWNED_JOBS)
def holder_index(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> Any:
    return holdings(JobView.from_job(dict(body)), namespace, labels[LABEL_BATCHJOB])


@kopf.index(GROUP, VERSION, "dependencies")
def dependency_index(name: str, body: kopf.Body, **_: Any) -> Any:
    return {name: DependencyView.from_body(body)}


@kopf.index("", "v1", "namespaces")
def namespace_index(name: str, labels: kopf.Labels, **_: Any) -> Any:
    return {name: dict(labels)}


def _controller(memo: kopf.Memo, kwargs: dict[str, Any]) -> Controller:
    controller: Controller = memo.controller
    controller.bind(
        Views(
            kwargs["batchjob_index"],
            kwargs["job_index"],
            kwargs["holder_index"],
            kwargs["dependency_index"],
            kwargs["namespace_index"],
        )
    )
    return controller


@kopf.on.event(GROUP, VERSION, "batchjobs")
async def batchjob_event(namespace: str, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    _controller(memo, kwargs).queue.add((namespace, name))


@kopf.on.event("batch", "v1", "jobs", labels=OWNED_JOBS)
async def job_event(
    type: str, namespace: str, labels: kopf.Labels, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    controller = _controller(memo, kwargs)
    key = (namespace, labels[LABEL_BATCHJOB])
    if type == "DELETED":
        controller.job_gone(key, JobView.from_job(dict(body)))
    controller.queue.add(key)
    controller.poke_admission()


@kopf.on.event(GROUP, VERSION, "dependencies")
async def dependency_event(
    type: str, name: str, meta: kopf.Meta, memo: kopf.Memo, **kwargs: Any
) -> None:
    """A Dependency appeared, changed or went: its users may start, or wait for other reasons.

    Its own status writes (generation unchanged) need no look at the users."""
    controller = _controller(memo, kwargs)
    assert controller.views is not None
    controller.poke_admission()
    generation = None if type == "DELETED" else meta.get("generation")
    if not controller.dependency_generation_changed(name, generation):
        return
    for bj in controller.views.all_batchjobs():
        if any(u.get("dependency") == name for u in bj.spec.get("uses") or []):
            controller.queue.add(bj.key)


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """Namespace labels decide allowedNamespaces: look again at the ones that were refused."""
    controller = _controller(memo, kwargs)
    assert controller.views is not None
    for bj in controller.views.all_batchjobs():
        if bj.namespace == name and bj.reason == NAMESPACE_NOT_ALLOWED:
            controller.queue.add(bj.key)


def configure_logging() -> None:
    level = os.environ.get("BULKHEAD_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kopf logs every handler call at INFO; that is noise at a thousand BatchJobs.
    logging.getLogger("kopf").setLevel(max(logging.getLevelName(level), logging.WARNING))
