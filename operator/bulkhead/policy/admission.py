"""Pure: who may start now, given the dependencies, what is held and what waits.

Rules:
- All-or-nothing: a BatchJob starts only when every dependency it uses has room for it, so
  nothing ever holds part of what it needs, and two BatchJobs that need the same two
  dependencies cannot deadlock.
- Order: priority (higher first), then creation time, then namespace/name.
- No starvation: a waiting BatchJob reserves what is left of each dependency it is blocked on,
  so a later (or lower-priority) small request cannot overtake it there and a large request
  starts as soon as enough units are free. A request larger than the capacity itself can never
  fit; it waits with that reason and reserves nothing.
- Fair sharing (policy/fair_share.py): where a Dependency splits its units between teams,
  the walk serves the waiters in FairOrder instead, a share never passes its limit, and the
  units kept for a share's guarantee stay free for it (a waiter blocked there reserves only
  what it could have taken).
- Windows and maxStartsPerMinute gate new starts only; running work is never stopped.
- Health (policy/health.py) lowers the capacity admission uses (the Gate), down to 0 while the
  breaker is open; half-open, exactly one probe may start whatever the gate, if the units it
  needs are free of the capacity itself; one ahead of it that waits for units keeps the probe
  for itself, as it keeps the units.

Its inputs: the waiters in admission order (policy/line.py), each Dependency's budget
(policy/budget.py) and its windows (policy/windows.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bulkhead.api.constants import WAITING_FOR_DEPENDENCY, WAITING_FOR_WINDOW, Key
from bulkhead.policy.budget import RATE_PERIOD, DependencyState
from bulkhead.policy.fair_share import FairOrder
from bulkhead.policy.line import Candidate, Line, Settled, Uses, Wait
from bulkhead.policy.windows import windows_open


@dataclass
class Decision:
    """What one pass decides: who starts, why each other waiter waits, and the lines."""

    admitted: list[Key] = field(default_factory=list)
    waiting: dict[Key, Wait] = field(default_factory=dict)
    # per dependency, the waiting BatchJobs that use it, in admission order (1 is next): all
    # of them, or (admit's `head`) at least its first `head`; `lengths` counts all of them
    lines: dict[str, list[Key]] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    retry_at: datetime | None = None  # when a rate limit lets the next start through
    probes: dict[str, Key] = field(default_factory=dict)  # dependency -> its half-open probe
    settled: Settled | None = None  # what every waiter beyond the stop was told, once recorded


def admit(
    candidates: Iterable[Candidate],
    dependencies: dict[str, DependencyState],
    now: datetime,
    *,
    head: int | None = None,
    told: Mapping[Key, Wait] | None = None,
) -> Decision:
    """Who of `candidates` (a Line, or any in no order) starts now, and why each of the
    others waits, walking them in admission order. One that uses a dependency missing from
    `dependencies` is left out.

    Without `head`, every candidate is walked. With `head`, the walk stops once the candidates
    left cannot change what the pass decides (`_Walk.inert`: every dependency they use is
    closed or has no free unit, so none of them starts or reserves anything) and every line
    shows its first `head` waiters; `lines` then hold those heads, `lengths` count everyone.
    Beyond the stop a wait no longer depends on the place in line, so it is made once per
    kind of request (its uses), and given only to a waiter that was not told an equal one (in
    `told`: what each waiter was told before). A Line whose last pass was recorded
    (`Line.settled`) knows who beyond the stop was told what: when those Waits are unchanged,
    only the waiters walked last time or come since are given theirs. So what it admits, and
    each waiter's wait (given, or the one in `told`), are what the whole walk gives."""
    told = {} if told is None else told
    line = candidates if isinstance(candidates, Line) else Line(candidates)
    kept = line is candidates  # the caller's, to record this pass in
    if not line.users.keys() <= dependencies.keys():  # a Dependency went since they asked
        # what this pass tells a part of the line is not what the last one told all of it:
        # a new Line, settled by no pass
        line = Line(c for c in line if c.names <= dependencies.keys())
        kept = False
    decision = Decision(lines={name: [] for name in dependencies})
    walk = _Walk(dependencies, now, line.users, head)
    shares = {
        name: s.shares
        for name, s in dependencies.items()
        if s.shares is not None and name in line.users
    }
    if shares:
        _walk_fairly(FairOrder(line, shares), walk, decision, told)
        return decision
    walked: Counter[Uses] = Counter()
    stop = len(line)
    for at, candidate in enumerate(line):
        if walk.inert():
            stop = at
            break
        walk.step(candidate, decision)
        walked[candidate.uses] += 1
    decision.lengths = walk.lengths(decision.lines)
    waits = {uses: walk.wait_beyond(uses) for uses, n in line.kinds.items() if n > walked[uses]}
    for candidate in line.untold(stop, waits):
        wait = waits[candidate.uses]
        if told.get(candidate.key) != wait:
            decision.waiting[candidate.key] = wait
    if kept:
        decision.settled = Settled(line.rank_at(stop), waits)
    return decision


