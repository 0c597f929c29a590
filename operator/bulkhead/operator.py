"""kopf wiring, thin: the only module that imports kopf. kopf runs the process (start-up,
clean-up, logging, the liveness endpoint); the watches are the Manager's own (see
controllers/manager.py for why), so kopf handles no resource: it stores no progress and no
diff-base on the objects, and adds no finalizer: deletion is owner-reference garbage collection
alone. Every decision is recomputed from the store by the controllers.

The process never imports the official client (`kubernetes`, 10 MiB of RSS): kube.py talks to
the API server itself, and kopf logs in with `login` below instead of its client-based default
(bulkhead/__main__.py keeps kopf from importing the client on its own).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable
from typing import Any

import kopf

from bulkhead import settings as config
from bulkhead.controllers.manager import Manager
from bulkhead.kube import Connection, Kube, in_cluster
from bulkhead.metrics import Metrics
from bulkhead.runtime.leader import LeaderElector, Timings


def connection(settings: kopf.OperatorSettings) -> Connection:
    """The API server and the credentials: the pod's ServiceAccount in-cluster, else the
    current context of $KUBECONFIG (several paths: the first value of each wins) or
    ~/.kube/config, read by kopf's kubeconfig reader (a token, client certificates and a CA as
    files or data, insecure-skip-tls-verify; no exec plugins: those are for people, whose
    kubectl plugin keeps the official loaders). Raises kopf.LoginError when there is neither."""
    found = in_cluster()
    if found is not None:
        return found
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("not in a pod, and no kubeconfig ($KUBECONFIG or ~/.kube/config)")

    def text(value: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None) -> str | None:
        return None if value is None else os.fsdecode(value)  # kopf's types allow bytes, paths

    return Connection(
        server=info.server,
        ca_file=text(info.ca_path),
        ca_data=text(info.ca_data),
        insecure=bool(info.insecure),
        token=info.token,
        cert_file=text(info.certificate_path),
        cert_data=text(info.certificate_data),
        key_file=text(info.private_key_path),
        key_data=text(info.private_key_data),
    )


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials, from the operator's own connection: registering a login handler
    keeps kopf from its default ones, which would import the official client."""
    found = connection(settings)
    return kopf.ConnectionInfo(
        server=found.server,
        ca_path=found.ca_file,
        ca_data=found.ca_data,
        insecure=found.insecure,
        token=found.current_token(),
        certificate_path=found.cert_file,
        certificate_data=found.cert_data,
        private_key_path=found.key_file,
        private_key_data=found.key_data,
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # One replica decides, by leader election on a Lease (runtime/leader.py): no kopf peering.
    settings.peering.standalone = True
    # No resource is kopf's: no CRD watching (and no RBAC on CRDs) needed to find them.
    settings.scanning.disabled = True
    # Events are posted by the controllers, one per transition, and nothing else.
    settings.posting.enabled = False
    metrics = Metrics()
    if config.METRICS_PORT:
        metrics.serve(config.METRICS_PORT)
    kube = Kube(connection(settings))
    kube.sent = lambda method: metrics.api_requests.labels(method).inc()
    memo.manager = Manager(kube, metrics)
    if not config.LEADER_ELECTION:
        memo.manager.start()
        return
    timings = Timings(config.LEASE_DURATION, config.RENEW_DEADLINE, config.RETRY_PERIOD)
    elector = LeaderElector(
        kube, config.LEASE_NAMESPACE, config.LEASE_NAME, config.IDENTITY, timings
    )
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
    await memo.manager.kube.close()


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


def freeze_startup_objects() -> None:
    """What the imports made (modules, classes, pydantic's validators: some 60,000 objects) lives
    as long as the process: out of the garbage collector's sight, a full collection need not
    scan it again. A restart with 10,000 BatchJobs and their Jobs at rest runs a dozen full
    collections while it lists them: 2.5 CPU-s without this, 1.35 with it (the best of five
    runs of bench/offline_restart.py --jobs)."""
    gc.collect()
    gc.freeze()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (everywhere but Windows), else asyncio's own
    (None). Its sockets, timers and TLS are C: at N=1,000 the operator's CPU per BatchJob went
    from 6.6-6.9 ms to 4.9-5.7 (bench/run.py, the BatchJobs phase, runs back to back)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run() -> None:
    configure_logging()
    factory = loop_factory()
    freeze_startup_objects()
    with asyncio.Runner(loop_factory=factory) as runner:
        kopf.run(
            loop=runner.get_loop(),
            clusterwide=True,
            standalone=True,
            # 0: no liveness endpoint (kopf would read a port of 0 as "none given" and take 80)
            liveness_endpoint=f"http://0.0.0.0:{config.HEALTH_PORT}/healthz"
            if config.HEALTH_PORT
            else None,
        )
