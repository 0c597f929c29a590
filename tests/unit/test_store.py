"""The store: watch events always win; the startup listing only fills what no event told."""

from __future__ import annotations

from bulkhead.api.views import BatchJobView, JobView
from bulkhead.state.store import Store

USES = '[{"dependency":"orders-db","units":2}]'


def batchjob(phase: str) -> BatchJobView:
    return BatchJobView.from_body(
        {
            "metadata": {"namespace": "billing", "name": "a", "uid": "u1"},
            "spec": {"image": "x"},
            "status": {"phase": phase},
        }
    )


def test_a_listed_object_does_not_overwrite_a_newer_event() -> None:
    store = Store()
    store.put_batchjob(("billing", "a"), batchjob("Running"))
    store.put_batchjob(("billing", "a"), batchjob("Pending"), listed=True)
    view = store.batchjob(("billing", "a"))
    assert view is not None and view.phase == "Running"


def test_a_listed_object_does_not_resurrect_a_deletion() -> None:
    store = Store()
    store.put_batchjob(("billing", "a"), None)
    store.put_batchjob(("billing", "a"), batchjob("Running"), listed=True)
    assert store.batchjob(("billing", "a")) is None


def test_listing_fills_what_no_event_told_and_stops_after_ready() -> None:
    store = Store()
    store.put_batchjob(("billing", "a"), batchjob("Running"), listed=True)
    assert store.batchjob(("billing", "a")) is not None
    store.mark_ready()
    store.put_batchjob(("billing", "a"), batchjob("Failed"), listed=True)
    view = store.batchjob(("billing", "a"))
    assert view is not None and view.phase == "Running"


def test_holders_follow_the_jobs() -> None:
    store = Store()
    owner = ("billing", "a")
    store.put_job(owner, "a-1", JobView(name="a-1", uses=USES))
    assert [(h.key, h.units) for h in store.holders("orders-db")] == [(owner, 2)]
    done = ("Complete", "True", "", "", "2026-11-18T02:40:00Z")
    store.put_job(owner, "a-1", JobView(name="a-1", uses=USES, conditions=(done,)))
    assert store.holders("orders-db") == []
    assert [j.name for j in store.jobs(owner)] == ["a-1"]
    store.put_job(owner, "a-1", None)
    assert store.jobs(owner) == []


def test_starts_of_the_last_minute_count_finished_and_deleted_jobs_too() -> None:
    """maxStartsPerMinute counts every start, not only the runs still holding units."""
    from datetime import UTC, datetime

    store = Store()
    owner = ("billing", "a")
    done = (("Complete", "True", "", "", "2026-11-23T02:00:05Z"),)
    store.put_job(owner, "old", JobView("old", uses=USES, created="2026-11-23T01:58:00Z"))
    store.put_job(owner, "run", JobView("run", uses=USES, created="2026-11-23T02:00:30Z"))
    store.put_job(
        owner, "done", JobView("done", uses=USES, created="2026-11-23T02:00:00Z", conditions=done)
    )
    store.put_job(owner, "gone", JobView("gone", uses=USES, created="2026-11-23T02:00:10Z"))
    store.put_job(owner, "gone", None)
    since = datetime(2026, 11, 23, 1, 59, 45, tzinfo=UTC)
    assert sorted(t.isoformat() for t in store.starts_since("orders-db", since)) == [
        "2026-11-23T02:00:00+00:00",
        "2026-11-23T02:00:10+00:00",
        "2026-11-23T02:00:30+00:00",
    ]
    assert [h.job for h in store.holders("orders-db")] == ["old", "run"]
    assert store.starts_since("other-db", since) == []
