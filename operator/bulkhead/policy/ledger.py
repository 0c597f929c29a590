"""Pure: the entries of a scheduled BatchJob's ledger (status.runs): what names one, and one
marked Missed with why (policy/catchup.py, policy/deadline.py and policy/concurrency.py mark
them; policy/runs.py keeps the ledger)."""

from __future__ import annotations

from bulkhead.api.batchjob import Run
from bulkhead.policy.build import run_token


def token(run: Run) -> str:
    """Returns what identifies `run` in the ledger (and names its Job)."""
    return run_token(run.scheduled_time, run.run_now or "", trigger_run(run))


def trigger_run(run: Run) -> str:
    """The trigger and key (`<trigger>/<key>`) that started `run`, "" if none did."""
    return f"{run.trigger}/{run.key}" if run.trigger else ""


def missed(run: Run, reason: str, message: str) -> Run:
    """Returns `run` marked Missed, given the `reason` and the `message` that say why."""
    return run.model_copy(update={"result": "Missed", "reason": reason, "message": message})
