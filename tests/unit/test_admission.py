"""admission: who may start now, given dependencies, what is held and what waits."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bulkhead.policy.admission import admit
from bulkhead.policy.budget import DependencyState, Gate, Holding
from bulkhead.policy.line import Candidate, Wait, order
from bulkhead.policy.windows import windows_open
from hypothesis import given
from hypothesis import strategies as st

from tests.support.admission_factories import (
    CACHE,
    DB,
    NOW,
    TIMES,
    Situation,
    candidate,
    dependency,
    situations,
)


def admitted(
    candidates: list[Candidate], dependencies: dict[str, DependencyState], now: datetime = NOW
) -> list[str]:
    return [name for _, name in admit(candidates, dependencies, now).admitted]


# --- capacity and order ----------------------------------------------------------------------


def test_admits_up_to_capacity() -> None:
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate("abcde")]
    decision = admit(waiting, {DB: dependency(4, ("x", 1))}, NOW)
    assert [name for _, name in decision.admitted] == ["a", "b", "c"]
    assert set(decision.waiting) == {("billing", "d"), ("billing", "e")}


def test_all_or_nothing_across_two_dependencies() -> None:
    dependencies = {DB: dependency(4), CACHE: dependency(2, ("x", 2))}
    decision = admit([candidate("both", (DB, 1), (CACHE, 1))], dependencies, NOW)
    assert decision.admitted == []
    assert decision.waiting[("billing", "both")].dependency == CACHE


def test_a_job_that_fits_everywhere_is_admitted_on_every_dependency() -> None:
    dependencies = {DB: dependency(4), CACHE: dependency(2, ("x", 1))}
    assert admitted([candidate("both", (DB, 3), (CACHE, 1))], dependencies) == ["both"]


def test_higher_priority_first_then_older_first() -> None:
    waiting = [
        candidate("old-low", (DB, 1), priority=0, minute=0),
        candidate("new-high", (DB, 1), priority=10, minute=30),
        candidate("newer-low", (DB, 1), priority=0, minute=40),
        candidate("old-high", (DB, 1), priority=10, minute=5),
    ]
    assert [c.key[1] for c in order(waiting)] == ["old-high", "new-high", "old-low", "newer-low"]
    assert admitted(waiting, {DB: dependency(3)}) == ["old-high", "new-high", "old-low"]


def test_a_later_small_request_does_not_overtake_a_blocked_large_one() -> None:
    waiting = [candidate("large", (DB, 2), minute=0), candidate("small", (DB, 1), minute=1)]
    decision = admit(waiting, {DB: dependency(4, ("x", 3))}, NOW)
    assert decision.admitted == []
    assert decision.lines[DB] == [("billing", "large"), ("billing", "small")]


def test_a_blocked_large_request_does_not_hold_back_other_dependencies() -> None:
    waiting = [candidate("large", (DB, 2), minute=0), candidate("cache-only", (CACHE, 1), minute=1)]
    dependencies = {DB: dependency(4, ("x", 3)), CACHE: dependency(1)}
    assert admitted(waiting, dependencies) == ["cache-only"]


def test_a_request_larger_than_capacity_waits_without_blocking_others() -> None:
    waiting = [candidate("huge", (DB, 5), priority=100), candidate("small", (DB, 1))]
    decision = admit(waiting, {DB: dependency(4)}, NOW)
    assert [name for _, name in decision.admitted] == ["small"]
    assert decision.waiting[("billing", "huge")].message == (
        "waiting for needs 5 units of orders-db, more than its capacity 4"
    )


def test_the_waiting_message_stays_put_while_the_line_moves() -> None:
    """The holders and the place in line change with every start; the message does not, so
    a waiter's status is written once (its place: the line, on the Dependency's status)."""
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate(["c", "d", "e"])]
    decisions = [
        admit(waiting, {DB: dependency(4, ("a", 2), ("b", 2))}, NOW),
        admit(waiting[1:], {DB: dependency(4, ("a", 2), ("b", 1), ("c", 1))}, NOW),
    ]
    waits = [d.waiting[("billing", "e")] for d in decisions]
    message = "waiting for orders-db: all 4 units are held or promised to BatchJobs ahead in line"
    assert waits == [Wait("WaitingForDependency", DB, message)] * 2
    assert [d.lines[DB] for d in decisions] == [
        [("billing", "c"), ("billing", "d"), ("billing", "e")],
        [("billing", "d"), ("billing", "e")],
    ]


def test_a_dependency_named_twice_in_uses_counts_both_uses() -> None:
    """uses [{orders-db: 1}, {orders-db: 1}] needs 2 units; with 1 free it must wait."""
    dependencies = {DB: dependency(2, ("x", 1))}
    assert admitted([candidate("twice", (DB, 1), (DB, 1))], dependencies) == []


# --- starts per minute -----------------------------------------------------------------------


def test_max_starts_per_minute_spreads_starts() -> None:
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate("abc")]
    decision = admit(waiting, {DB: dependency(10, maxStartsPerMinute=2)}, NOW)
    assert [name for _, name in decision.admitted] == ["a", "b"]
    assert decision.waiting[("billing", "c")].message == (
        "waiting for orders-db allows 2 starts per minute"
    )
    assert decision.retry_at == NOW + timedelta(minutes=1)


def test_retry_at_is_when_the_oldest_counted_start_leaves_the_minute() -> None:
    state = dependency(10, maxStartsPerMinute=2)
    state.recent_starts = [NOW - timedelta(seconds=s) for s in (90, 50, 10)]
    decision = admit([candidate("a", (DB, 1))], {DB: state}, NOW)
    assert decision.admitted == []
    assert decision.retry_at == NOW + timedelta(seconds=10)
    later = admit([candidate("a", (DB, 1))], {DB: state}, decision.retry_at)
    assert later.admitted == [("billing", "a")]


# --- windows ---------------------------------------------------------------------------------


def test_a_closed_window_admits_nothing_on_that_dependency() -> None:
    dependencies = {
        DB: dependency(4, windows=[{"start": "22:00", "end": "23:00"}]),
        CACHE: dependency(4),
    }
    decision = admit([candidate("db", (DB, 1)), candidate("cache", (CACHE, 1))], dependencies, NOW)
    assert decision.admitted == [("billing", "cache")]
    wait = decision.waiting[("billing", "db")]
    assert (wait.reason, wait.message) == (
        "WaitingForWindow",
        "waiting for orders-db is outside its windows",
    )


# --- properties ------------------------------------------------------------------------------


def _units_admitted(candidates: list[Candidate], keys: list[Any]) -> Counter[str]:
    by_key = {c.key: c for c in candidates}
    units: Counter[str] = Counter()
    for key in keys:
        for name, n in by_key[key].uses:
            units[name] += n
    return units


@given(situations())
def test_capacity_is_never_exceeded_by_admission(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    for name, units in _units_admitted(candidates, decision.admitted).items():
        assert dependencies[name].in_use + units <= dependencies[name].spec.capacity


@given(situations())
def test_health_gate_bounds_starts_and_half_open_admits_one_probe(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    admitted = {c.key: c for c in candidates if c.key in decision.admitted}
    for name, state in dependencies.items():
        users = [key for key, c in admitted.items() if name in dict(c.uses)]
        if state.gate is None:
            assert name not in decision.probes
        elif state.gate.half_open:
            assert users == ([decision.probes[name]] if name in decision.probes else [])
        else:
            units = _units_admitted(candidates, users)[name]
            assert units == 0 or state.in_use + units <= state.gate.capacity


@given(situations())
def test_every_candidate_is_either_admitted_or_told_why_it_waits(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    by_key = {c.key: c for c in candidates}
    assert len(set(decision.admitted)) == len(decision.admitted)
    assert not set(decision.admitted) & decision.waiting.keys()
    assert set(decision.admitted) | decision.waiting.keys() == {c.key for c in candidates}
    for key, wait in decision.waiting.items():
        uses = dict(next(c for c in candidates if c.key == key).uses)
        assert wait.dependency in uses
        assert key in decision.lines[wait.dependency]
    for name, line in decision.lines.items():  # each waiter in the line of each it uses
        assert line == [k for k in decision.waiting if name in dict(by_key[k].uses)]


@given(situations())
def test_closed_windows_admit_nothing(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    used = _units_admitted(candidates, decision.admitted)
    closed = {name for name, s in dependencies.items() if not windows_open(s.spec, NOW)}
    assert not closed & set(used)


@given(situations())
def test_starts_per_minute_never_exceed_the_limit(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    starts = Counter(name for c in candidates if c.key in decision.admitted for name, _ in c.uses)
    for name, state in dependencies.items():
        limit = state.spec.max_starts_per_minute
        if limit is not None and starts[name]:
            recent = sum(NOW - t < timedelta(minutes=1) for t in state.recent_starts)
            assert recent + starts[name] <= limit


@given(situations(windows=False, rates=False))
def test_no_later_candidate_overtakes_one_blocked_by_capacity(situation: Situation) -> None:
    candidates, dependencies = situation
    decision = admit(candidates, dependencies, NOW)
    ranked = order(candidates)
    for i, waiting in enumerate(ranked):
        wait = decision.waiting.get(waiting.key)
        if wait is None or any(n > dependencies[d].spec.capacity for d, n in waiting.uses):
            continue
        overtaking = [
            later.key
            for later in ranked[i + 1 :]
            if later.key in decision.admitted and wait.dependency in dict(later.uses)
        ]
        assert overtaking == []


@given(
    st.lists(st.tuples(st.integers(-2, 2), st.integers(0, 59)), max_size=10),
    st.integers(0, 6),
    st.integers(0, 8),
)
def test_on_one_dependency_of_single_units_the_admitted_are_a_prefix_of_the_order(
    waiting: list[tuple[int, int]], held: int, capacity: int
) -> None:
    candidates = [
        candidate(f"c{i}", (DB, 1), priority=p, minute=m) for i, (p, m) in enumerate(waiting)
    ]
    dependencies = {DB: dependency(capacity, *[(f"h{i}", 1) for i in range(held)])}
    free = max(capacity - held, 0)
    expected = [c.key for c in order(candidates)][:free]
    assert admit(candidates, dependencies, NOW).admitted == expected


# --- health's gate ---------------------------------------------------------------------------


def gated(capacity: int, gate: Gate, *holders: tuple[str, int]) -> DependencyState:
    state = dependency(capacity, *holders)
    state.gate = gate
    return state


def test_the_gate_lowers_the_capacity_admission_fills() -> None:
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate("abcde")]
    gate = Gate(3, message="orders-db: effective capacity 3 of 10 (p99 0.4)")
    decision = admit(waiting, {DB: gated(10, gate, ("x", 1))}, NOW)
    assert [name for _, name in decision.admitted] == ["a", "b"]
    assert decision.waiting[("billing", "c")] == Wait(
        "WaitingForDependency", DB, "waiting for orders-db: effective capacity 3 of 10 (p99 0.4)"
    )
    assert decision.probes == {}


def test_half_open_admits_exactly_one_probe_with_room_in_the_capacity() -> None:
    waiting = [candidate(n, (DB, 2), minute=i) for i, n in enumerate("abc")]
    gate = Gate(0, half_open=True, message="orders-db: circuit half-open, one probe run may start")
    decision = admit(waiting, {DB: gated(10, gate, ("x", 7))}, NOW)
    assert decision.admitted == [("billing", "a")]
    assert decision.probes == {DB: ("billing", "a")}
    assert decision.waiting[("billing", "b")].message == (
        "waiting for orders-db: circuit half-open, one probe run may start"
    )
    # no room in the capacity itself: no probe
    assert admit(waiting, {DB: gated(10, gate, ("x", 9))}, NOW).admitted == []


def test_half_open_the_probe_does_not_overtake_one_waiting_for_units() -> None:
    # a needs 2 units, 1 is held by work that ran before the breaker opened: b (1 unit) would
    # fit, but a is ahead and keeps the probe for when the holder ends
    waiting = [candidate("a", (DB, 2)), candidate("b", (DB, 1), minute=1)]
    gate = Gate(0, half_open=True, message="orders-db: half-open")
    decision = admit(waiting, {DB: gated(2, gate, ("x", 1))}, NOW)
    assert decision.admitted == []
    assert decision.probes == {}
    assert admitted(waiting, {DB: gated(2, gate)}) == ["a"]


def test_once_a_probe_is_chosen_nobody_else_starts() -> None:
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate("abc")]
    chosen = Gate(0, half_open=True, probe=("billing", "b"), message="orders-db: probe running")
    assert admitted(waiting, {DB: gated(10, chosen)}) == ["b"]
    started = Gate(0, half_open=True, probe=("billing", "z"), message="orders-db: probe running")
    assert admitted(waiting, {DB: gated(10, started)}) == []


def test_a_probe_needs_every_other_dependency_to_have_room() -> None:
    waiting = [candidate("a", (DB, 1), (CACHE, 1))]
    gate = Gate(0, half_open=True, message="orders-db: half-open")
    decision = admit(waiting, {DB: gated(10, gate), CACHE: dependency(1, ("x", 1))}, NOW)
    assert decision.admitted == []
    assert decision.probes == {}


def test_open_breaker_starts_nothing() -> None:
    waiting = [candidate(n, (DB, 1), minute=i) for i, n in enumerate("ab")]
    gate = Gate(0, message="orders-db: circuit open since 12:04:10 (p99 1.4), half-open at 12:06")
    decision = admit(waiting, {DB: gated(10, gate)}, NOW)
    assert decision.admitted == []
    assert decision.waiting[("billing", "a")].message.startswith("waiting for orders-db: circuit")


# --- a pass that stops early -------------------------------------------------------------------


@given(situations(), st.integers(0, 3), st.sampled_from(TIMES), st.data())
def test_a_pass_that_stops_early_decides_what_the_whole_walk_decides(
    situation: Situation, head: int, later: datetime, data: st.DataObject
) -> None:
    """Two passes, each beside the whole walk: the first tells the waits, the second, at
    `later` (windows and the minute of starts move) and with other holders, relies on what
    the first told. Same admissions in the same order, same retry, each waiter's wait (given,
    or the one it was told) the whole walk's, each line's head and length the whole walk's."""
    candidates, dependencies = situation
    told: dict[Any, Wait] = {}
    for now in (NOW, later):
        whole = admit(candidates, dependencies, now)
        early = admit(candidates, dependencies, now, head=head, told=told)
        assert (early.admitted, early.retry_at) == (whole.admitted, whole.retry_at)
        assert early.probes == whole.probes
        assert early.waiting.keys() <= whole.waiting.keys()
        assert {key: early.waiting.get(key) or told[key] for key in whole.waiting} == whole.waiting
        assert early.lengths == {name: len(line) for name, line in whole.lines.items()}
        assert {name: whole.lines[name][: len(line)] for name, line in early.lines.items()} == (
            early.lines
        )
        assert all(len(early.lines[n]) >= min(head, len(line)) for n, line in whole.lines.items())
        told.update(early.waiting)
        for name, state in dependencies.items():  # other runs hold each dependency now
            held = data.draw(st.lists(st.integers(1, 3), max_size=3), label=f"held {name}")
            state.holders = [Holding(("billing", f"h{i}"), u) for i, u in enumerate(held)]


def test_a_pass_stops_once_the_head_is_shown_and_nothing_left_can_start() -> None:
    """Beyond the stop, a waiter told its wait already (that very Wait) is not given it again;
    one never told is; the line counts everyone."""
    waiting = [candidate(f"w{i}", (DB, 1), minute=i) for i in range(6)]
    full = Wait(
        "WaitingForDependency",
        DB,
        "waiting for orders-db: all 2 units are held or promised to BatchJobs ahead in line",
    )
    told = {("billing", "w3"): full, ("billing", "w4"): full}
    decision = admit(waiting, {DB: dependency(2, ("x", 1))}, NOW, head=2, told=told)
    assert decision.admitted == [("billing", "w0")]
    assert decision.lines == {DB: [("billing", "w1"), ("billing", "w2")]}
    assert decision.lengths == {DB: 5}
    assert decision.waiting == {
        ("billing", "w1"): full,
        ("billing", "w2"): full,
        ("billing", "w5"): full,
    }
