"""What the operator keeps of each watched object: small, frozen views made from API bodies.

One mapping from body to view serves both the watch handlers and the startup listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from bulkhead.api.constants import (
    ANNOTATION_RUN_NOW,
    ANNOTATION_RUN_NOW_VALUE,
    ANNOTATION_SCHEDULED,
    ANNOTATION_TRIGGER_RUN,
    ANNOTATION_USES,
    API_VERSION,
    LABEL_BATCHJOB,
    TERMINAL_PHASES,
    Key,
)
from bulkhead.api.dependency import DependencySpec


def controller_uid(body: dict[str, Any]) -> str:
    """The uid of the object's controller (its ownerReference with controller: true), or ""."""
    owners = [
        o for o in (body.get("metadata") or {}).get("ownerReferences") or [] if o.get("controller")
    ]
    return str(owners[0]["uid"]) if owners else ""


@dataclass(frozen=True, slots=True)
class JobView:
    """The part of a batch/v1 Job that status is computed from (small: one is kept per Job)."""

    name: str
    uid: str = ""
    owner_uid: str = ""
    active: int = 0
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: str | None = None
    completion_time: str | None = None
    conditions: tuple[tuple[str, str, str, str, str], ...] = ()  # type, status, reason, msg, t
    uses: str = ""
    created: str = ""
    deleting: bool = False
    scheduled: str = ""  # the instant a scheduled run belongs to
    run_now: str = ""  # the run-now value a manual run answers
    trigger_run: str = ""  # the trigger and key of a triggered run (`<trigger>/<key>`)

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> JobView:
        meta = job.get("metadata", {})
        status = job.get("status") or {}
        annotations = meta.get("annotations") or {}
        return cls(
            name=meta.get("name", ""),
            uid=meta.get("uid", ""),
            owner_uid=controller_uid(job),
            active=status.get("active", 0),
            ready=status.get("ready", 0),
            succeeded=status.get("succeeded", 0),
            failed=status.get("failed", 0),
            start_time=status.get("startTime"),
            completion_time=status.get("completionTime"),
            conditions=tuple(
                (
                    c.get("type", ""),
                    c.get("status", ""),
                    c.get("reason", ""),
                    c.get("message", ""),
                    c.get("lastTransitionTime", ""),
                )
                for c in status.get("conditions") or []
                if c.get("status") == "True"
            ),
            uses=annotations.get(ANNOTATION_USES, ""),
            created=meta.get("creationTimestamp", ""),
            deleting=bool(meta.get("deletionTimestamp")),
            scheduled=annotations.get(ANNOTATION_SCHEDULED, ""),
            run_now=annotations.get(ANNOTATION_RUN_NOW_VALUE, ""),
            trigger_run=annotations.get(ANNOTATION_TRIGGER_RUN, ""),
        )

    def condition(self, kind: str) -> tuple[str, str, str, str, str] | None:
        return next((c for c in self.conditions if c[0] == kind), None)

    @property
    def finished(self) -> bool:
        return self.condition("Complete") is not None or self.condition("Failed") is not None


def job_owner(body: Any) -> Key:
    """The BatchJob a Job of ours belongs to, by its label (bodies from the watch or a LIST)."""
    meta = body["metadata"]
    return (meta["namespace"], meta["labels"][LABEL_BATCHJOB])


