"""Pure: a Dependency's units shared fairly between teams (the bulkhead pattern inside one
budget). Admission (policy/admission.py) walks the waiters in the order `rank_of` gives and asks
`Compartments` what each share may still take; nothing here reads a clock or the API.

Rules (docs/dependencies.md, "Fair sharing"):
- A namespace's share is the first in spec.fairSharing.shares whose namespaceSelector matches
  its labels; a namespace that none selects is a share of its own (the defaultShare's weight).
- The next free units go to the waiting share furthest below its fair share: the lowest
  (units held + decayed past usage) / weight. A share below its guarantee goes before every
  share at or above its own. Within a share: priority, then age, as without shares.
- A share holds at most guaranteed + borrowingLimit. The part of a guarantee that is not
  lendable stays free for its share while the share does not hold it, so its runs start at once.
- With health cutting the effective capacity, guarantees and their kept parts scale down in
  proportion, rounded down, so they still add up to at most the effective capacity.
- No preemption: running work is never stopped to be fair.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from bulkhead.api.fair_sharing import FairSharing, Share, ShareStatus
from bulkhead.policy.line import Candidate
from bulkhead.policy.selectors import selector_matches

Labels = Mapping[str, str]
# The shares a waiter draws on: (dependency, its share there) for each fair-shared one it uses.
Group = tuple[tuple[str, "Tenant"], ...]
# Past usage is shown with this many decimals (finer moves would only cost status writes), and
# a share whose usage rounds to 0 there is forgotten. The book keeps it unrounded: decayed a
# second at a time, rounding each step would stall it (a 5 m half-life moves it by 0.2 % a second).
USAGE_DECIMALS = 2
FORGOTTEN = 0.5 * 10**-USAGE_DECIMALS


class Tenant(NamedTuple):
    """Who draws on a Dependency's budget: a share by name, or a namespace that no share
    selects (a share of its own, named after it). A tuple: a pass hashes one per waiter."""

    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"share {self.name}" if self.namespace is None else f"namespace {self.namespace}"


@dataclass
class Standing:
    """A tenant's standing at one Dependency during an admission pass."""

    weight: int
    guaranteed: int  # scaled with the effective capacity
    kept: int  # of the guarantee, what no other tenant may hold (scaled)
    limit: int | None  # guaranteed + borrowingLimit; None: no limit
    held: int = 0
    usage: float = 0.0
    waiting: int = 0

    @property
    def share(self) -> float:
        """How far it is served: (held + past usage) / weight; the lowest is served next."""
        return (self.held + self.usage) / self.weight

    @property
    def below_guarantee(self) -> bool:
        return self.held < self.guaranteed

    @property
    def reserve(self) -> int:
        """The units kept free for it now: its kept part it does not hold."""
        return max(0, self.kept - self.held)


def scaled(units: int, effective: int, capacity: int) -> int:
    """Returns `units` of a guarantee at `effective` of `capacity`, rounded down: the scaled
    guarantees add up to at most the effective capacity whenever the whole ones add up to at
    most the capacity."""
    if capacity <= 0 or effective >= capacity:
        return units
    return units * max(effective, 0) // capacity


def decayed(usage: float, held: int, elapsed: timedelta, half_life: timedelta) -> float:
    """Returns the past usage `elapsed` later, given `held` units held meanwhile: an average of
    units held whose weight halves every `half_life` (Kueue's admission fair sharing decays
    usage the same way). A half-life of 0 keeps no past: usage is then 0, held counts alone."""
    if half_life <= timedelta(0):
        return 0.0
    if elapsed <= timedelta(0):
        return usage
    kept = 0.5 ** (elapsed / half_life)
    return usage * kept + held * (1 - kept)


