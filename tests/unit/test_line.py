"""line: the waiting BatchJobs kept in admission order between passes, and what the last
recorded pass told those beyond its stop."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from bulkhead.policy.admission import admit
from bulkhead.policy.budget import Holding
from bulkhead.policy.line import Candidate, Line, Settled, Wait, order
from bulkhead.state.admission import AdmissionBook
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.admission_factories import (
    DB,
    NAMES,
    NOW,
    TIMES,
    Situation,
    candidate,
    candidates_of,
    dependency,
    situations,
)

FULL = Wait(
    "WaitingForDependency",
    DB,
    "waiting for orders-db: all 2 units are held or promised to BatchJobs ahead in line",
)


def test_a_recorded_pass_settles_the_line_and_the_next_tells_only_who_came() -> None:
    """The book records a pass: its line keeps the first rank beyond the stop and the wait
    told there. The next pass tells the head it walks, and beyond the stop only a waiter that
    came since; those told before are not told again."""
    book = AdmissionBook()
    waiting = [candidate(f"w{i}", (DB, 1), minute=i) for i in range(6)]
    for c in waiting:
        book.waiting.put(c)
    full = {DB: dependency(2, ("x", 1), ("w0", 1))}  # w0 was admitted: it holds a unit
    first = admit(book.waiting, {DB: dependency(2, ("x", 1))}, NOW, head=2, told=book.decided)
    book.record(first)
    assert first.admitted == [("billing", "w0")]
    assert book.waiting.settled == Settled(waiting[3].rank, {((DB, 1),): FULL})
    assert book.waiting.fresh == {}
    book.waiting.put(candidate("w9", (DB, 1), minute=9))
    second = admit(book.waiting, full, NOW, head=2, told=book.decided)
    assert second.admitted == []
    assert second.waiting == {("billing", w): FULL for w in ("w1", "w2", "w9")}
    assert second.lengths == {DB: 6}


@given(
    st.lists(
        st.tuples(st.sampled_from(["put", "pop", "settle"]), candidates_of(NAMES)), max_size=30
    )
)
def test_a_line_keeps_the_admission_order_and_its_counts_as_waiters_come_change_and_go(
    steps: list[tuple[str, Candidate]],
) -> None:
    """Each step puts a candidate (new, or in place of what its key waited with), pops its
    key, or settles the line: the line is always the admission order of what waits, counts
    who uses each dependency and each kind of request, and holds as fresh what was put (and
    changed something) since it settled."""
    line, waiting, fresh = Line(), {}, set()
    for step, c in steps:
        if step == "put":
            assert line.put(c) == (waiting.get(c.key) != c)
            if waiting.get(c.key) != c:
                fresh.add(c.key)
            waiting[c.key] = c
        elif step == "pop":
            assert line.pop(c.key) == waiting.pop(c.key, None)
            fresh.discard(c.key)
        else:
            line.settle(None)
            fresh.clear()
        assert list(line) == order(waiting.values())
        assert [line[key] for key in waiting] == list(waiting.values())
        assert dict(line.users) == Counter(n for w in waiting.values() for n in w.names)
        assert dict(line.kinds) == Counter(w.uses for w in waiting.values())
        assert line.fresh == {key: waiting[key] for key in fresh}


# More examples than the default: the sequences that tell a kept line from the whole walk are
# rare (a waiter walked in one pass, told something else there, and beyond the stop next).
@settings(max_examples=400)
@given(situations(), st.integers(0, 3), st.data())
def test_passes_over_a_kept_line_decide_what_the_whole_walk_decides(
    situation: Situation, head: int, data: st.DataObject
) -> None:
    """Passes over the line an AdmissionBook keeps, each recorded as the controller records
    it, beside the whole walk of the same waiters. Between passes waiters come, change (a new
    run, another priority) and go, other runs hold the dependencies, the clock moves windows
    and the minute of starts, a gate's message changes, and a Dependency may be gone for a
    pass. Each pass: same admissions, retry and probes; each waiter's wait (given, or the one
    it was told) is the whole walk's; each line's head and length are the whole walk's."""
    candidates, dependencies = situation
    names = list(dependencies)
    book = AdmissionBook()
    for c in candidates:
        book.waiting.put(c)
    for turn in range(4):
        now = data.draw(st.sampled_from(TIMES), label="now")
        present = {n: s for n, s in dependencies.items() if data.draw(st.integers(0, 4)) > 0}
        whole = admit(list(book.waiting), present, now)
        told = dict(book.decided)
        early = admit(book.waiting, present, now, head=head, told=book.decided)
        assert (early.admitted, early.retry_at) == (whole.admitted, whole.retry_at)
        assert early.probes == whole.probes
        assert {key: early.waiting.get(key) or told[key] for key in whole.waiting} == whole.waiting
        assert early.lengths == {name: len(line) for name, line in whole.lines.items()}
        assert {name: whole.lines[name][: len(line)] for name, line in early.lines.items()} == (
            early.lines
        )
        book.record(early)
        gone = data.draw(st.lists(st.sampled_from(list(book.waiting) or candidates), max_size=3))
        for c in gone:
            book.forget(c.key)
        for c in data.draw(st.lists(candidates_of(names), max_size=3), label="come or change"):
            book.waiting.put(c)
        for name, state in dependencies.items():  # other runs hold each dependency now
            held = data.draw(st.lists(st.integers(1, 3), max_size=3), label=f"held {name}")
            state.holders = [Holding(("billing", f"h{i}"), u) for i, u in enumerate(held)]
            if state.gate is not None and data.draw(st.booleans(), label=f"news of {name}"):
                state.gate = replace(state.gate, message=f"{name}: health holds it back ({turn})")