@dataclass(frozen=True, slots=True)
class BatchJobView:
    """What the store keeps of a BatchJob: spec and status as compact JSON text, decoded when
    a reconcile needs them (10,000 dict trees cost several times the memory of their text)."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: str
    spec_json: str
    status_json: str
    phase: str
    reason: str
    deleting: bool
    run_now: str = ""  # the run-now annotation's value
    stalled: str = ""  # the reason of its Stalled condition while that is True
    last_run: tuple[str, str] = ("", "")  # status.lastRunResult and that run's reason
    settled: tuple[str, str] = ("", "")  # see _settled
    after: tuple[str, ...] = ()  # the BatchJobs its after triggers follow (same namespace)
    cloud_events: tuple[str, ...] = ()  # the names of its cloudEvent triggers

    @classmethod
    def from_body(cls, body: Any) -> BatchJobView:
        meta = body["metadata"]
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        generation = meta.get("generation", 1)
        run_now = (meta.get("annotations") or {}).get(ANNOTATION_RUN_NOW, "")
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=generation,
            created=meta.get("creationTimestamp", ""),
            spec_json=_compact(spec),
            status_json=_compact(status) if status else "",
            phase=status.get("phase", ""),
            reason=status.get("reason", ""),
            deleting=bool(meta.get("deletionTimestamp")),
            run_now=run_now,
            stalled=_stalled(status),
            last_run=_last_run(status),
            settled=_settled(spec, status, generation, run_now),
            after=_after(spec),
            cloud_events=tuple(
                t["name"]
                for t in _dicts(spec.get("triggers"))
                if "cloudEvent" in t and isinstance(t.get("name"), str)
            ),
        )

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = json.loads(self.spec_json)
        return spec

    @property
    def status(self) -> dict[str, Any] | None:
        return json.loads(self.status_json) if self.status_json else None

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

    def ref(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "BatchJob",
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
        }


def _stalled(status: dict[str, Any]) -> str:
    """The reason of a Stalled condition whose status is True, or "" (a status not written by
    us may hold anything: it is read, never trusted)."""
    for condition in _dicts(status.get("conditions")):
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return str(condition.get("reason") or "")
    return ""


def _last_run(status: dict[str, Any]) -> tuple[str, str]:
    """status.lastRunResult and the reason of the newest entry of status.runs with that result
    (the runs are oldest first), or ("", "")."""
    result = status.get("lastRunResult")
    if not isinstance(result, str) or not result:
        return "", ""
    ended = [r for r in _dicts(status.get("runs")) if r.get("result") == result]
    return result, str(ended[-1].get("reason") or "") if ended else ""


def _settled(
    spec: dict[str, Any], status: dict[str, Any], generation: int, run_now: str
) -> tuple[str, str]:
    """(status.jobName, status.runNow or "") of a one-shot BatchJob whose status reports its
    run finished and answers its current generation, with nothing asked of it since: a
    terminal phase, observedGeneration equal to metadata.generation on the status and on every
    condition, no schedule, and no run-now request but the one the status answered. ("", "")
    otherwise. The status contract makes such a status final, so a reconcile of it needs
    nothing parsed (a restart reconciles every BatchJob at rest: see BatchJobController)."""
    job, answered = status.get("jobName"), status.get("runNow") or ""
    conditions = _dicts(status.get("conditions"))
    if (
        spec.get("schedule")
        or spec.get("triggers")
        or status.get("phase") not in TERMINAL_PHASES
        or status.get("observedGeneration") != generation
        or not conditions
        or any(c.get("observedGeneration") != generation for c in conditions)
        or not isinstance(job, str)
        or not job
        or not isinstance(answered, str)
        or run_now not in ("", answered)
    ):
        return "", ""
    return job, answered


def _after(spec: dict[str, Any]) -> tuple[str, ...]:
    """The names spec.triggers[].after.batchJob holds (read, never trusted: the operator parses
    the spec before acting on it)."""
    found = []
    for trigger in _dicts(spec.get("triggers")):
        after = trigger.get("after")
        if isinstance(after, dict) and isinstance(after.get("batchJob"), str):
            found.append(after["batchJob"])
    return tuple(found)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _compact(value: Any) -> str:
    """`value` as compact JSON text (pydantic's serializer: four times json.dumps's speed, and
    a restart turns every BatchJob's spec and status into text)."""
    return to_json(value).decode()


@dataclass(frozen=True, slots=True)
class DependencyView:
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any] | None

    @classmethod
    def from_body(cls, body: Any) -> DependencyView:
        meta = body["metadata"]
        return cls(
            name=meta["name"],
            uid=meta["uid"],
            generation=meta.get("generation", 1),
            spec=dict(body.get("spec") or {}),
            status=dict(body["status"]) if body.get("status") else None,
        )

    # Parsed once per object version: admission reads the spec of every Dependency a waiting
    # BatchJob uses on every pass.
    _parsed: DependencySpec | None = field(init=False, repr=False, compare=False)
    _problem: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parsed, problem = DependencySpec.model_validate(self.spec), None
        except ValidationError as error:
            parsed, problem = None, explain(error)
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_problem", problem)

    def parsed_spec(self) -> DependencySpec | None:
        """The spec, or None when it does not parse (it then takes no part in admission)."""
        return self._parsed

    def spec_problem(self) -> str | None:
        """What is wrong with the spec, naming the fields (None: it parses)."""
        return self._problem


def explain(error: ValidationError) -> str:
    """The first five problems of a spec that does not parse, each naming its field."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)


class Malformed(ValueError):
    """A watched object that is not what its kind must be (a missing name, a status that is
    not an object, ...): skipped, never a crash."""


def parse_body(kind: str, body: Any) -> tuple[Any, Any]:
    """(key, view) of a watched or listed object, given its kind ("batchjobs", "jobs",
    "dependencies" or "namespaces"): a BatchJob's (namespace, name) and view, a Job's owning
    BatchJob's key and view, a Dependency's name and view, a namespace's name and labels.
    Raises Malformed for a body that does not fit."""
    try:
        if kind == "batchjobs":
            view: Any = BatchJobView.from_body(body)
            return view.key, view
        if kind == "jobs":
            return job_owner(body), JobView.from_job(body)
        meta = body["metadata"]
        if kind == "dependencies":
            return meta["name"], DependencyView.from_body(body)
        return meta["name"], {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise Malformed(f"{kind} object skipped, it is malformed: {error!r}") from error
