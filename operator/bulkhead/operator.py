"""kopf wiring, thin: the only module that imports kopf. Each handler hands what the watch saw
to the Manager, which fills the store and enqueues keys.

No change-detecting handlers (on.create/update/delete) are used, so kopf stores no progress
and no diff-base on the objects, and adds no finalizer: deletion is owner-reference garbage
collection alone. Every decision is recomputed from the store by the controllers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from bulkhead import settings as config
from bulkhead.api.constants import GROUP, LABEL_BATCHJOB, VERSION
from bulkhead.controllers.manager import Manager
from bulkhead.kube import REPORTING_COMPONENT, USER_AGENT, Kube
from bulkhead.metrics import Metrics
from bulkhead.runtime.leader import LeaderElector, Timings, lease_lock

OWNED_JOBS = {LABEL_BATCHJOB: kopf.PRESENT}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # One replica decides, by leader election on a Lease (runtime/leader.py): no kopf peering.
    settings.peering.standalone = True
    # The resources are fixed: no CRD watching (and no RBAC on CRDs) needed to find them.
    settings.scanning.disabled = True
    # Events are posted by the controllers, one per transition, and nothing else.
    settings.posting.enabled = False
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.watching.server_timeout = config.WATCH_SERVER_TIMEOUT
    settings.watching.client_timeout = config.WATCH_CLIENT_TIMEOUT
    # kopf's own requests are the watches and their listings: retried at most 2 s apart (its
    # default grows to 21 s), so they resume within 2 s of an API server coming back; after
    # the last retry kopf starts the request over.
    settings.networking.error_backoffs = (0.5, 1, 2, 2, 2, 2, 2, 2, 2, 2)
    metrics = Metrics()
    if config.METRICS_PORT:
        metrics.serve(config.METRICS_PORT)
    kube = Kube()
    memo.manager = Manager(kube, metrics)
    if not config.LEADER_ELECTION:
        memo.manager.start()
        return
    timings = Timings(config.LEASE_DURATION, config.RENEW_DEADLINE, config.RETRY_PERIOD)
    lock = await lease_lock(config.LEASE_NAME, config.LEASE_NAMESPACE, config.IDENTITY, USER_AGENT)
    elector = LeaderElector(lock, timings)
    kube.may_write = elector.leading
    memo.manager.start(elector, on_lost=exit_at_once)


def exit_at_once() -> None:
    """The lease is lost: exit, and let the pod restart as a standby. Everything in memory
    was built for deciding (assumed admissions, last writes), and a process that dies at any
    instant is what the operator is built to survive; client-go's controllers exit too."""
    logging.shutdown()
    os._exit(1)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.manager.stop()
    memo.manager.kube.close()


@kopf.on.event(GROUP, VERSION, "batchjobs")
async def batchjob_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.manager.event("batchjobs", type, body)


@kopf.on.event("batch", "v1", "jobs", labels=OWNED_JOBS)
async def job_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.manager.event("jobs", type, body)


@kopf.on.event(GROUP, VERSION, "dependencies")
async def dependency_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.manager.event("dependencies", type, body)


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.manager.event("namespaces", type, body)


@kopf.on.probe(id="watches", errors=kopf.ErrorsMode.PERMANENT)
async def watches(memo: kopf.Memo, **_: Any) -> str:
    """Liveness: /healthz answers 500 while a watch looks stuck (Manager.stuck_watches), so
    the kubelet restarts the operator; kopf alone would go on with a watch that tells nothing."""
    if stuck := memo.manager.stuck_watches():
        raise kopf.PermanentError(f"watches that miss changes: {', '.join(stuck)}")
    return "ok"


def configure_logging() -> None:
    logging.basicConfig(
        level=config.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handler call at INFO; that is noise at a thousand BatchJobs.
    logging.getLogger("kopf").setLevel(max(logging.getLevelName(config.LOG_LEVEL), logging.WARNING))


def run() -> None:
    configure_logging()
    kopf.run(
        clusterwide=True,
        standalone=True,
        # 0: no liveness endpoint (kopf would read a port of 0 as "none given" and take 80)
        liveness_endpoint=f"http://0.0.0.0:{config.HEALTH_PORT}/healthz"
        if config.HEALTH_PORT
        else None,
    )
