"""What the watches saw: the operator's own cache of BatchJobs, their Jobs, Dependencies and
namespace labels, with the views each keeps.

Why not kopf's indexes: kopf makes every object's worker wait until all indexes are filled,
and each object's arrival wakes every waiting worker, so a start with n objects costs O(n^2)
or worse (measured: 13,000 BatchJobs, over 7 minutes at 100% CPU before the first reconcile).
Here the watches write into plain dicts, and completeness at startup comes from one paginated
LIST per resource: watch events always win, listed objects only fill what no event has told.

A listing (after a watch's 410 Gone, or a resync) reports what exists, never what was deleted
before it; so the end of a listing deletes what the store holds, the listing did not show,
and no event spoke of since it began (`begin_listing` / `end_listing`).
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
from bulkhead.runtime.reflector import Change, Relisted

log = logging.getLogger(__name__)
once = OnceLogger(log)

KINDS = ("batchjobs", "jobs", "dependencies", "namespaces")


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
    """Plain dicts fed by watch events and by listings (at startup, and again later)."""

    def __init__(self) -> None:
        self._batchjobs: dict[Key, BatchJobView] = {}
        self._jobs: dict[Key, dict[str, JobView]] = {}  # by BatchJob, then Job name
        self._holders: dict[str, dict[tuple[str, str], HoldingView]] = {}  # dep -> job -> use
        # dep -> job -> (creation time, owner, owner uid), finished and deleted Jobs too:
        # maxStartsPerMinute counts every start of the last minute, not only the runs holding.
        self._starts: dict[str, dict[tuple[str, str], tuple[datetime, Key, str]]] = {}
        self._dependencies: dict[str, DependencyView] = {}
        self._namespaces: dict[str, dict[str, str]] = {}
        # kind -> the keys a watch event spoke of since a listing of that kind began; a kind is
        # here only while it is being listed (every kind, until the startup listing ends it)
        self._told: dict[str, set[Any]] = {kind: set() for kind in KINDS}
        self._changed: dict[str, list[tuple[Any, Any]]] = {kind: [] for kind in KINDS}
        self.ready = asyncio.Event()

    def _fresh(self, kind: str, key: Any, listed: bool) -> bool:
        """Watch events always apply; a listed object only while its kind is being listed,
        and only where no event has spoken since that listing began."""
        told = self._told.get(kind)
        if listed:
            return told is not None and key not in told
        if told is not None:
            told.add(key)
        return True

    def mark_ready(self) -> None:
        self.ready.set()

    def begin_listing(self, kind: str) -> None:
        """A listing of `kind` begins: from now on its listed objects fill the store where no
        event speaks first."""
        self._told[kind] = set()
        self._changed[kind] = []

    def end_listing(self, kind: str, listed: set[Any]) -> Relisted[Any, Any]:
        """Ends the listing of `kind`, given the keys it showed (as `fill` returns them): what
        the store holds of that kind, that the listing did not show and no event spoke of since
        it began, is deleted as a DELETED event would delete it. Returns those deletions and
        the listed objects that changed the store (both things no watch event had told), keys
        and views as `put_body` returns them."""
        told = self._told.pop(kind, set())
        gone = [
            (key, view)
            for told_key, key, view in self._entries(kind)
            if told_key not in listed and told_key not in told
        ]
        for key, view in gone:
            if kind == "batchjobs":
                self.put_batchjob(key, None)
            elif kind == "jobs":
                self.put_job(key, view.name, None)
            elif kind == "dependencies":
                self.put_dependency(key, None)
            else:
                self.put_namespace(key, None)
        return Relisted(
            [Change(key, view, deleted=True) for key, view in gone],
            [Change(key, view) for key, view in self._changed.pop(kind, [])],
        )

    def _entries(self, kind: str) -> list[tuple[Any, Any, Any]]:
        """(key as `_fresh` knows it, key as `put_body` returns it, view) of what the store
        holds of `kind`."""
        if kind == "jobs":
            return [
                ((owner[0], name), owner, view)
                for owner, jobs in self._jobs.items()
                for name, view in jobs.items()
            ]
        tables: dict[str, dict[Any, Any]] = {
            "batchjobs": self._batchjobs,
            "dependencies": self._dependencies,
            "namespaces": self._namespaces,
        }
        return [(key, key, view) for key, view in tables[kind].items()]

    # --- writes ----------------------------------------------------------------------------

    def _put(self, table: dict[Any, Any], kind: str, key: Any, value: Any, listed: bool) -> None:
        """`value` None means deleted."""
        if not self._fresh(kind, key, listed):
            return
        if listed and table.get(key) != value:
            self._changed[kind].append((key, value))
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    def put_batchjob(self, key: Key, view: BatchJobView | None, listed: bool = False) -> None:
        self._put(self._batchjobs, "batchjobs", key, view, listed)

    def put_job(self, owner: Key, name: str, view: JobView | None, listed: bool = False) -> None:
        job_key = (owner[0], name)
        if not self._fresh("jobs", job_key, listed):
            return
        for held in self._holders.values():
            held.pop(job_key, None)
        jobs = self._jobs.setdefault(owner, {})
        if view is None:
            jobs.pop(name, None)
            if not jobs:
                del self._jobs[owner]
            return
        if listed and jobs.get(name) != view:
            self._changed["jobs"].append((owner, view))
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
        self._put(self._dependencies, "dependencies", name, view, listed)

    def put_namespace(self, name: str, labels: dict[str, str] | None, listed: bool = False) -> None:
        self._put(self._namespaces, "namespaces", name, labels, listed)

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

    def job(self, owner: Key, name: str) -> JobView | None:
        """The Job `name` labelled as the BatchJob `owner`'s, controlled by it or not."""
        return self._jobs.get(owner, {}).get(name)

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
    put_view(store, kind, key, view, deleted=deleted, listed=listed)
    return key, view


def put_view(
    store: Store, kind: str, key: Any, view: Any, *, deleted: bool = False, listed: bool = False
) -> None:
    """An object as `parse_body` returns it into the store (`deleted`: out of it)."""
    if kind == "batchjobs":
        store.put_batchjob(key, None if deleted else view, listed)
    elif kind == "jobs":
        store.put_job(key, view.name, None if deleted else view, listed)
    elif kind == "dependencies":
        store.put_dependency(key, None if deleted else view, listed)
    else:
        store.put_namespace(key, None if deleted else view, listed)


def fill(store: Store, kind: str, items: Iterable[dict[str, Any]]) -> set[Any]:
    """Listed objects into the store, between `begin_listing` and `end_listing`; a malformed
    one is logged and skipped. Returns the keys listed, as `end_listing` takes them."""
    listed: set[Any] = set()
    for body in items:
        try:
            key, view = put_body(store, kind, body, listed=True)
        except Malformed as error:
            once.warning((kind, id(body)), "%s", error)
            continue
        listed.add((key[0], view.name) if kind == "jobs" else key)
    return listed
