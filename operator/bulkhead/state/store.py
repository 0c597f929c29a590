"""What the watches saw: the operator's own cache of BatchJobs, their Jobs, Dependencies and
namespace labels, with the views each keeps.

Why not kopf's indexes: kopf makes every object's worker wait until all indexes are filled,
and each object's arrival wakes every waiting worker, so a start with n objects costs O(n^2)
or worse (measured: 13,000 BatchJobs, over 7 minutes at 100% CPU before the first reconcile).
Here the handlers write into plain dicts, and completeness at startup comes from one paginated
LIST per resource: watch events always win, listed objects only fill what no event has told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bulkhead.api.constants import Key
from bulkhead.api.times import parse_time
from bulkhead.api.views import BatchJobView, DependencyView, JobView, Malformed, parse_body
from bulkhead.policy.build import parse_uses_annotation
from bulkhead.runtime.logs import OnceLogger

log = logging.getLogger(__name__)
once = OnceLogger(log)


@dataclass(frozen=True, slots=True)
class HoldingView:
    """One dependency use by an unfinished Job."""

    key: Key
    job: str
    units: int
    created: str
    owner_uid: str = ""  # the uid of the BatchJob that controls the Job


def uses_of(job: JobView) -> dict[str, int]:
    """The units a Job of ours asks of each dependency; none when its annotation does not
    parse (logged once: bulkhead writes it, so someone else changed it)."""
    units: dict[str, int] = {}
    try:
        uses = parse_uses_annotation(job.uses)
    except (ValueError, TypeError) as error:
        once.warning(
            ("uses", job.uid),
            "Job %s: its uses annotation is malformed, ignored: %s",
            job.name,
            error,
        )
        return units
    for use in uses:
        units[use.dependency] = units.get(use.dependency, 0) + use.units
    return units


def holdings(job: JobView, namespace: str, batchjob: str) -> dict[str, HoldingView]:
    """The units an unfinished Job holds, by dependency (what the store counts as held)."""
    if job.finished:
        return {}
    return {
        name: HoldingView((namespace, batchjob), job.name, count, job.created, job.owner_uid)
        for name, count in uses_of(job).items()
    }


class Store:
    """Plain dicts fed by watch events (and, until `ready`, by the startup listing)."""

    def __init__(self) -> None:
        self._batchjobs: dict[Key, BatchJobView] = {}
        self._jobs: dict[Key, dict[str, JobView]] = {}  # by BatchJob, then Job name
        self._holders: dict[str, dict[tuple[str, str], HoldingView]] = {}  # dep -> job -> use
        # dep -> job -> (creation time, owner, owner uid), finished and deleted Jobs too:
        # maxStartsPerMinute counts every start of the last minute, not only the runs holding.
        self._starts: dict[str, dict[tuple[str, str], tuple[datetime, Key, str]]] = {}
        self._dependencies: dict[str, DependencyView] = {}
        self._namespaces: dict[str, dict[str, str]] = {}
        self._told: set[tuple[str, Any]] = set()  # keys a watch event spoke of before `ready`
        self.ready = asyncio.Event()

    def _fresh(self, kind: str, key: Any, listed: bool) -> bool:
        """Watch events always apply; a listed object only where no event has spoken yet."""
        if self.ready.is_set():
            return not listed
        if listed:
            return (kind, key) not in self._told
        self._told.add((kind, key))
        return True

    def mark_ready(self) -> None:
        self._told.clear()
        self.ready.set()

    # --- writes ----------------------------------------------------------------------------

    def _put(self, table: dict[Any, Any], kind: str, key: Any, value: Any, listed: bool) -> None:
        """`value` None means deleted."""
        if not self._fresh(kind, key, listed):
            return
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    def put_batchjob(self, key: Key, view: BatchJobView | None, listed: bool = False) -> None:
        self._put(self._batchjobs, "batchjob", key, view, listed)

    def put_job(self, owner: Key, name: str, view: JobView | None, listed: bool = False) -> None:
        job_key = (owner[0], name)
        if not self._fresh("job", job_key, listed):
            return
        for held in self._holders.values():
            held.pop(job_key, None)
        jobs = self._jobs.setdefault(owner, {})
        if view is None:
            jobs.pop(name, None)
            if not jobs:
                del self._jobs[owner]
            return
        jobs[name] = view
        for dependency, holding in holdings(view, owner[0], owner[1]).items():
            self._holders.setdefault(dependency, {})[job_key] = holding
        if view.created:
            for dependency in uses_of(view):
                self._starts.setdefault(dependency, {})[job_key] = (
                    parse_time(view.created),
                    owner,
                    view.owner_uid,
                )

    def put_dependency(self, name: str, view: DependencyView | None, listed: bool = False) -> None:
        self._put(self._dependencies, "dependency", name, view, listed)

    def put_namespace(self, name: str, labels: dict[str, str] | None, listed: bool = False) -> None:
        self._put(self._namespaces, "namespace", name, labels, listed)

    # --- reads -----------------------------------------------------------------------------

    def batchjob(self, key: Key) -> BatchJobView | None:
        return self._batchjobs.get(key)

    def all_batchjobs(self) -> Iterator[BatchJobView]:
        return iter(list(self._batchjobs.values()))

    def controls(self, key: Key, owner_uid: str) -> bool:
        """Whether the BatchJob `key` is the controller of a Job whose controller owner
        reference has `owner_uid`. Labels and annotations alone never make a Job ours."""
        bj = self._batchjobs.get(key)
        return bj is not None and bool(owner_uid) and bj.uid == owner_uid

    def jobs(self, key: Key) -> list[JobView]:
        """The Jobs the BatchJob `key` controls (others with its label are not its runs)."""
        return [j for j in self._jobs.get(key, {}).values() if self.controls(key, j.owner_uid)]

    def holders(self, dependency: str) -> list[HoldingView]:
        """The units held of `dependency`: by unfinished Jobs that a BatchJob controls."""
        return [
            h
            for h in self._holders.get(dependency, {}).values()
            if self.controls(h.key, h.owner_uid)
        ]

    def starts_since(self, dependency: str, since: datetime) -> list[datetime]:
        """When Jobs using `dependency` were created, from `since` on (older ones are dropped)."""
        starts = self._starts.get(dependency, {})
        recent = []
        for job, (moment, owner, owner_uid) in list(starts.items()):
            if moment < since:
                del starts[job]
            elif self.controls(owner, owner_uid):
                recent.append(moment)
        return recent

    def dependency(self, name: str) -> DependencyView | None:
        return self._dependencies.get(name)

    def all_dependencies(self) -> list[DependencyView]:
        return list(self._dependencies.values())

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self._namespaces.get(namespace, {})


def put_body(
    store: Store, kind: str, body: Any, *, deleted: bool = False, listed: bool = False
) -> tuple[Any, Any]:
    """A watched or listed object into the store; returns its (key, view) as
    `parse_body` does. Raises Malformed, having changed nothing, for one that does not fit."""
    key, view = parse_body(kind, body)
    if kind == "batchjobs":
        store.put_batchjob(key, None if deleted else view, listed)
    elif kind == "jobs":
        store.put_job(key, view.name, None if deleted else view, listed)
    elif kind == "dependencies":
        store.put_dependency(key, None if deleted else view, listed)
    else:
        store.put_namespace(key, None if deleted else view, listed)
    return key, view


def fill(store: Store, kind: str, items: Iterable[dict[str, Any]]) -> None:
    """Listed objects into the store (startup only); a malformed one is logged and skipped."""
    for body in items:
        try:
            put_body(store, kind, body, listed=True)
        except Malformed as error:
            once.warning((kind, id(body)), "%s", error)
