"""The composition root and the kopf wiring: the only module that imports kopf. kopf runs the
process (start-up, clean-up, logging, the liveness endpoint); the watches are the operator's
own reflectors (see runtime/reflector.py for why), so kopf handles no resource: it stores no
progress and no diff-base on the objects, and adds no finalizer: deletion is owner-reference
garbage collection alone. Every decision is recomputed from the store by the controllers.

`Operator` builds every controller, once, from one `Deps`: no controller builds another.

The process never imports the official client (`kubernetes`, 10 MiB of RSS): kube/ talks to
the API server itself, and kopf logs in with `login` below instead of its client-based default
(bulkhead/__main__.py keeps kopf from importing the client on its own).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import kopf

from bulkhead import __version__
from bulkhead.api.constants import GROUP, LABEL_BATCHJOB, VERSION, Key
from bulkhead.api.views import BatchJobView, DependencyView, JobView
from bulkhead.controllers.admission import AdmissionController
from bulkhead.controllers.backlog import BacklogPoller
from bulkhead.controllers.batchjob import BatchJobController
from bulkhead.controllers.cloudevents import CloudEventsEndpoint, tls_context
from bulkhead.controllers.dependency import DependencyController
from bulkhead.controllers.events import EventRouter
from bulkhead.controllers.health import HealthController
from bulkhead.controllers.lifecycle import Lifecycle
from bulkhead.controllers.not_started import NotStartedReader
from bulkhead.controllers.schedule import ScheduleController
from bulkhead.controllers.signals import SignalReader
from bulkhead.kube.client import Kube
from bulkhead.kube.connection import Connection, in_cluster
from bulkhead.kube.errors import Gone
from bulkhead.metrics import Metrics
from bulkhead.monitoring import Monitoring
from bulkhead.policy import alerting
from bulkhead.runtime.leader import LeaderElector, Timings
from bulkhead.runtime.liveness import WatchLiveness
from bulkhead.runtime.reflector import Change, Reflector, Watching
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.settings import Settings
from bulkhead.state.intake import EventIntake
from bulkhead.state.store import Store
from bulkhead.state.watched import WatchedKind

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# What the store lists and watches: kind -> path, label selector.
LISTED = {
    "batchjobs": (f"/apis/{GROUP}/{VERSION}/batchjobs", ""),
    "jobs": ("/apis/batch/v1/jobs", LABEL_BATCHJOB),
    "dependencies": (f"/apis/{GROUP}/{VERSION}/dependencies", ""),
    "namespaces": ("/api/v1/namespaces", ""),
}


def wall_clock() -> datetime:
    return datetime.now(UTC)


def user_agent(identity: str) -> str:
    """The operator's User-Agent: its version and the replica's identity, which tells replicas
    apart in the API server's audit log."""
    return f"bulkhead/{__version__} ({identity})"


@dataclass(frozen=True)
class Deps:
    """What the controllers are built from, made once per process: the API client, the store,
    the work queue, the metrics, the signals' client (health, backlog), the clock and the
    settings."""

    kube: Kube
    store: Store
    queue: WorkQueue[Key]
    metrics: Metrics
    monitoring: Monitoring
    clock: Callable[[], datetime]
    settings: Settings


def fresh_deps(
    kube: Kube, metrics: Metrics, settings: Settings, clock: Callable[[], datetime] = wall_clock
) -> Deps:
    """The Deps of an operator that starts now: `kube`, `metrics`, `settings` and `clock`, with
    an empty store, work queue and signals' client."""
    return Deps(kube, Store(), WorkQueue(), metrics, Monitoring(), clock, settings)


