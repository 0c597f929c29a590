"""The pure helpers of the controller: label selectors, the work queue, error text."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.api.pod import Resources
from bulkhead.api.views import JobView, explain
from bulkhead.policy.selectors import selector_matches
from bulkhead.runtime.workqueue import WorkQueue
from bulkhead.state.store import holdings
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support.factories import spec_dict

BILLING = {"team": "billing", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        (None, {}, True),
        ({}, BILLING, True),
        ({"matchLabels": {"team": "billing"}}, BILLING, True),
        ({"matchLabels": {"team": "billing", "env": "dev"}}, BILLING, False),
        ({"matchLabels": {"team": "billing"}}, {}, False),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]},
            BILLING,
            True,
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
            BILLING,
            False,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]},
            BILLING,
            False,
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
            BILLING,
            False,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]},
            BILLING,
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, BILLING, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, BILLING, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, BILLING, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, BILLING, False),
        (
            {
                "matchLabels": {"team": "billing"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}],
            },
            BILLING,
            False,
        ),
    ],
)
def test_selector_matches(
    selector: dict[str, Any] | None, labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches


# --- WorkQueue -------------------------------------------------------------------------------

A = ("billing", "a")
B = ("billing", "b")
C = ("billing", "c")


async def ready(queue: WorkQueue) -> list[tuple[str, str]]:
    """Every key a worker could take now (taking them)."""
    keys = []
    while (key := await ready_one(queue, timeout=0.01)) is not None:
        keys.append(key)
    return keys


async def ready_one(queue: WorkQueue, timeout: float = 0.001) -> tuple[str, str] | None:
    """The key a worker would take now (taking it), or None."""
    try:
        return await asyncio.wait_for(queue.get(), timeout=timeout)
    except TimeoutError:
        return None


def test_duplicate_adds_coalesce() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        for key in (A, B, A, A, B):
            queue.add(key)
        return await ready(queue)

    assert asyncio.run(scenario()) == [A, B]


def test_a_key_changed_while_worked_on_is_redone_once_after_it_is_done() -> None:
    async def scenario() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        queue = WorkQueue()
        queue.add(A)
        key = await queue.get()
        queue.add(A)
        queue.add(A)
        while_active = await ready(queue)  # no second worker gets A
        queue.done(key)
        return while_active, await ready(queue)

    assert asyncio.run(scenario()) == ([], [A])


def test_a_key_done_without_changes_is_not_redone() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        queue.add(A)
        queue.done(await queue.get())
        return await ready(queue)

    assert asyncio.run(scenario()) == []


def test_other_keys_are_not_held_back_by_an_active_one() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        queue.add(A)
        await queue.get()
        queue.add(A)
        queue.add(B)
        return await ready(queue)

    assert asyncio.run(scenario()) == [B]


def test_add_after_adds_the_key_later() -> None:
    async def scenario() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        queue = WorkQueue()
        queue.add_after(A, 0.05)
        now = await ready(queue)
        await asyncio.sleep(0.06)
        return now, await ready(queue)

    assert asyncio.run(scenario()) == ([], [A])


def test_urgent_keys_go_before_the_ones_queued_earlier() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        queue.add(A)
        queue.add(B)
        queue.add(C, urgent=True)
        return await ready(queue)

    assert asyncio.run(scenario()) == [C, A, B]


def test_a_queued_key_made_urgent_moves_ahead_once() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        queue.add(A)
        queue.add(B)
        queue.add(B, urgent=True)
        queue.add(B)  # stays urgent
        return await ready(queue)

    assert asyncio.run(scenario()) == [B, A]


def test_a_key_made_urgent_while_worked_on_is_redone_first() -> None:
    async def scenario() -> list[tuple[str, str]]:
        queue = WorkQueue()
        queue.add(A)
        key = await queue.get()
        queue.add(B)
        queue.add(A, urgent=True)
        queue.add(A)  # a later plain change does not lose the urgency
        queue.done(key)
        return await ready(queue)

    assert asyncio.run(scenario()) == [A, B]


OPS = st.lists(
    st.tuples(st.sampled_from(["add", "urgent", "get", "done"]), st.sampled_from([A, B, C])),
    max_size=40,
)


@given(OPS)
def test_every_key_added_is_worked_on_once_per_change_and_urgent_first(ops) -> None:
    """Whatever the order of adds, urgent adds, takes and dones: no key is worked on by two
    workers at once, a key added is taken (again, if it was being worked on), urgent keys are
    taken before plain ones, and nothing is taken that was not added."""

    async def scenario() -> None:
        queue = WorkQueue()
        active: set[tuple[str, str]] = set()
        owed: dict[tuple[str, str], bool] = {}  # key -> urgent, added and not yet taken
        for op, key in ops:
            if op in ("add", "urgent"):
                queue.add(key, urgent=op == "urgent")
                owed[key] = owed.get(key, False) or op == "urgent"
            elif op == "done" and key in active:
                active.discard(key)
                queue.done(key)
            elif op == "get":
                takeable = {k: u for k, u in owed.items() if k not in active}
                taken = await ready_one(queue)
                if not takeable:
                    assert taken is None
                    continue
                assert taken in takeable
                assert takeable[taken] or not any(takeable.values())
                del owed[taken]
                active.add(taken)
        for key in list(active):
            queue.done(key)
        assert sorted(await ready(queue)) == sorted(owed)

    asyncio.run(scenario())


# --- explain ---------------------------------------------------------------------------------


def _error(model: type[BatchJobSpec] | type[Resources], data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return raised.value


def test_explain_names_the_field() -> None:
    error = _error(BatchJobSpec, spec_dict(parallelism=0))
    assert explain(error) == "spec.parallelism: Input should be greater than or equal to 1"


def test_explain_names_nested_fields_and_list_indexes() -> None:
    error = _error(BatchJobSpec, spec_dict(env=[{"name": "A"}, {"name": "1B"}]))
    assert explain(error).startswith("spec.env.1.name: String should match pattern")


def test_explain_keeps_the_first_five_problems() -> None:
    error = _error(
        BatchJobSpec,
        {"parallelism": 0, "completions": 0, "backoffLimit": -1, "priority": 10**9, "x": 1},
    )
    assert len(error.errors()) > 5
    parts = explain(error).split("; ")
    assert len(parts) == 5
    assert all(part.startswith("spec.") for part in parts)


def test_explain_a_problem_of_the_whole_object() -> None:
    error = _error(Resources, {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "2"}})
    assert explain(error) == ("Value error, requests.cpu must be less than or equal to limits.cpu")


# --- holdings --------------------------------------------------------------------------------

USES = '[{"dependency":"orders-db","units":2},{"dependency":"shared-cache","units":1}]'


def test_an_unfinished_job_holds_its_units() -> None:
    job = JobView(name="a-1a2b3c4d", uses=USES, created="2026-11-18T02:00:00Z")
    held = holdings(job, "billing", "a")
    assert {name: (h.key, h.units) for name, h in held.items()} == {
        "orders-db": (("billing", "a"), 2),
        "shared-cache": (("billing", "a"), 1),
    }


def test_a_finished_job_holds_nothing() -> None:
    done = ("Complete", "True", "", "", "2026-11-18T02:40:00Z")
    assert holdings(JobView(name="a-1a2b3c4d", uses=USES, conditions=(done,)), "billing", "a") == {}


def test_a_dependency_named_twice_holds_both_uses() -> None:
    twice = '[{"dependency":"orders-db","units":1},{"dependency":"orders-db","units":1}]'
    held = holdings(JobView(name="a-1a2b3c4d", uses=twice), "billing", "a")
    assert sum(h.units for h in held.values()) == 2