def _walk_fairly(
    order: FairOrder, walk: _Walk, decision: Decision, told: Mapping[Key, Wait]
) -> None:
    """admit's walk in fair order: until inert, then each waiter left is told the wait of its
    kind (its uses and its shares: a share's limit makes its waiters' wait its own). No pass
    is settled: the next one tells everyone beyond its stop again."""
    while not walk.inert() and (candidate := order.next()) is not None:
        walk.step(candidate, decision)
    decision.lengths = walk.lengths(decision.lines)
    for _, waiters in order.rest():
        waits: dict[Uses, Wait] = {}  # a group's waiters wait alike, kind by kind (their uses)
        for candidate in waiters:
            wait = waits.get(candidate.uses)
            if wait is None:
                wait = waits[candidate.uses] = walk.wait_beyond(candidate.uses, candidate.key[0])
            if told.get(candidate.key) != wait:
                decision.waiting[candidate.key] = wait


class _Walk:
    """One admission pass as it walks the line: what is free, started and open, how many
    candidates not walked yet use each dependency, and the dependencies that keep it walking."""

    def __init__(
        self,
        dependencies: dict[str, DependencyState],
        now: datetime,
        users: Mapping[str, int],
        head: int | None,
    ) -> None:
        self.dependencies, self.now, self.head = dependencies, now, head
        self.free = {name: s.capacity - s.in_use for name, s in dependencies.items()}
        # half-open: one probe may still start whatever is free
        self.probing = {
            n for n, s in dependencies.items() if s.gate is not None and s.gate.half_open
        }
        self.starts = {
            name: sorted(t for t in s.recent_starts if now - t < RATE_PERIOD)
            for name, s in dependencies.items()
        }
        self.is_open = {name: windows_open(s.spec, now) for name, s in dependencies.items()}
        self.left = {name: users.get(name, 0) for name in dependencies}
        self.busy = {name for name in dependencies if self._busy(name, [])}

    def _busy(self, name: str, line: list[Key]) -> bool:
        """Whether `name` keeps the walk going: candidates not walked yet use it, and its line
        shows fewer than `head` waiters, or it may still admit one (units are at least 1, so
        a dependency with no free unit, no half-open probe to admit, or a closed window admits
        none of its users, and what they reserve there changes nothing; nor do units kept
        for the guarantee of a share with no waiter). Without `head`, every dependency does."""
        if self.head is None:
            return True
        shares = self.dependencies[name].shares
        free = self.free[name] - (shares.kept_for_the_idle() if shares is not None else 0)
        return bool(
            self.left[name]
            and (
                len(line) < self.head or (self.is_open[name] and (free > 0 or name in self.probing))
            )
        )

    def lengths(self, lines: Mapping[str, list[Key]]) -> dict[str, int]:
        """How many wait for each dependency: those its line shows and those not walked."""
        return {name: len(shown) + self.left[name] for name, shown in lines.items()}

    def inert(self) -> bool:
        """Whether the candidates not walked yet can change nothing the pass decides."""
        return not self.busy

    def step(self, candidate: Candidate, decision: Decision) -> None:
        """The next candidate in admission order into `decision` (and the lines it waits in)."""
        admitted = self.consider(candidate, decision)
        for name in candidate.names:
            self.left[name] -= 1
            if not admitted:
                decision.lines[name].append(candidate.key)
            if self._busy(name, decision.lines[name]):
                self.busy.add(name)
            else:
                self.busy.discard(name)

    def wait_beyond(self, uses: Uses, namespace: str = "") -> Wait:
        """The wait of every candidate with `uses` (in `namespace`'s shares) beyond the stop:
        inert there, every dependency they use is closed or full and no probe's, so neither
        their place nor their name matters, and considering one reserves nothing more."""
        anyone = Candidate((namespace, ""), 0, "", uses)  # no BatchJob has an empty name
        decision = Decision()
        self.consider(anyone, decision)
        return decision.waiting[anyone.key]

    def consider(self, candidate: Candidate, decision: Decision) -> bool:
        """`candidate` into `decision`: admitted (True), or told why it waits (False),
        reserving what it is blocked on by capacity alone."""
        needs = {name: candidate.units_of(name) for name, _ in candidate.uses}
        # dependency, reason, message, and whether it is capacity (not time) that blocks
        blocked: list[tuple[str, str, str, bool]] = []
        probes: list[str] = []  # the dependencies it would start on as their half-open probe
        free, starts = self.free, self.starts
        for name, units in needs.items():
            state = self.dependencies[name]
            capacity = state.spec.capacity
            limit = state.spec.max_starts_per_minute
            gate = state.gate
            shares, tenant = state.shares, None
            kept, share_limit = 0, None
            if shares is not None:
                tenant = shares.tenant_of(candidate.key[0])
                kept = shares.kept_for_others(tenant)
                share_limit = shares.over_limit(tenant, units)
            # Half-open, the probe needs room in the capacity itself, not in the gate's (0).
            probe = (
                gate is not None
                and name in self.probing
                and gate.admits_probe(candidate.key)
                and units <= capacity - state.in_use
            )
            if not self.is_open[name]:
                blocked.append((name, WAITING_FOR_WINDOW, f"{name} is outside its windows", False))
            elif units > capacity:
                blocked.append(
                    (
                        name,
                        WAITING_FOR_DEPENDENCY,
                        f"needs {units} units of {name}, more than its capacity {capacity}",
                        False,
                    )
                )
            elif (
                tenant is not None
                and shares is not None
                and units > (room := shares.room_of(tenant))
            ):
                blocked.append(
                    (
                        name,
                        WAITING_FOR_DEPENDENCY,
                        f"needs {units} units of {name}, more than the "
                        f"{shares.room_of(tenant)} that other shares' guarantees leave {tenant}",
                        False,
                    )
                )
            elif share_limit is not None:
                message = (
                    f"{name}: {tenant} may hold at most {share_limit} units "
                    f"(its guarantee plus borrowingLimit)"
                )
                blocked.append((name, WAITING_FOR_DEPENDENCY, message, False))
            elif units > free[name] - kept and not probe:
                # Static while it waits: the holders and its place in line move with every
                # start, and a status that followed them would cost a write per waiter per
                # start. Who holds them: the Dependency's status; its place: its status.queue.
                # Health's message changes only with the gate (a new breaker state or limit).
                if gate is not None and gate.message:
                    message = gate.message
                elif units <= free[name]:
                    message = f"{name}: its free units are kept for other shares' guarantees"
                else:
                    message = (
                        f"{name}: all {capacity} units are held or promised to BatchJobs "
                        f"ahead in line"
                    )
                blocked.append((name, WAITING_FOR_DEPENDENCY, message, True))
            elif limit is not None and len(starts[name]) >= limit:
                retry = starts[name][-limit] + RATE_PERIOD
                decision.retry_at = min(decision.retry_at or retry, retry)
                blocked.append(
                    (
                        name,
                        WAITING_FOR_DEPENDENCY,
                        f"{name} allows {limit} starts per minute",
                        False,
                    )
                )
            elif probe:
                probes.append(name)
        if not blocked:
            decision.admitted.append(candidate.key)
            for name, units in needs.items():
                free[name] -= units
                starts[name].append(self.now)
                shares = self.dependencies[name].shares
                if shares is not None:
                    shares.admit(candidate.key[0], units)
            decision.probes.update((name, candidate.key) for name in probes)
            self.probing.difference_update(probes)
            return True
        if all(by_capacity for *_, by_capacity in blocked):
            # Blocked by capacity alone: reserve, so nobody behind it takes these units, nor
            # starts as the half-open probe it may be once they are free.
            for name, units in needs.items():
                shares = self.dependencies[name].shares
                room = free[name]
                if shares is not None:  # what is kept for other shares is not its to reserve
                    room -= shares.kept_for_others(shares.tenant_of(candidate.key[0]))
                if units > room:
                    free[name] -= max(room, 0)
                    gate = self.dependencies[name].gate
                    if gate is not None and gate.admits_probe(candidate.key):
                        self.probing.discard(name)
                else:
                    free[name] -= units
        name, reason, message, _ = blocked[0]
        decision.waiting[candidate.key] = Wait(reason, name, f"waiting for {message}")
        return False
