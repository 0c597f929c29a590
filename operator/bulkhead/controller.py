"""The reconciler: level-triggered, one BatchJob key at a time, everything read from the cluster.

The store (bulkhead.store) holds what the watches saw (BatchJobs, their Jobs, Dependencies,
namespaces); the handlers fill it and enqueue keys. A worker takes a key, recomputes what
should be true from the store with the pure functions, and writes the difference: a Job
create (deterministic name, so a repeat is a harmless 409) or one status patch. Nothing here
must survive a restart: the caches below only remember our own writes until the watch shows
them back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bulkhead import admission, status
from bulkhead.build import LABEL_BATCHJOB, LABEL_BATCHJOB_UID, build_job, job_name
from bulkhead.kube import Conflict, Invalid, Kube, now
from bulkhead.metrics import Metrics
from bulkhead.models import (
    GROUP,
    VERSION,
    BatchJobSpec,
    BatchJobStatus,
    DependencySpec,
    DependencyStatus,
    QueuePosition,
)
from bulkhead.store import BatchJobView, DependencyView, Key, Store, fill

log = logging.getLogger(__name__)

# Reconciles in flight; each waits on the API server most of the time.
WORKERS = int(os.environ.get("BULKHEAD_WORKERS", "16"))
# Count-only changes (pods started, shards done) are written at most this often per BatchJob;
# phase and reason changes are written at once.
PROGRESS_INTERVAL = 5.0
DEPENDENCY_STATUS_INTERVAL = 1.0
QUEUE_REFRESH_INTERVAL = 15.0
ADMISSION_COALESCE = 0.02
WINDOW_RECHECK = 15.0
# What the store is filled with at startup: kind, path, label selector.
LISTED = (
    ("batchjobs", f"/apis/{GROUP}/{VERSION}/batchjobs", ""),
    ("jobs", "/apis/batch/v1/jobs", LABEL_BATCHJOB),
    ("dependencies", f"/apis/{GROUP}/{VERSION}/dependencies", ""),
    ("namespaces", "/api/v1/namespaces", ""),
)


class WorkQueue:
    """Each key is worked on by one worker at a time; a key changed meanwhile is redone once."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)


def utcnow() -> datetime:
    return datetime.now(UTC)


def explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics; no selector allows everyone."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


