"""Pure: what the reconcile of a one-shot BatchJob does next, given what it knows so far.

The controller reads (the store, its caches, the admission book), calls `decide` and carries the
decision out. A look-up (a Job the watch may not show yet, the ServiceAccount) or the start of
the run brings back a fact, and `decide` is asked again with it; every other decision ends the
reconcile: write an outcome, report what the run's Job shows, wait for admission, look again.
Each of those says what admission bookkeeping the BatchJob lets go of (`Release`), so the
controller releases it in one place, before it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from bulkhead.api.batchjob import BatchJobSpec, BatchJobStatus
from bulkhead.api.views import BatchJobView, JobView
from bulkhead.policy.build import job_name, run_token
from bulkhead.policy.status import (
    Outcome,
    invalid_outcome,
    is_terminal,
    job_deleted_outcome,
    job_name_taken_outcome,
    job_outcome,
)


class Release(Enum):
    """What a BatchJob lets go of in the admission book when its reconcile ends."""

    NOTHING = "nothing"  # it still waits, or its admitted run is starting: keep both
    WAIT = "wait"  # it waits no more; an admitted run keeps its units until its Job is seen
    ALL = "all"  # it neither waits nor holds units


# What starting the run came to (the controller's `Start`, brought back as a fact).


@dataclass(frozen=True)
class Exists:
    """The run's Job exists: created now, or found under its name (a 409), whoever owns it."""

    job: JobView


@dataclass(frozen=True)
class Blocked:
    """Its egress NetworkPolicy could not be made (policy/network.py): no Job was created."""

    reason: str
    message: str


@dataclass(frozen=True)
class Refused:
    """The API server refused the Job (422)."""

    error: str


@dataclass(frozen=True)
class Vanished:
    """The create was a 409 and the Job was gone when read: deleted between the two calls."""


Started = Exists | Blocked | Refused | Vanished


@dataclass(frozen=True)
class Facts:
    """What a reconcile of a one-shot BatchJob with a readable spec knows so far."""

    bj: BatchJobView
    spec: BatchJobSpec
    current: BatchJobStatus | None  # its status (ours, if the watch has not shown it back yet)
    jobs: tuple[JobView, ...]  # its Jobs in the store
    gone: Mapping[str, JobView]  # the last state of its Jobs deleted since its last reconcile
    admitted_run: str | None  # the run admission admitted it with (holding its units), if any
    # Looked up by name through the API (the watch may lag a create): the Job, or None if none.
    found: Mapping[str, JobView | None] = field(default_factory=dict)
    service_account: bool | None = None  # whether spec.serviceAccountName exists; None: unasked
    started: Started | None = None


# Decisions that bring back a fact.


@dataclass(frozen=True)
class LookUpJob:
    """Read the Job named `name` from the API."""

    name: str


@dataclass(frozen=True)
class LookUpServiceAccount:
    """Read whether the ServiceAccount named `name` exists in the BatchJob's namespace."""

    name: str


@dataclass(frozen=True)
class Start:
    """Make the run's egress NetworkPolicy and create its Job (the run of `run_now`, if set)."""

    run_now: str | None


# Decisions that end the reconcile.


@dataclass(frozen=True)
class WriteOutcome:
    """Write `outcome` (echoing the run-now value handled)."""

    outcome: Outcome
    release: Release
    run_now: str | None = None


@dataclass(frozen=True)
class ReportJob:
    """Write what the run's Job shows, with its last exit code and why its pods do not start
    read first (both need the API)."""

    job: JobView
    run_now: str | None = None
    release: Release = Release.WAIT


@dataclass(frozen=True)
class RecordStart:
    """The run's Job was just created (or found under its name, ours): count the start, write
    `outcome` (what the Job shows)."""

    outcome: Outcome
    run_now: str | None = None
    release: Release = Release.NOTHING


@dataclass(frozen=True)
class WaitForAdmission:
    """Put the run `run` in line for its Dependencies and show the wait the last pass decided."""

    run: str
    run_now: str | None = None
    release: Release = Release.NOTHING


@dataclass(frozen=True)
class LookAgain:
    """Queue the BatchJob again: what the reconcile read changed under it."""

    release: Release = Release.NOTHING


@dataclass(frozen=True)
class Forget:
    """The BatchJob is gone (or going): drop everything kept about it."""

    release: Release = Release.ALL