class Compartments:
    """A Dependency's shares during one admission pass: whose namespace is in which share, what
    each holds and has used, and what each may still take."""

    def __init__(
        self,
        spec: FairSharing,
        capacity: int,
        effective: int,
        labels: Callable[[str], Labels],
    ) -> None:
        self.spec = spec
        self._capacity, self._effective = capacity, effective
        self._labels = labels
        self._usage: dict[Tenant, float] = {}  # with_usage sets it
        self._tenants: dict[str, Tenant] = {}
        self._rooms: dict[Tenant, int] = {}
        self.standings: dict[Tenant, Standing] = {}
        for share in spec.shares or []:
            self.standings[Tenant(share.name)] = self._standing(share)
        self.reserved = sum(s.reserve for s in self.standings.values())

    def _standing(self, share: Share | None) -> Standing:
        default = self.spec.default_share
        weight = share.weight if share else default.weight if default else 1
        guaranteed = scaled(share.guaranteed, self._effective, self._capacity) if share else 0
        kept = scaled(share.kept, self._effective, self._capacity) if share else 0
        borrowing = share.borrowing_limit if share else default.borrowing_limit if default else None
        return Standing(
            weight=weight,
            guaranteed=guaranteed,
            kept=min(kept, guaranteed),
            limit=None if borrowing is None else guaranteed + borrowing,
        )

    def tenant_of(self, namespace: str) -> Tenant:
        """The share of `namespace`: the first share that selects it, else its own."""
        tenant = self._tenants.get(namespace)
        if tenant is None:
            labels = self._labels(namespace)
            tenant = next(
                (
                    Tenant(share.name)
                    for share in self.spec.shares or []
                    if selector_matches(share.namespace_selector.wire(), dict(labels))
                ),
                Tenant(namespace, namespace),
            )
            self._tenants[namespace] = tenant
        return tenant

    def standing(self, tenant: Tenant) -> Standing:
        found = self.standings.get(tenant)
        if found is None:
            found = self.standings[tenant] = self._standing(None)
            found.usage = self._usage.get(tenant, 0.0)
        return found

    def hold(self, namespace: str, units: int) -> None:
        """`units` more held by the share of `namespace` (a holder, or a run admitted now)."""
        standing = self.standing(self.tenant_of(namespace))
        before = standing.reserve
        standing.held += units
        self.reserved += standing.reserve - before

    def admit(self, namespace: str, units: int) -> None:
        """A waiter of `namespace` starts now: its share holds `units` more and has one
        waiter fewer."""
        self.hold(namespace, units)
        self.standing(self.tenant_of(namespace)).waiting -= 1

    def with_usage(self, usage: Mapping[Tenant, float]) -> None:
        """Every share's past usage, as the book keeps it."""
        self._usage = dict(usage)
        for tenant, standing in self.standings.items():
            standing.usage = self._usage.get(tenant, 0.0)
        for tenant in self._usage.keys() - self.standings.keys():
            self.standing(tenant)

    def kept_for_others(self, tenant: Tenant) -> int:
        """The free units kept for the guarantees of shares other than `tenant`."""
        return self.reserved - self.standing(tenant).reserve

    def kept_for_the_idle(self) -> int:
        """The free units kept for the guarantees of shares with no waiter: no one may take
        them now (a pass that sees only those free can stop walking)."""
        return sum(s.reserve for s in self.standings.values() if not s.waiting)

    def room_of(self, tenant: Tenant) -> int:
        """The most units `tenant` can ever hold at once: the capacity less what the other
        shares' guarantees keep for themselves (health's cuts pass, these do not: a request
        above it waits for nothing that will come)."""
        room = self._rooms.get(tenant)
        if room is None:  # asked for every waiter walked: made once per share and pass
            others = (s for s in self.spec.shares or [] if Tenant(s.name) != tenant)
            room = self._rooms[tenant] = self._capacity - sum(share.kept for share in others)
        return room

    def over_limit(self, tenant: Tenant, units: int) -> int | None:
        """The share's limit (guaranteed + borrowingLimit) when `units` more would pass it."""
        standing = self.standing(tenant)
        if standing.limit is not None and standing.held + units > standing.limit:
            return standing.limit
        return None

    def held(self) -> dict[Tenant, int]:
        return {tenant: s.held for tenant, s in self.standings.items()}

    def shown(self) -> list[ShareStatus]:
        """The shares a person is shown: each configured share, and each namespace of its own
        that holds, waits or has past use; configured shares first, in their order."""
        rows = []
        for tenant, s in self.standings.items():
            if tenant.namespace is not None and not (s.held or s.waiting or s.usage >= FORGOTTEN):
                continue
            rows.append(
                ShareStatus(
                    name=tenant.name,
                    namespace=tenant.namespace,
                    weight=s.weight,
                    guaranteed=s.guaranteed,
                    in_use=s.held,
                    waiting=s.waiting,
                    borrowed=max(0, s.held - s.guaranteed),
                    usage=round(s.usage, USAGE_DECIMALS),
                )
            )
        order = {Tenant(share.name): at for at, share in enumerate(self.spec.shares or [])}
        return sorted(
            rows,
            key=lambda r: (r.namespace is not None, order.get(Tenant(r.name), 0), r.name),
        )