class Controller:
    def __init__(
        self,
        kube: Kube,
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.metrics = metrics
        self.clock = clock
        self.store = Store()
        self.queue = WorkQueue()
        # Our own writes, until the watch shows them back (then the store is the truth again).
        self._written: dict[Key, tuple[str, BatchJobStatus]] = {}  # key -> (uid, status)
        self._last_write: dict[Key, float] = {}
        # Admission state: who waits, what was admitted but is not in the store yet.
        self._waiting: dict[Key, admission.Candidate] = {}
        # The latest admission decision for each waiter, and the one its status shows.
        self._decided: dict[Key, admission.Wait] = {}
        self._shown: dict[Key, admission.Wait] = {}
        self._admitted: dict[Key, admission.Candidate] = {}
        self._admission_wanted = asyncio.Event()
        # Dependency status: the latest wanted, what was written when, who is writing.
        self._dependency_wanted: dict[str, dict[str, Any]] = {}
        self._dependency_written: dict[str, tuple[float, dict[str, Any]]] = {}
        self._dependency_writers: set[str] = set()
        self._dependency_generations: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._gone: dict[Key, status.JobView] = {}
        self._refresh_pending: set[Key] = set()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.metrics.bind(self)
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]
        self._tasks.append(asyncio.create_task(self._admission_loop()))
        self._tasks.append(asyncio.create_task(self._fill()))

    async def _fill(self) -> None:
        """One paginated LIST per resource, so the store is complete before any decision."""
        while True:
            try:
                for kind, path, selector in LISTED:
                    fill(self.store, kind, await self.kube.list_items(path, selector))
                break
            except Exception:
                log.exception("listing at startup failed; retrying in 2s")
                await asyncio.sleep(2)
        self.store.mark_ready()
        for bj in self.store.all_batchjobs():
            self.queue.add(bj.key)
        self.poke_admission()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def dependency_generation_changed(self, name: str, generation: int | None) -> bool:
        """True when a Dependency is new, gone, or its spec changed since last seen."""
        changed = self._dependency_generations.get(name) != generation
        if generation is None:
            self._dependency_generations.pop(name, None)
        else:
            self._dependency_generations[name] = generation
        return changed

    def poke_admission(self) -> None:
        self._admission_wanted.set()

    async def _worker(self) -> None:
        await self.store.ready.wait()
        while True:
            key = await self.queue.get()
            try:
                self.metrics.reconciles.inc()
                await self.reconcile(key)
            except Exception:
                log.exception("reconcile of %s/%s failed; retrying in 5s", *key)
                self.queue.add_after(key, 5.0)
            finally:
                self.queue.done(key)

    # --- one BatchJob --------------------------------------------------------------------

    def _current(self, bj: BatchJobView) -> BatchJobStatus | None:
        seen = BatchJobStatus.model_validate_json(bj.status_json) if bj.status_json else None
        uid, written = self._written.get(bj.key, ("", None))
        if written is None or uid != bj.uid:
            return seen
        if seen == written:
            del self._written[bj.key]
        return written

    async def reconcile(self, key: Key) -> None:
        bj = self.store.batchjob(key)
        if bj is None or bj.deleting:
            self._forget(key)
            self._written.pop(key, None)
            self._last_write.pop(key, None)
            return
        current = self._current(bj)
        try:
            spec = BatchJobSpec.model_validate_json(bj.spec_json)
        except ValidationError as error:
            self._forget(key)
            await self._write(bj, current, status.invalid_outcome(explain(error)))
            return
        name = job_name(bj.name, bj.uid)
        if status.is_terminal(current) and current and current.job_name == name:
            # A finished run keeps its result (its Job may be gone after the TTL).
            self._forget(key)
            await self._write(bj, current, _unchanged(current))
            return
        job = next((j for j in self.store.jobs(key) if j.name == name), None)
        if job is None and current and current.job_name == name:
            found = await self.kube.get_job(bj.namespace, name)  # the watch may lag a create
            last_seen = self._gone.pop(key, None)
            if found is None and last_seen and last_seen.name == name and last_seen.finished:
                # Finished, then removed (ttlSecondsAfterFinished: 0) before we wrote it down.
                job = last_seen
            elif found is None:
                self._forget(key)
                await self._write(bj, current, status.job_deleted_outcome(name))
                return
            else:
                job = status.JobView.from_job(found)
        if job is not None:
            self._forget(key)
            await self._write(bj, current, await self._job_outcome(bj, job, spec))
            return
        if spec.schedule:
            await self._write(
                bj,
                current,
                status.invalid_outcome(
                    "spec.schedule is not supported by this version of bulkhead yet; "
                    "remove it to run the BatchJob once"
                ),
            )
            return
        if spec.service_account_name and not await self.kube.get_service_account(
            bj.namespace, spec.service_account_name
        ):
            await self._write(
                bj,
                current,
                status.invalid_outcome(
                    f"serviceAccountName {spec.service_account_name} does not exist in namespace "
                    f"{bj.namespace}"
                ),
            )
            return
        if spec.uses and key not in self._admitted:
            await self._wait_for_admission(bj, spec, current)
            return
        await self._start(bj, spec, current)

    def job_gone(self, key: Key, job: status.JobView) -> None:
        """The last state of a deleted Job, kept until its BatchJob is reconciled once."""
        self._gone[key] = job

    def _forget(self, key: Key) -> None:
        self._waiting.pop(key, None)
        self._decided.pop(key, None)
        self._shown.pop(key, None)

    async def _job_outcome(
        self, bj: BatchJobView, job: status.JobView, spec: BatchJobSpec
    ) -> status.Outcome:
        exit_code = None
        failed = job.condition("Failed")
        if failed and failed[2] == status.BACKOFF_LIMIT:
            exit_code = await self._last_exit_code(bj)
        return status.job_outcome(job, spec, exit_code)

    async def _last_exit_code(self, bj: BatchJobView) -> int | None:
        pods = await self.kube.list_pods(bj.namespace, f"{LABEL_BATCHJOB_UID}={bj.uid}")
        finished = []
        for pod in pods:
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated")
                if terminated and terminated.get("exitCode"):
                    finished.append((terminated.get("finishedAt") or "", terminated["exitCode"]))
        return max(finished)[1] if finished else None

    async def _start(
        self, bj: BatchJobView, spec: BatchJobSpec, current: BatchJobStatus | None
    ) -> None:
        body = build_job(name=bj.name, namespace=bj.namespace, uid=bj.uid, spec=spec)
        try:
            created = await self.kube.create_job(body)
        except Conflict:
            found = await self.kube.get_job(bj.namespace, body["metadata"]["name"])
            if found is None:  # deleted between the two calls: look again from the top
                self.queue.add(bj.key)
                return
            created = found
        except Invalid as error:
            self._admitted.pop(bj.key, None)
            await self._write(
                bj, current, status.invalid_outcome(f"the API server refused the Job: {error}")
            )
            return
        self.metrics.observe_start(bj.created, self.clock())
        job = status.JobView.from_job(created)
        await self._write(bj, current, status.job_outcome(job, spec))

    async def _write(
        self, bj: BatchJobView, current: BatchJobStatus | None, outcome: status.Outcome
    ) -> None:
        new = status.to_status(outcome, generation=bj.generation, previous=current, now=now())
        if new == current:
            return
        if status.progress_only(current, new):
            wait = self._last_write.get(bj.key, 0.0) + PROGRESS_INTERVAL - time.monotonic()
            if wait > 0:
                self.queue.add_after(bj.key, wait)
                return
        old = current.wire() if current else {}
        patch: dict[str, Any] = new.wire()
        patch.update({k: None for k in old if k not in patch})
        if await self.kube.patch_batchjob_status(bj.namespace, bj.name, patch) is None:
            return
        self._written[bj.key] = (bj.uid, new)
        self._last_write[bj.key] = time.monotonic()
        if current is None or (current.phase, current.reason) != (new.phase, new.reason):
            warning = new.phase == "Failed" or outcome.reason in status.STALLED_REASONS
            await self.kube.post_event(
                bj.ref(), "Warning" if warning else "Normal", outcome.reason, outcome.message
            )

    # --- admission -----------------------------------------------------------------------

    async def _wait_for_admission(
        self, bj: BatchJobView, spec: BatchJobSpec, current: BatchJobStatus | None
    ) -> None:
        assert spec.uses
        labels = self.store.namespace_labels(bj.namespace)
        for use in spec.uses:
            dependency = self.store.dependency(use.dependency)
            if dependency is None:
                self._forget(bj.key)
                await self._write(
                    bj,
                    current,
                    status.Outcome(
                        "Pending",
                        status.DEPENDENCY_NOT_FOUND,
                        f"dependency {use.dependency} does not exist; nothing starts until it does",
                    ),
                )
                return
            if not selector_matches(dependency.spec.get("allowedNamespaces"), labels):
                self._forget(bj.key)
                await self._write(
                    bj,
                    current,
                    status.Outcome(
                        "Pending",
                        status.NAMESPACE_NOT_ALLOWED,
                        f"namespace {bj.namespace} may not use dependency {use.dependency} "
                        f"(see its spec.allowedNamespaces)",
                    ),
                )
                return
        self._waiting[bj.key] = admission.Candidate(
            key=bj.key,
            priority=spec.priority,
            created=bj.created,
            uses=tuple((u.dependency, u.units) for u in spec.uses),
        )
        self.poke_admission()
        wait = self._shown.get(bj.key)
        if wait is None:  # the admission pass, milliseconds away, starts it or queues it
            return
        outcome = status.waiting_outcome(
            wait.reason,
            wait.message,
            QueuePosition(dependency=wait.dependency, position=wait.position),
        )
        await self._write(bj, current, outcome)

    async def _admission_loop(self) -> None:
        await self.store.ready.wait()
        while True:
            await self._admission_wanted.wait()
            self._admission_wanted.clear()
            try:
                retry = self.admit()
            except Exception:
                log.exception("admission pass failed; retrying in 1s")
                retry = 1.0
            if retry is not None:
                asyncio.get_running_loop().call_later(retry, self.poke_admission)
            # Let a burst of Job events coalesce into the next pass.
            await asyncio.sleep(ADMISSION_COALESCE)

    def _refresh_later(self, key: Key) -> None:
        """Queue positions move with every start; a waiter's status follows at a bounded rate
        (each refresh writes the latest decision), or a long queue would cost a write per
        waiter per start."""
        if key in self._refresh_pending:
            return
        self._refresh_pending.add(key)

        def refresh() -> None:
            self._refresh_pending.discard(key)
            if key in self._decided:
                self._shown[key] = self._decided[key]
                self.queue.add(key)

        asyncio.get_running_loop().call_later(QUEUE_REFRESH_INTERVAL, refresh)

    def _dependency_states(self) -> dict[str, admission.DependencyState]:
        states: dict[str, admission.DependencyState] = {}
        now_ = self.clock()
        for dep in self.store.all_dependencies():
            try:
                spec = DependencySpec.model_validate(dep.spec)
            except ValidationError:
                continue
            holders = self.store.holders(dep.name)
            states[dep.name] = admission.DependencyState(
                spec=spec,
                holders=[admission.Holding(h.key, h.units) for h in holders],
                recent_starts=[
                    t
                    for h in holders
                    if h.created and now_ - (t := parse_time(h.created)) < admission.RATE_PERIOD
                ],
            )
        # Admitted but not yet seen in the store: they hold their units already.
        for key, candidate in list(self._admitted.items()):
            bj = self.store.batchjob(key)
            if bj is None or any(j.name == job_name(bj.name, bj.uid) for j in self.store.jobs(key)):
                del self._admitted[key]
                continue
            for name, units in candidate.uses:
                if name in states:
                    states[name].holders.append(admission.Holding(key, units))
                    states[name].recent_starts.append(now_)
        return states

    def admit(self) -> float | None:
        """One admission pass; returns seconds until the next pass is needed by the clock."""
        states = self._dependency_states()
        candidates = [
            c for c in self._waiting.values() if all(name in states for name, _ in c.uses)
        ]
        now_ = self.clock()
        decision = admission.admit(candidates, states, now_)
        for key in decision.admitted:
            candidate = self._waiting.pop(key)
            self._decided.pop(key, None)
            self._shown.pop(key, None)
            self._admitted[key] = candidate
            for name, units in candidate.uses:
                states[name].holders.append(admission.Holding(key, units))
            self.queue.add(key)
        for key, wait in decision.waiting.items():
            old = self._decided.get(key)
            self._decided[key] = wait
            if old is None or (old.reason, old.dependency) != (wait.reason, wait.dependency):
                self._shown[key] = wait
                self.queue.add(key)
            elif old != wait:
                self._refresh_later(key)
        self._publish_dependencies(states, decision)
        retry = None
        if decision.retry_at is not None:
            retry = max((decision.retry_at - now_).total_seconds(), 0.05)
        if any(w.reason == status.WAITING_FOR_WINDOW for w in decision.waiting.values()):
            retry = min(retry or WINDOW_RECHECK, WINDOW_RECHECK)
        return retry

    def _publish_dependencies(
        self, states: dict[str, admission.DependencyState], decision: admission.Decision
    ) -> None:
        waiting: dict[str, int] = dict.fromkeys(states, 0)
        for key in decision.waiting:
            for name, _ in self._waiting[key].uses:
                waiting[name] += 1
        now_ = self.clock()
        for name, state in states.items():
            self.metrics.dependency(name, state.in_use, state.spec.capacity, waiting[name])
            dep = self.store.dependency(name)
            if dep is None:
                continue
            closed = not admission.windows_open(state.spec, now_)
            new = _dependency_status(dep, state, waiting[name], closed)
            self._want_dependency_status(name, new)

    def _want_dependency_status(self, name: str, new: dict[str, Any]) -> None:
        self._dependency_wanted[name] = new
        if name not in self._dependency_writers:
            self._dependency_writers.add(name)
            asyncio.get_running_loop().create_task(self._write_dependency(name))

    async def _write_dependency(self, name: str) -> None:
        """At most one write per DEPENDENCY_STATUS_INTERVAL; the latest state always lands."""
        try:
            dep = self.store.dependency(name)
            written_at, last = self._dependency_written.get(
                name, (0.0, (dep.status if dep else None) or {})
            )
            wait = written_at + DEPENDENCY_STATUS_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            new = self._dependency_wanted.pop(name)
            if new != last:
                patch = {**new, **{k: None for k in last if k not in new}}
                await self.kube.patch_dependency_status(name, patch)
                self._dependency_written[name] = (time.monotonic(), new)
        finally:
            self._dependency_writers.discard(name)
            if name in self._dependency_wanted:  # changed again while this one was writing
                self._want_dependency_status(name, self._dependency_wanted[name])


