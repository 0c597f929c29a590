"""Pure: concurrencyPolicy, when a run of a scheduled BatchJob is due while another is active
or waiting: Allow starts it (one start a look; the line keeps maxCatchUpRuns), Forbid records it
Missed, Queue keeps one waiting (the rest Missed, QueueFull), Replace deletes the active run's
Job and starts the new one. A triggered BatchJob's runs start, oldest first, while fewer than
eventRuns.maxInFlight run."""

from __future__ import annotations

from bulkhead.api.batchjob import BatchJobSpec, Run
from bulkhead.api.constants import (
    CONCURRENCY_FORBID,
    MAX_IN_FLIGHT,
    QUEUE_FULL,
    REPLACED,
    SUPERSEDED,
    WAITING_FOR_ACTIVE_RUN,
)
from bulkhead.policy.ledger import missed, token


def choose(spec: BatchJobSpec, runs: dict[str, Run]) -> tuple[Run | None, list[str]]:
    """Returns the Deferred run that may start now (through admission), None if none may, and
    the names of the Jobs to delete (of runs Replaced), given the spec and the ledger `runs`
    (by token), whose entries it marks Missed, Replaced or waiting for the active run."""
    active = [r for r in runs.values() if r.result == "Running"]
    deferred = sorted(
        (r for r in runs.values() if r.result == "Deferred"), key=lambda r: r.scheduled_time
    )
    if not deferred:
        return None, []
    if spec.triggers:
        return _in_flight(spec, runs, active, deferred), []
    policy = spec.concurrency_policy
    head = deferred[0]
    if policy == "Allow":
        # One start a pass: when instants fall due faster than passes start them, the line
        # keeps maxCatchUpRuns, the newest, and the older are recorded Missed, never dropped
        # unseen from a status.runs that holds at most MAX_RUNS.
        scheduled = [r for r in deferred if not r.run_now]
        for r in scheduled[: max(len(scheduled) - spec.max_catch_up_runs, 0)]:
            runs[token(r)] = missed(
                r,
                QUEUE_FULL,
                f"more than maxCatchUpRuns ({spec.max_catch_up_runs}) runs were waiting "
                f"to start; the oldest are not run",
            )
        start = min(
            (r for r in runs.values() if r.result == "Deferred"), key=lambda r: r.scheduled_time
        )
        return start, []
    if policy == "Replace":
        newest = deferred[-1]
        for r in deferred[:-1]:
            runs[token(r)] = missed(
                r,
                SUPERSEDED,
                f"superseded by the run of {newest.scheduled_time} (concurrencyPolicy Replace)",
            )
        for r in active:
            runs[token(r)] = r.model_copy(
                update={
                    "result": "Replaced",
                    "reason": REPLACED,
                    "message": f"replaced by the run of {newest.scheduled_time} "
                    f"(concurrencyPolicy Replace)",
                }
            )
        return newest, [r.job_name for r in active if r.job_name]
    blocker = active[0] if active else None
    rest = deferred[1:] if blocker is None or policy == "Queue" else deferred
    for r in rest:
        if policy == "Forbid":
            what = (
                f"run {blocker.job_name} was still running"
                if blocker
                else f"the run of {head.scheduled_time} was still waiting to start"
            )
            runs[token(r)] = missed(r, CONCURRENCY_FORBID, f"{what} (concurrencyPolicy Forbid)")
        else:
            runs[token(r)] = missed(
                r,
                QUEUE_FULL,
                f"the run of {head.scheduled_time} was already waiting "
                f"(concurrencyPolicy Queue keeps one)",
            )
    if blocker is None:
        return head, []
    if policy == "Queue":
        runs[token(head)] = head.model_copy(
            update={
                "reason": WAITING_FOR_ACTIVE_RUN,
                "message": f"waiting for run {blocker.job_name} to finish (concurrencyPolicy "
                f"Queue)",
            }
        )
    return None, []


def _in_flight(
    spec: BatchJobSpec, runs: dict[str, Run], active: list[Run], deferred: list[Run]
) -> Run | None:
    """The oldest waiting run of a triggered BatchJob while a maxInFlight slot is free; else
    every waiting run says it waits for one."""
    limit = spec.bounds.max_in_flight
    if len(active) < limit:
        return deferred[0]
    for r in deferred:
        runs[token(r)] = r.model_copy(
            update={
                "reason": MAX_IN_FLIGHT,
                "message": f"waiting for one of the {len(active)} runs in flight to finish "
                f"(eventRuns.maxInFlight {limit})",
            }
        )
    return None
