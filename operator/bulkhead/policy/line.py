"""Pure: the waiting BatchJobs in admission order (priority, higher first; then creation time;
then namespace/name), kept between admission passes with what the last recorded pass told
those beyond where it stopped walking (`Settled`)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import NamedTuple, TypeVar

from bulkhead.api.constants import Key

Uses = tuple[tuple[str, int], ...]  # (dependency, units)
Rank = tuple[int, str, Key]
RANK = attrgetter("rank")
T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    key: Key
    priority: int
    created: str  # RFC 3339; sorts chronologically as text
    uses: Uses
    run: str = ""  # the name of the Job this run creates once admitted
    # Made once, not on every pass: a Line orders and counts by them.
    rank: Rank = field(init=False, repr=False, compare=False)
    names: frozenset[str] = field(init=False, repr=False, compare=False)  # dependencies used

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", (-self.priority, self.created, self.key))
        object.__setattr__(self, "names", frozenset(name for name, _ in self.uses))

    def units_of(self, dependency: str) -> int:
        """All it needs of `dependency` (a dependency named twice needs both uses)."""
        return sum(units for name, units in self.uses if name == dependency)


class Wait(NamedTuple):
    """Why a waiter waits. A tuple: a pass compares one per waiter with what it was told."""

    reason: str  # WaitingForDependency | WaitingForWindow
    dependency: str  # the first that holds it back
    message: str


@dataclass(frozen=True)
class Settled:
    """What a pass left its waiters beyond the stop with: every one ranked at or after `stop`
    (None: the pass walked them all) was told the Wait in `waits` for its uses."""

    stop: Rank | None
    waits: dict[Uses, Wait]


def order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Admission order: priority (higher first), then creation time, then namespace/name."""
    return sorted(candidates, key=RANK)


class Line:
    """The waiting candidates, kept in admission order between passes with how many use each
    dependency and each kind of request (its uses), and what the last recorded pass told those
    beyond its stop (`settled`) and who came or changed since (`fresh`). So a pass walks the
    head of the line and only the waiters whose wait may have changed: sorting, counting and
    visiting 5,000 waiters on every pass was most of what a pass cost."""

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        self._by_key = {c.key: c for c in candidates}
        self._ordered = order(self._by_key.values())
        self.users = Counter(chain.from_iterable(map(attrgetter("names"), self._ordered)))
        self.kinds = Counter(map(attrgetter("uses"), self._ordered))
        self.fresh: dict[Key, Candidate] = dict(self._by_key)
        self.settled: Settled | None = None

    def __len__(self) -> int:
        return len(self._ordered)

    def __iter__(self) -> Iterator[Candidate]:
        """In admission order."""
        return iter(self._ordered)

    def __getitem__(self, key: Key) -> Candidate:
        return self._by_key[key]

    def put(self, candidate: Candidate) -> bool:
        """`candidate` waits, in place of what its key waited with; whether that changed."""
        if self._by_key.get(candidate.key) == candidate:
            return False
        self.pop(candidate.key)
        self._by_key[candidate.key] = candidate
        insort(self._ordered, candidate, key=RANK)
        self.users.update(candidate.names)
        self.kinds[candidate.uses] += 1
        self.fresh[candidate.key] = candidate
        return True

    def pop(self, key: Key) -> Candidate | None:
        """`key` waits no more; what it waited with, if it did."""
        candidate = self._by_key.pop(key, None)
        if candidate is None:
            return None
        del self._ordered[self.position(candidate.rank)]
        for name in candidate.names:
            _count_out(self.users, name)
        _count_out(self.kinds, candidate.uses)
        self.fresh.pop(key, None)
        return candidate

    def position(self, rank: Rank) -> int:
        """How many waiters rank before `rank`."""
        return bisect_left(self._ordered, rank, key=RANK)

    def at(self, start: int, stop: int | None = None) -> list[Candidate]:
        """The waiters from place `start` (0 is next) up to `stop`."""
        return self._ordered[start:stop]

    def rank_at(self, place: int) -> Rank | None:
        """The rank of the waiter at `place` (0 is next); None when no one waits there."""
        return next((c.rank for c in self.at(place, place + 1)), None)

    def untold(self, stop: int, waits: Mapping[Uses, Wait]) -> Iterable[Candidate]:
        """The waiters from place `stop` on whom a pass that tells each the Wait in `waits`
        for its uses may tell something new, given what the last recorded pass told
        (`settled`): all of them, or, when that pass told the same Waits, only those it
        walked (ranked before its stop) and those come since."""
        settled = self.settled
        if settled is None or any(settled.waits.get(u, w) != w for u, w in waits.items()):
            return self.at(stop)
        # Told already: those beyond the last stop too that were in line for the last pass.
        first = self.rank_at(stop)  # None: no one is beyond
        until = len(self) if settled.stop is None else self.position(settled.stop)
        return chain(
            self.at(stop, max(stop, until)),
            (c for c in self.fresh.values() if first is not None and c.rank >= first),
        )

    def settle(self, settled: Settled | None) -> None:
        """A pass's decision was recorded: what it told the waiters beyond its stop."""
        self.settled = settled
        self.fresh.clear()


def _count_out(counter: Counter[T], item: T) -> None:
    """One `item` fewer, and none left counted as none: a pass reads the names counted."""
    counter[item] -= 1
    if not counter[item]:
        del counter[item]