def _unchanged(current: BatchJobStatus) -> status.Outcome:
    """A finished BatchJob keeps its result; only observedGeneration follows the spec."""
    kept = current.wire()
    for k in ("observedGeneration", "phase", "conditions", "reason", "message"):
        kept.pop(k, None)
    return status.Outcome(
        current.phase or "Pending", current.reason or "", current.message or "", kept
    )


def _dependency_status(
    dep: DependencyView, state: admission.DependencyState, waiting: int, closed: bool
) -> dict[str, Any]:
    old = {c["type"]: c for c in (dep.status or {}).get("conditions") or []}
    stamp = now()

    def condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
        value = "True" if ok else "False"
        before = old.get(kind)
        return {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": before["lastTransitionTime"]
            if before and before.get("status") == value
            else stamp,
            "observedGeneration": dep.generation,
        }

    full = state.in_use >= state.spec.capacity
    return DependencyStatus.model_validate(
        {
            "observedGeneration": dep.generation,
            "inUse": state.in_use,
            "holders": [
                {"namespace": h.key[0], "name": h.key[1], "units": h.units}
                for h in sorted(state.holders, key=lambda h: h.key)[:1000]
            ],
            "waiting": waiting,
            "conditions": [
                condition(
                    "Ready",
                    True,
                    "Full" if full else "Available",
                    f"{state.in_use} of {state.spec.capacity} units in use, {waiting} waiting",
                ),
                condition(
                    "WindowClosed",
                    closed,
                    "OutsideWindows" if closed else "InsideWindow",
                    "no new starts until a window opens" if closed else "new starts allowed",
                ),
            ],
        }
    ).wire()
