"""The store: watch events always win; the startup listing only fills what no event told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bulkhead.api.views import BatchJobView, JobView, Malformed
from bulkhead.runtime.reflector import Change, Relisted
from bulkhead.state.store import Store, fill, put_body

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


def test_listing_fills_what_no_event_told_and_stops_when_it_ends() -> None:
    store = Store()
    store.put_batchjob(("billing", "a"), batchjob("Running"), listed=True)
    assert store.batchjob(("billing", "a")) is not None
    listing = store.end_listing("batchjobs", {("billing", "a")})
    assert listing == Relisted([], [Change(("billing", "a"), batchjob("Running"))])
    store.put_batchjob(("billing", "a"), batchjob("Failed"), listed=True)
    view = store.batchjob(("billing", "a"))
    assert view is not None and view.phase == "Running"


def job_body(name: str, uid: str = "u1", finished: bool = False) -> dict[str, Any]:
    """A Job of BatchJob billing/a (controller owner uid `uid`) holding 2 units of orders-db."""
    return {
        "metadata": {
            "namespace": "billing",
            "name": name,
            "labels": {"bulkhead.dev/batchjob": "a"},
            "annotations": {"bulkhead.dev/uses": USES},
            "creationTimestamp": "2026-11-23T02:00:00Z",
            "ownerReferences": [{"kind": "BatchJob", "name": "a", "uid": uid, "controller": True}],
        },
        "status": {"conditions": [{"type": "Complete", "status": "True"}]} if finished else {},
    }


def test_a_listing_again_deletes_what_vanished_unseen_and_keeps_what_events_told() -> None:
    """After a watch's 410 Gone, kopf lists again and reports no deletion: the operator's own
    listing frees the units of a Job deleted during the gap, keeps a Job an event created
    while it listed, and counts each remaining holder once."""
    store = owned_store()
    for name in ("a-gone", "a-kept", "a-deleted-by-event"):
        put_body(store, "jobs", job_body(name))
    store.end_listing("jobs", set())  # the startup listing, done long ago
    assert sorted(h.job for h in store.holders("orders-db")) == [
        "a-deleted-by-event",
        "a-gone",
        "a-kept",
    ]

    store.begin_listing("jobs")
    put_body(store, "jobs", job_body("a-new"))  # an event while the listing is under way
    put_body(store, "jobs", job_body("a-deleted-by-event"), deleted=True)
    # the list was read before those events: it shows a-kept and a-deleted-by-event only
    listed = fill(store, "jobs", [job_body("a-kept"), job_body("a-deleted-by-event")])
    listing = store.end_listing("jobs", listed)

    assert [(c.key, c.view.name, c.deleted) for c in listing.gone] == [
        (("billing", "a"), "a-gone", True)
    ]
    assert listing.changed == []  # what it listed, the store held already
    assert sorted(j.name for j in store.jobs(("billing", "a"))) == ["a-kept", "a-new"]
    assert sorted((h.job, h.units) for h in store.holders("orders-db")) == [
        ("a-kept", 2),
        ("a-new", 2),
    ]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("batchjobs", {"metadata": {"namespace": "billing", "name": "b", "uid": "u"}}),
        ("dependencies", {"metadata": {"name": "db", "uid": "u"}, "spec": {"capacity": 1}}),
        ("namespaces", {"metadata": {"name": "billing", "labels": {"team": "b"}}}),
    ],
)
def test_a_listing_again_deletes_any_kind_that_vanished(kind: str, body: Any) -> None:
    store = Store()
    added_key, view = put_body(store, kind, body)
    store.end_listing(kind, set())
    store.begin_listing(kind)
    assert store.end_listing(kind, fill(store, kind, [])) == Relisted(
        [Change(added_key, view, deleted=True)], []
    )
    store.begin_listing(kind)
    assert store.end_listing(kind, fill(store, kind, [])) == Relisted([], [])
    store.begin_listing(kind)  # the watch missed its creation: the listing finds it
    assert store.end_listing(kind, fill(store, kind, [body])) == Relisted(
        [], [Change(added_key, view)]
    )
    store.begin_listing(kind)
    assert store.end_listing(kind, fill(store, kind, [body])) == Relisted([], [])


def owned_store() -> Store:
    """A store with the BatchJob billing/a (uid u1), which controls the Jobs the tests add."""
    store = Store()
    store.put_batchjob(("billing", "a"), batchjob("Running"))
    return store


def test_holders_follow_the_jobs() -> None:
    store = owned_store()
    owner = ("billing", "a")
    store.put_job(owner, "a-1", JobView(name="a-1", uses=USES, owner_uid="u1"))
    assert [(h.key, h.units) for h in store.holders("orders-db")] == [(owner, 2)]
    done = ("Complete", "True", "", "", "2026-11-18T02:40:00Z")
    store.put_job(owner, "a-1", JobView(name="a-1", uses=USES, conditions=(done,), owner_uid="u1"))
    assert store.holders("orders-db") == []
    assert [j.name for j in store.jobs(owner)] == ["a-1"]
    store.put_job(owner, "a-1", None)
    assert store.jobs(owner) == []


def test_starts_of_the_last_minute_count_finished_and_deleted_jobs_too() -> None:
    """maxStartsPerMinute counts every start, not only the runs still holding units."""
    store = owned_store()
    owner = ("billing", "a")
    done = (("Complete", "True", "", "", "2026-11-23T02:00:05Z"),)

    def job(name: str, created: str, **more: Any) -> JobView:
        return JobView(name, uses=USES, created=created, owner_uid="u1", **more)

    store.put_job(owner, "old", job("old", "2026-11-23T01:58:00Z"))
    store.put_job(owner, "run", job("run", "2026-11-23T02:00:30Z"))
    store.put_job(owner, "done", job("done", "2026-11-23T02:00:00Z", conditions=done))
    store.put_job(owner, "gone", job("gone", "2026-11-23T02:00:10Z"))
    store.put_job(owner, "gone", None)
    since = datetime(2026, 11, 23, 1, 59, 45, tzinfo=UTC)
    assert sorted(t.isoformat() for t in store.starts_since("orders-db", since)) == [
        "2026-11-23T02:00:00+00:00",
        "2026-11-23T02:00:10+00:00",
        "2026-11-23T02:00:30+00:00",
    ]
    assert [h.job for h in store.holders("orders-db")] == ["old", "run"]
    assert store.starts_since("other-db", since) == []


# --- only what a BatchJob controls counts ---------------------------------------------------


@pytest.mark.parametrize(
    "owner_uid",
    [
        "",  # no controller owner reference: made by hand, with our labels and annotation
        "someone-else",  # controlled by another object
    ],
)
def test_a_job_not_controlled_by_its_batchjob_holds_nothing_and_is_no_run(owner_uid: str) -> None:
    store = owned_store()
    owner = ("billing", "a")
    fake = JobView("a-fake", uses=USES, owner_uid=owner_uid, created="2026-11-23T02:00:00Z")
    store.put_job(owner, "a-fake", fake)
    assert store.holders("orders-db") == []
    assert store.jobs(owner) == []
    assert store.starts_since("orders-db", datetime(2026, 11, 23, tzinfo=UTC)) == []


def test_a_job_of_a_batchjob_that_does_not_exist_holds_nothing() -> None:
    store = Store()  # no BatchJob billing/a at all, in any namespace
    store.put_job(("billing", "a"), "a-1", JobView("a-1", uses=USES, owner_uid="u1"))
    assert store.holders("orders-db") == []


@pytest.mark.parametrize("annotation", ["not json", '[{"dependency":"x","units":-1}]', '{"a":1}'])
def test_a_malformed_uses_annotation_holds_nothing_and_raises_nothing(annotation: str) -> None:
    store = owned_store()
    store.put_job(("billing", "a"), "a-1", JobView("a-1", uses=annotation, owner_uid="u1"))
    assert store.holders("orders-db") == []
    assert [j.name for j in store.jobs(("billing", "a"))] == ["a-1"]


MALFORMED = [
    ("batchjobs", {"metadata": {"namespace": "billing", "uid": "u"}}),  # no name
    ("batchjobs", {"metadata": {"namespace": "n", "name": "a", "uid": "u"}, "status": "bad"}),
    ("jobs", {"metadata": {"namespace": "billing", "name": "j"}}),  # no owner label
    ("dependencies", {"metadata": {}}),
    ("namespaces", {"metadata": {"name": "n", "labels": "not a map"}}),
    ("batchjobs", None),
]


@pytest.mark.parametrize(("kind", "body"), MALFORMED)
def test_a_malformed_object_is_refused_and_changes_nothing(kind: str, body: Any) -> None:
    store = owned_store()
    with pytest.raises(Malformed):
        put_body(store, kind, body)
    assert [b.key for b in store.all_batchjobs()] == [("billing", "a")]


def test_the_startup_listing_skips_malformed_objects_and_keeps_the_rest() -> None:
    store = Store()
    good = {"metadata": {"namespace": "billing", "name": "ok", "uid": "u2"}, "spec": {}}
    fill(store, "batchjobs", [MALFORMED[0][1], good, MALFORMED[1][1]])
    assert [b.key for b in store.all_batchjobs()] == [("billing", "ok")]