@dataclass
class Usage:
    """A Dependency's decayed past usage per share, and when it was computed."""

    at: datetime | None = None
    by_tenant: dict[Tenant, float] = field(default_factory=dict)

    def advanced(self, now: datetime, held: Mapping[Tenant, int], half_life: timedelta) -> Usage:
        """Returns the usage at `now`, given what each share held since `at` (the holdings
        change only at the passes that see them change, so the latest ones stand for the
        interval). A share that holds nothing and whose usage decayed to 0 (at USAGE_DECIMALS)
        drops out; with no past known (`at` None), usage starts at 0."""
        elapsed = timedelta(0) if self.at is None else now - self.at
        tenants = self.by_tenant.keys() | {t for t, units in held.items() if units}
        values = {
            tenant: decayed(
                self.by_tenant.get(tenant, 0.0), held.get(tenant, 0), elapsed, half_life
            )
            for tenant in tenants
        }
        return Usage(now, {t: v for t, v in values.items() if v >= FORGOTTEN or held.get(t)})


def rank_of(standings: Iterable[Standing]) -> tuple[int, float]:
    """Where a waiter whose shares stand as `standings` (one per fair-shared Dependency it
    uses) goes in the walk: below every guarantee first (0), then the lowest dominant share:
    the highest of (held + usage) / weight over those Dependencies (dominant resource
    fairness, so one request over several budgets is judged by its scarcest)."""
    values = list(standings)
    if not values:
        return (1, 0.0)
    tier = 0 if all(s.below_guarantee for s in values) else 1
    return (tier, max(s.share for s in values))


def usage_from_status(rows: Iterable[ShareStatus]) -> dict[Tenant, float]:
    """The past usage a Dependency's status.shares kept, per share."""
    return {Tenant(r.name, r.namespace): r.usage for r in rows if r.usage > 0}


class FairOrder:
    """The waiters in the order fair sharing serves them. Waiters whose namespaces draw on the
    same shares form a group, in admission order (priority, then age) within it; the next
    waiter comes from the group whose shares stand lowest now (`rank_of`), ties going to the
    better-ranked head. Standings move as the walk admits (`Compartments.hold`), so the order
    is decided step by step, not sorted once."""

    def __init__(self, line: Iterable[Candidate], shares: Mapping[str, Compartments]) -> None:
        self._shares = shares
        self._groups: dict[Group, deque[Candidate]] = {}
        # a waiter's group follows from its namespace and the dependencies it uses: made once
        # per kind (5,000 waiters from 20 namespaces make a few dozen), not once per waiter
        made: dict[tuple[str, frozenset[str]], deque[Candidate]] = {}
        for candidate in line:
            kind = (candidate.key[0], candidate.names)
            waiters = made.get(kind)
            if waiters is None:
                waiters = made[kind] = self._groups.setdefault(self.group_of(candidate), deque())
            waiters.append(candidate)
        for group, waiters in self._groups.items():
            for name, tenant in group:
                shares[name].standing(tenant).waiting += len(waiters)

    def group_of(self, candidate: Candidate) -> Group:
        return tuple(
            (name, self._shares[name].tenant_of(candidate.key[0]))
            for name in sorted(candidate.names & self._shares.keys())
        )

    def next(self) -> Candidate | None:
        """The waiter served next, out of the order; None when none is left."""
        best = min(
            self._groups.items(),
            key=lambda item: (
                rank_of(self._shares[name].standing(tenant) for name, tenant in item[0]),
                item[1][0].rank,
            ),
            default=None,
        )
        if best is None:
            return None
        group, waiters = best
        candidate = waiters.popleft()
        if not waiters:
            del self._groups[group]
        return candidate

    def rest(self) -> Iterator[tuple[Group, deque[Candidate]]]:
        """The waiters not served yet, by group."""
        return iter(self._groups.items())
