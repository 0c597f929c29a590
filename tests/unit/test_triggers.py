"""policy/triggers.py: the runs triggers add, duplicates, coalescing, the backlog formula, after
chains and cycles."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec, Run
from bulkhead.api.constants import (
    BACKLOG_DRAINED,
    MAX_PENDING,
    SIGNAL_UNREAD,
    SOURCE_NOT_FOUND,
    TRIGGER_CYCLE,
)
from bulkhead.api.triggers import RunEvent, TriggerStatus
from bulkhead.policy import triggers
from bulkhead.policy.cloudevent import event_key
from bulkhead.policy.ledger import token
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_spec

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
CREATED = "2026-12-08T08:00:00Z"
HTTP_SIGNAL = {
    "http": {"url": "http://queue.example:15672/api/queues/%2F/q", "jsonPath": "$.messages"}
}


def spec(*trigger: dict[str, Any], **event_runs: int) -> BatchJobSpec:
    fields: dict[str, Any] = {"triggers": list(trigger)}
    if event_runs:
        fields["eventRuns"] = {
            {"in_flight": "maxInFlight", "pending": "maxPending"}[k]: v
            for k, v in event_runs.items()
        }
    return make_spec(**fields)


def cloud(name: str = "ce", **fields: Any) -> dict[str, Any]:
    return {"name": name, "cloudEvent": fields}


def backlog(name: str = "queue", items: int = 10) -> dict[str, Any]:
    return {"name": name, "backlog": {"signal": HTTP_SIGNAL, "itemsPerRun": items}}


def after(name: str = "after-a", batch_job: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "after": {"batchJob": batch_job, **fields}}


def event(
    event_id: str, source: str = "/orders", type_: str = "order.exported"
) -> triggers.Arrival:
    return triggers.Arrival(
        "ce",
        RunEvent(id=event_id, source=source, type=type_, data="{}"),
        event_key(source, event_id),
    )


def live(runs: dict[str, Run]) -> list[Run]:
    return [r for r in runs.values() if r.result in ("Deferred", "Running")]


def test_an_event_adds_one_waiting_run_named_by_its_source_and_id() -> None:
    runs: dict[str, Run] = {}
    step = triggers.step(
        spec(cloud()), runs, None, triggers.Inputs(CREATED, arrivals=(event("1"),)), NOW
    )
    assert step.verdicts == ["Accepted"]
    [run] = runs.values()
    assert (run.result, run.trigger, run.key) == (
        "Deferred",
        "ce",
        event_key("/orders", "1"),
    )
    assert run.event is not None and run.event.data == "{}"
    assert token(run) == f"trigger/ce/{run.key}"
    [status] = step.statuses
    assert (status.runs_started, status.last_event) == (1, "/orders 1")


def test_a_resent_event_is_a_duplicate_while_its_run_is_in_the_ledger_or_remembered() -> None:
    runs: dict[str, Run] = {}
    first = triggers.step(
        spec(cloud()), runs, None, triggers.Inputs(CREATED, arrivals=(event("1"),)), NOW
    )
    again = triggers.step(
        spec(cloud()),
        runs,
        first.statuses,
        triggers.Inputs(CREATED, arrivals=(event("1"), event("1"))),
        NOW,
    )
    assert again.verdicts == ["Duplicate", "Duplicate"]
    assert len(runs) == 1 and again.statuses[0].duplicates == 2
    # Its run left status.runs: the trigger's recent keys still know it.
    later = triggers.step(
        spec(cloud()), {}, again.statuses, triggers.Inputs(CREATED, arrivals=(event("1"),)), NOW
    )
    assert later.verdicts == ["Duplicate"]


def test_the_same_id_from_another_source_is_another_event() -> None:
    runs: dict[str, Run] = {}
    step = triggers.step(
        spec(cloud()),
        runs,
        None,
        triggers.Inputs(CREATED, arrivals=(event("1"), event("1", source="/billing"))),
        NOW,
    )
    assert step.verdicts == ["Accepted", "Accepted"] and len(runs) == 2


def test_types_and_sources_filter_and_an_unknown_trigger_is_told() -> None:
    wanted = spec(cloud(types=["order.exported"], sources=["/orders"]))
    arrivals = (
        event("1", type_="order.deleted"),
        event("2", source="/elsewhere"),
        triggers.Arrival("nope", RunEvent(id="3", source="/orders", type="order.exported"), "k"),
        event("4"),
    )
    runs: dict[str, Run] = {}
    step = triggers.step(wanted, runs, None, triggers.Inputs(CREATED, arrivals=arrivals), NOW)
    assert step.verdicts == ["Filtered", "Filtered", "UnknownTrigger", "Accepted"]
    assert len(runs) == 1


def test_beyond_max_pending_events_join_the_newest_waiting_run() -> None:
    bounded = spec(cloud(), in_flight=1, pending=2)
    runs: dict[str, Run] = {}
    arrivals = tuple(event(str(i)) for i in range(10))
    step = triggers.step(bounded, runs, None, triggers.Inputs(CREATED, arrivals=arrivals), NOW)
    assert step.verdicts == ["Accepted"] * 3 + ["Coalesced"] * 7
    assert len(live(runs)) == 3
    assert sum(r.coalesced or 0 for r in runs.values()) == 7
    [status] = step.statuses
    assert (status.runs_started, status.coalesced, status.reason) == (3, 7, MAX_PENDING)
    # A coalesced event resent is a duplicate: it is remembered too.
    again = triggers.step(
        bounded, runs, step.statuses, triggers.Inputs(CREATED, arrivals=(event("9"),)), NOW
    )
    assert again.verdicts == ["Duplicate"]


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 40), max_size=120),
    in_flight=st.integers(1, 5),
    pending=st.integers(1, 8),
    batch=st.integers(1, 20),
)
def test_every_event_is_a_run_a_duplicate_or_coalesced_and_live_runs_stay_bounded(
    ids: list[int], in_flight: int, pending: int, batch: int
) -> None:
    """Events arrive in batches (a pass each); between passes the oldest waiting run starts and
    the oldest running one ends, as the reconcile would have them."""
    bounded = spec(cloud(), in_flight=in_flight, pending=pending)
    runs: dict[str, Run] = {}
    statuses: list[TriggerStatus] | None = None
    verdicts: list[str] = []
    for start in range(0, len(ids), batch):
        arrivals = tuple(event(str(i)) for i in ids[start : start + batch])
        step = triggers.step(
            bounded, runs, statuses, triggers.Inputs(CREATED, arrivals=arrivals), NOW
        )
        statuses, verdicts = step.statuses, verdicts + step.verdicts
        assert len(live(runs)) <= in_flight + pending
        for result in ("Running", "Deferred"):
            found = sorted((r for r in runs.values() if r.result == result), key=token)
            if found:
                done = "Succeeded" if result == "Running" else "Running"
                runs[token(found[0])] = found[0].model_copy(update={"result": done})
    distinct = len(set(ids))
    assert verdicts.count("Accepted") + verdicts.count("Coalesced") == distinct
    assert verdicts.count("Duplicate") == len(ids) - distinct
    assert len(runs) == verdicts.count("Accepted")
    assert sum(r.coalesced or 0 for r in runs.values()) == verdicts.count("Coalesced")


def reading(value: float | None, at: datetime = NOW, error: str = "") -> triggers.Reading:
    return triggers.Reading(value, error, at)


def test_a_backlog_wants_ceil_of_items_over_items_per_run_less_its_live_runs() -> None:
    runs: dict[str, Run] = {}
    wanted = spec(backlog(items=10), in_flight=3, pending=20)
    step = triggers.step(
        wanted, runs, None, triggers.Inputs(CREATED, readings={"queue": reading(41)}), NOW
    )
    assert len(live(runs)) == math.ceil(41 / 10)
    [status] = step.statuses
    assert (status.last_value, status.runs_wanted, status.runs_started) == (41, 5, 5)
    # The same reading again: its runs are live, nothing more.
    again = triggers.step(
        wanted, runs, step.statuses, triggers.Inputs(CREATED, readings={"queue": reading(41)}), NOW
    )
    assert len(live(runs)) == 5 and again.statuses[0].runs_started == 5


def test_a_backlog_is_bounded_by_event_runs_and_says_so() -> None:
    runs: dict[str, Run] = {}
    step = triggers.step(
        spec(backlog(items=1), in_flight=2, pending=3),
        runs,
        None,
        triggers.Inputs(CREATED, readings={"queue": reading(500)}),
        NOW,
    )
    assert len(live(runs)) == 5
    assert step.statuses[0].reason == MAX_PENDING and step.statuses[0].runs_wanted == 500


def test_a_reading_older_than_the_newest_end_of_its_runs_decides_nothing() -> None:
    """The read may count items the run that just ended worked off: no extra run."""
    ended = Run(
        scheduled_time="2026-12-08T08:59:00Z",
        result="Succeeded",
        trigger="queue",
        key="1",
        completion_time="2026-12-08T09:00:05Z",
    )
    runs = {token(ended): ended}
    wanted = spec(backlog(items=10))
    triggers.step(
        wanted, runs, None, triggers.Inputs(CREATED, readings={"queue": reading(10)}), NOW
    )
    assert not live(runs)
    later = NOW + timedelta(seconds=6)
    triggers.step(
        wanted, runs, None, triggers.Inputs(CREATED, readings={"queue": reading(10, later)}), later
    )
    assert len(live(runs)) == 1


def test_a_drained_backlog_misses_its_waiting_runs_beyond_what_it_wants() -> None:
    runs: dict[str, Run] = {}
    wanted = spec(backlog(items=10), in_flight=1, pending=10)
    first = triggers.step(
        wanted, runs, None, triggers.Inputs(CREATED, readings={"queue": reading(40)}), NOW
    )
    oldest = min(runs.values(), key=lambda r: int(r.key or 0))
    runs[token(oldest)] = oldest.model_copy(update={"result": "Running"})
    triggers.step(
        wanted, runs, first.statuses, triggers.Inputs(CREATED, readings={"queue": reading(10)}), NOW
    )
    assert [r.result for r in sorted(runs.values(), key=lambda r: int(r.key or 0))] == [
        "Running",
        "Missed",
        "Missed",
        "Missed",
    ]
    assert {r.reason for r in runs.values() if r.result == "Missed"} == {BACKLOG_DRAINED}


def test_an_unread_backlog_starts_nothing_and_says_why() -> None:
    runs: dict[str, Run] = {}
    step = triggers.step(
        spec(backlog()),
        runs,
        None,
        triggers.Inputs(CREATED, readings={"queue": reading(None, error="HTTP 401")}),
        NOW,
    )
    assert not runs and step.statuses[0].reason == SIGNAL_UNREAD
    assert "HTTP 401" in (step.statuses[0].message or "")


def ended_run(
    job: str, result: str = "Succeeded", at: str = "2026-12-08T08:30:00Z"
) -> triggers.SourceRun:
    return triggers.SourceRun(job, result, at)


def test_each_ended_run_of_the_other_batchjob_starts_one_run() -> None:
    runs: dict[str, Run] = {}
    sources = {"after-a": (ended_run("a-1"), ended_run("a-2", "Failed"), ended_run("a-3"))}
    step = triggers.step(
        spec(after(), in_flight=1, pending=5),
        runs,
        None,
        triggers.Inputs(CREATED, sources=sources),
        NOW,
    )
    assert sorted(r.key or "" for r in runs.values()) == ["a-1", "a-3"]
    # Seen again (a re-list, a restart): nothing new.
    triggers.step(
        spec(after()), runs, step.statuses, triggers.Inputs(CREATED, sources=sources), NOW
    )
    assert len(runs) == 2
    # Its runs left this ledger: the cursor and the recent keys still know them.
    triggers.step(spec(after()), {}, step.statuses, triggers.Inputs(CREATED, sources=sources), NOW)
    both = spec(after(results=["Succeeded", "Failed"]))
    fresh: dict[str, Run] = {}
    triggers.step(both, fresh, None, triggers.Inputs(CREATED, sources=sources), NOW)
    assert len(fresh) == 3


def test_runs_that_ended_before_the_batchjob_existed_start_nothing() -> None:
    runs: dict[str, Run] = {}
    old = {"after-a": (ended_run("a-1", at="2026-12-08T07:00:00Z"),)}
    triggers.step(spec(after()), runs, None, triggers.Inputs(CREATED, sources=old), NOW)
    assert not runs


def test_a_missing_source_and_a_cycle_start_nothing_and_say_why() -> None:
    runs: dict[str, Run] = {}
    missing = triggers.step(
        spec(after()), runs, None, triggers.Inputs(CREATED, sources={"after-a": None}), NOW
    )
    assert missing.statuses[0].reason == SOURCE_NOT_FOUND and not runs
    cycle = triggers.step(
        spec(after()),
        runs,
        None,
        triggers.Inputs(
            CREATED, sources={"after-a": (ended_run("a-1"),)}, cycles={"after-a": ("b", "a", "b")}
        ),
        NOW,
    )
    assert cycle.statuses[0].reason == TRIGGER_CYCLE and not runs
    assert "b -> a -> b" in (cycle.statuses[0].message or "")


def test_find_cycle() -> None:
    graph = {"b": ("a",), "a": ("c", "b"), "c": ()}
    assert triggers.find_cycle("b", lambda n: graph.get(n, ())) == ("b", "a", "b")
    assert triggers.find_cycle("c", lambda n: graph.get(n, ())) == ()
    chain = {"d": ("e",), "e": ("f",), "f": ("e",)}
    assert triggers.find_cycle("d", lambda n: chain.get(n, ())) == ()  # a cycle d is not on


def test_ended_runs_of_a_one_shot_and_of_a_scheduled_status() -> None:
    one_shot = {"phase": "Succeeded", "jobName": "a-1", "completionTime": "2026-12-08T08:30:00Z"}
    assert triggers.ended_runs(one_shot) == (ended_run("a-1"),)
    assert triggers.ended_runs({"phase": "Running", "jobName": "a-1"}) == ()
    scheduled = {
        "runs": [
            {"result": "Succeeded", "jobName": "a-1", "completionTime": "2026-12-08T08:30:00Z"},
            {"result": "Running", "jobName": "a-2"},
            {"result": "Missed"},
            "junk",
        ]
    }
    assert triggers.ended_runs(scheduled) == (ended_run("a-1"),)
    assert triggers.ended_runs(None) == ()