@dataclass(frozen=True)
class Keep:
    """Nothing to write: its status reports the finished run already."""

    release: Release = Release.WAIT


Write = WriteOutcome | ReportJob | RecordStart | WaitForAdmission
Final = Write | LookAgain | Forget | Keep
Decision = LookUpJob | LookUpServiceAccount | Start | Final


def run_name(bj: BatchJobView, run_now: str | None) -> str:
    """Returns the name of the Job of a one-shot `bj`'s run, given the run-now value `run_now`
    it answers (None: its only run)."""
    return job_name(bj.name, bj.uid, run_token("", run_now) if run_now else "")


def unreadable(problem: str) -> WriteOutcome:
    """Returns the decision for a BatchJob whose spec cannot be read, given why (`problem`):
    it shows InvalidSpec and waits for nothing."""
    return WriteOutcome(invalid_outcome(problem), Release.WAIT)


def decide(facts: Facts) -> Decision:
    """Returns what the reconcile of a one-shot BatchJob does next, given what it knows so far
    (`facts`). A run-now value not handled yet names a new run once the current one finished;
    a finished run keeps its result; a run whose Job exists reports it; one whose Job vanished
    unseen is looked up, then failed; otherwise the run starts once its ServiceAccount exists
    and admission has admitted it."""
    bj, spec, current = facts.bj, facts.spec, facts.current
    # run-now on a one-shot BatchJob: a new value starts one more run once the current one
    # has finished; the value handled names the run (and its Job) from then on.
    run_now = current.run_now if current else None
    if bj.run_now and bj.run_now != run_now and is_terminal(current):
        run_now = bj.run_now
    if facts.started is not None:
        return _started(facts, run_now)
    name = run_name(bj, run_now)
    if is_terminal(current) and current and current.job_name == name:
        # A finished run keeps its result (its Job may be gone after the TTL).
        return WriteOutcome(_unchanged(current), Release.WAIT, run_now)
    job = next((j for j in facts.jobs if j.name == name), None)
    if job is None and current and current.job_name == name:  # the watch may lag a create
        if name not in facts.found:
            return LookUpJob(name)
        found = facts.found[name]
        if found is not None and found.owner_uid != bj.uid:
            found = None  # someone else's Job under our name is not our run
        last_seen = facts.gone.get(name)
        if found is None and last_seen and last_seen.name == name and last_seen.finished:
            job = last_seen  # finished, then removed (ttlSecondsAfterFinished: 0) unwritten
        elif found is None:
            return WriteOutcome(job_deleted_outcome(name), Release.WAIT, run_now)
        else:
            job = found
    if job is not None:
        return ReportJob(job, run_now)
    if spec.service_account_name:
        if facts.service_account is None:
            return LookUpServiceAccount(spec.service_account_name)
        if not facts.service_account:
            return WriteOutcome(
                invalid_outcome(
                    f"serviceAccountName {spec.service_account_name} does not exist in namespace "
                    f"{bj.namespace}"
                ),
                Release.NOTHING,
                run_now,
            )
    if spec.uses and facts.admitted_run != name:
        return WaitForAdmission(name, run_now)
    return Start(run_now)


def _started(facts: Facts, run_now: str | None) -> Final:
    """What the start of the run came to: a Job of another owner under its name is never
    adopted, and a run that did not start lets go of its admission."""
    started = facts.started
    match started:
        case Exists(job) if job.owner_uid != facts.bj.uid:
            return WriteOutcome(job_name_taken_outcome(job.name), Release.ALL, run_now)
        case Exists(job):
            return RecordStart(job_outcome(job, facts.spec), run_now)
        case Blocked(reason, message):
            return WriteOutcome(Outcome("Pending", reason, message), Release.ALL, run_now)
        case Refused(error):
            message = f"the API server refused the Job: {error}"
            return WriteOutcome(invalid_outcome(message), Release.ALL, run_now)
        case _:
            return LookAgain()


def _unchanged(current: BatchJobStatus) -> Outcome:
    """A finished BatchJob keeps its result; only observedGeneration follows the spec."""
    kept = current.wire()
    for k in ("observedGeneration", "phase", "conditions", "reason", "message"):
        kept.pop(k, None)
    return Outcome(current.phase or "Pending", current.reason or "", current.message or "", kept)