class Operator:
    def __init__(self, deps: Deps) -> None:
        """Every controller, the event router, a reflector per watched kind and their
        lifecycle, built from `deps`."""
        kube, store, queue, metrics, clock = (
            deps.kube,
            deps.store,
            deps.queue,
            deps.metrics,
            deps.clock,
        )
        self.deps = deps
        # Health signals and backlog triggers read their sources alike, sharing a Secret cache.
        signals = SignalReader(kube, deps.monitoring, deps.settings.namespace)
        # Backlog triggers' readings, for the BatchJob reconcile (which calls ensure, reading
        # and forget); a reading that tells something new enqueues its BatchJob.
        self.backlog = BacklogPoller(signals, queue.add, clock)

        # CloudEvents from the endpoint wait here for their BatchJob's reconcile to record them;
        # this replica decides while it may write (leader election sets kube.may_write later).
        def takes(key: Key, trigger: str) -> bool:
            found = store.batchjob(key)
            return found is not None and trigger in found.cloud_events

        self.intake = EventIntake(queue.add, leading=lambda: kube.may_write(), takes=takes)
        # Health and admission need each other: health reads what admission counts in use,
        # and asks it for a pass after a step.
        self.health = HealthController(
            kube,
            store,
            metrics,
            signals,
            clock,
            in_use=lambda name: self.admission.in_use(name),
            changed=lambda: self.admission.poke(),
        )
        self.dependencies = DependencyController(kube, store, metrics, clock, self.health)
        self.admission = AdmissionController(store, queue, clock, self.dependencies, self.health)
        not_started = NotStartedReader(kube, queue, clock)
        # A scheduled BatchJob's status is written by the BatchJob controller (one record of
        # our own writes for both), which is built after: its write is looked up late.
        schedules = ScheduleController(
            kube,
            store,
            queue,
            metrics,
            clock,
            self.admission,
            not_started,
            write=lambda bj, current, outcome, events, prompt: self.batchjobs.write(
                bj, current, outcome, events, prompt=prompt
            ),
            intake=self.intake,
            backlogs=self.backlog,
        )
        self.batchjobs = BatchJobController(
            kube, store, queue, metrics, clock, self.admission, schedules, not_started
        )
        self.liveness = WatchLiveness()
        self.reflectors = self._reflectors(
            EventRouter(
                store, queue, self.admission, self.dependencies, self.health, self.batchjobs
            )
        )
        self.lifecycle = Lifecycle(
            store,
            queue,
            metrics,
            list(self.reflectors.values()),
            self.admission,
            self.health,
            self.batchjobs,
            deps.settings.workers,
            deps.settings.resync_period,
        )
        metrics.read_store(
            phases=self._count_phases, failed=self._failed, deadline_missed=self._deadline_missed
        )
        metrics.read_watches(LISTED, self.liveness.stuck)

    def _reflectors(self, events: EventRouter) -> dict[str, Reflector[Any, Any]]:
        """A reflector per kind in LISTED, each into the store and to its kind's callback."""
        deps = self.deps
        metrics, store = deps.metrics, deps.store
        watching = Watching(
            deps.kube,
            deps.settings.watch_server_timeout,
            deps.settings.watch_client_timeout,
            expired=Gone,
            liveness=self.liveness,
            told=lambda kind: metrics.watch_events.labels(kind).inc(),
            missed=lambda kind, count: metrics.missed_changes.labels(kind).inc(count),
        )

        def reflector(
            kind: str, cache: WatchedKind[K, V], changed: Callable[[Change[K, V]], None]
        ) -> Reflector[K, V]:
            path, selector = LISTED[kind]
            relisted = partial(events.relisted, changed)
            return Reflector(kind, path, selector, watching, cache, changed, relisted)

        return {
            "batchjobs": reflector(
                "batchjobs",
                WatchedKind[Key, BatchJobView](store, "batchjobs"),
                events.batchjob_changed,
            ),
            "jobs": reflector(
                "jobs",
                WatchedKind[Key, JobView](
                    store, "jobs", before=lambda owner, job: store.job(owner, job.name)
                ),
                events.job_changed,
            ),
            "dependencies": reflector(
                "dependencies",
                WatchedKind[str, DependencyView](store, "dependencies"),
                events.dependency_changed,
            ),
            "namespaces": reflector(
                "namespaces",
                WatchedKind[str, dict[str, str]](store, "namespaces"),
                events.namespace_changed,
            ),
        }

    def start(
        self, elector: LeaderElector | None = None, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        """Starts the reflectors and the deciding (Lifecycle.start)."""
        self.lifecycle.start(elector, on_lost)

    async def stop(self) -> None:
        await self.lifecycle.stop()
        self.backlog.stop()
        self.intake.stop()
        await self.deps.monitoring.close()

    # --- what the metrics read -------------------------------------------------------------

    def _count_phases(self) -> Counter[str]:
        return Counter(bj.phase or "Pending" for bj in self.deps.store.all_batchjobs())

    def _failed(self) -> list[tuple[Key, str]]:
        return [
            (bj.key, reason)
            for bj in self.deps.store.all_batchjobs()
            if (reason := alerting.failed_reason(bj)) is not None
        ]

    def _deadline_missed(self) -> list[Key]:
        return [bj.key for bj in self.deps.store.all_batchjobs() if alerting.deadline_missed(bj)]


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
    """Builds the operator from the settings `run` read (`memo.settings`; `settings` is kopf's
    own) and starts it, behind leader election when they ask for it."""
    # One replica decides, by leader election on a Lease (runtime/leader.py): no kopf peering.
    settings.peering.standalone = True
    # No resource is kopf's: no CRD watching (and no RBAC on CRDs) needed to find them.
    settings.scanning.disabled = True
    # Events are posted by the controllers, one per transition, and nothing else.
    settings.posting.enabled = False
    ours: Settings = memo.settings
    metrics = Metrics()
    if ours.metrics_port:
        metrics.serve(ours.metrics_port)
    kube = Kube(connection(settings), user_agent(ours.identity))
    kube.sent = lambda method: metrics.api_requests.labels(method).inc()
    memo.operator = Operator(fresh_deps(kube, metrics, ours))
    if not ours.leader_election:
        memo.operator.start()
    else:
        timings = Timings(ours.lease_duration, ours.renew_deadline, ours.retry_period)
        elector = LeaderElector(kube, ours.lease_namespace, ours.lease_name, ours.identity, timings)
        kube.may_write = elector.leading
        memo.operator.start(elector, on_lost=exit_at_once)
    await serve_events(memo, kube, metrics)


async def serve_events(memo: kopf.Memo, kube: Kube, metrics: Metrics) -> None:
    """The CloudEvents endpoint, on every replica (a standby answers NotLeader), unless its
    port is 0; HTTPS when a certificate is set."""
    ours: Settings = memo.settings
    if ours.events_port:
        memo.events = CloudEventsEndpoint(kube, memo.operator.intake, metrics)
        tls = tls_context(ours.events_tls_cert, ours.events_tls_key)
        await memo.events.start(ours.events_address, ours.events_port, tls)


def exit_at_once() -> None:
    """The lease is lost: exit, and let the pod restart as a standby. Everything in memory
    was built for deciding (assumed admissions, last writes), and a process that dies at any
    instant is what the operator is built to survive; client-go's controllers exit too."""
    logging.shutdown()
    os._exit(1)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if (events := memo.get("events")) is not None:
        await events.stop()
    await memo.operator.stop()
    await memo.operator.deps.kube.close()


@kopf.on.probe(id="watches", errors=kopf.ErrorsMode.PERMANENT)
async def watches(memo: kopf.Memo, **_: Any) -> str:
    """Liveness: /healthz answers 500 while a watch looks stuck (WatchLiveness.stuck), so the
    kubelet restarts the operator; kopf alone would go on with a watch that tells nothing."""
    if stuck := memo.operator.liveness.stuck():
        raise kopf.PermanentError(f"watches that miss changes: {', '.join(stuck)}")
    return "ok"


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kopf logs every handler call at INFO; that is noise at a thousand BatchJobs.
    logging.getLogger("kopf").setLevel(max(logging.getLevelName(level), logging.WARNING))


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
    """Runs the operator with the settings of this process's environment, until it is
    stopped."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level)
    factory = loop_factory()
    freeze_startup_objects()
    with asyncio.Runner(loop_factory=factory) as runner:
        kopf.run(
            loop=runner.get_loop(),
            clusterwide=True,
            standalone=True,
            memo=kopf.Memo(settings=settings),
            # 0: no liveness endpoint (kopf would read a port of 0 as "none given" and take 80)
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz"
            if settings.health_port
            else None,
        )
