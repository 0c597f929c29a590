"""kopf wiring, thin: handlers put what the watches see into the store and enqueue keys.

No change-detecting handlers (on.create/update/delete) are used, so kopf stores no progress
and no diff-base on the objects, and adds no finalizer: deletion is owner-reference garbage
collection alone. Every decision is recomputed from the store by the controller.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from bulkhead.build import LABEL_BATCHJOB
from bulkhead.controller import Controller
from bulkhead.kube import REPORTING_COMPONENT, Kube
from bulkhead.metrics import Metrics
from bulkhead.models import GROUP, VERSION
from bulkhead.status import NAMESPACE_NOT_ALLOWED, JobView
from bulkhead.store import BatchJobView, DependencyView

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


def _controller(memo: kopf.Memo) -> Controller:
    controller: Controller = memo.controller
    return controller


@kopf.on.event(GROUP, VERSION, "batchjobs")
async def batchjob_event(
    type: str, namespace: str, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    controller = _controller(memo)
    key = (namespace, name)
    controller.store.put_batchjob(key, None if type == "DELETED" else BatchJobView.from_body(body))
    controller.queue.add(key)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED_JOBS)
async def job_event(
    type: str,
    namespace: str,
    name: str,
    labels: kopf.Labels,
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    controller = _controller(memo)
    key = (namespace, labels[LABEL_BATCHJOB])
    view = JobView.from_job(dict(body))
    controller.store.put_job(key, name, None if type == "DELETED" else view)
    if type == "DELETED":
        controller.job_gone(key, view)
    controller.queue.add(key)
    controller.poke_admission()


@kopf.on.event(GROUP, VERSION, "dependencies")
async def dependency_event(
    type: str, name: str, meta: kopf.Meta, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """A Dependency appeared, changed or went: its users may start, or wait for other reasons.

    Its own status writes (generation unchanged) need no look at the users."""
    controller = _controller(memo)
    deleted = type == "DELETED"
    controller.store.put_dependency(name, None if deleted else DependencyView.from_body(body))
    controller.poke_admission()
    generation = None if deleted else meta.get("generation")
    if not controller.dependency_generation_changed(name, generation):
        return
    for bj in controller.store.all_batchjobs():
        if any(u.get("dependency") == name for u in bj.spec.get("uses") or []):
            controller.queue.add(bj.key)


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(
    type: str, name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    """Namespace labels decide allowedNamespaces: look again at the ones that were refused."""
    controller = _controller(memo)
    controller.store.put_namespace(name, None if type == "DELETED" else dict(labels))
    for bj in controller.store.all_batchjobs():
        if bj.namespace == name and bj.reason == NAMESPACE_NOT_ALLOWED:
            controller.queue.add(bj.key)


def configure_logging() -> None:
    level = os.environ.get("BULKHEAD_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kopf logs every handler call at INFO; that is noise at a thousand BatchJobs.
    logging.getLogger("kopf").setLevel(max(logging.getLevelName(level), logging.WARNING))
