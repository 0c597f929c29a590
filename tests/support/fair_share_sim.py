"""A fair-shared Dependency under load, simulated with a fake clock: runs arrive per namespace,
hold their units for their length, and each second an admission pass (policy.admission.admit)
decides who starts, as the operator does. What the property tests of fair sharing run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkhead.api.dependency import DependencySpec
from bulkhead.policy.admission import Decision, admit
from bulkhead.policy.budget import DependencyState, Gate, Holding
from bulkhead.policy.fair_share import Compartments, Tenant, Usage
from bulkhead.policy.line import Candidate

T0 = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
DB = "orders-db"
TEAM = "team"  # the namespace label shares select on


def spec_of(capacity: int, shares: list[dict[str, Any]], **fair: Any) -> DependencySpec:
    """A Dependency of `capacity` whose shares select namespaces labelled team=<share name>."""
    return DependencySpec.model_validate(
        {
            "capacity": capacity,
            "fairSharing": {
                "shares": [
                    {"namespaceSelector": {"matchLabels": {TEAM: s["name"]}}, **s} for s in shares
                ],
                **fair,
            },
        }
    )


def labels(namespace: str) -> dict[str, str]:
    """Namespaces are named <team>-<n>: their team label is the part before the dash."""
    return {TEAM: namespace.split("-")[0]}


def state_of(
    spec: DependencySpec,
    holders: list[Holding],
    usage: dict[Tenant, float] | None = None,
    effective: int | None = None,
) -> DependencyState:
    """The DependencyState a pass reads, built as state/admission.py builds it."""
    gate = None if effective is None else Gate(effective)
    state = DependencyState(spec=spec, holders=list(holders), gate=gate)
    assert spec.fair_sharing is not None
    state.shares = Compartments(spec.fair_sharing, spec.capacity, state.capacity, labels)
    for holding in holders:
        state.shares.hold(holding.key[0], holding.units)
    state.shares.with_usage(usage or {})
    return state


@dataclass
class Simulation:
    """One Dependency, waiting runs and running ones, advanced one pass per second."""

    spec: DependencySpec
    effective: int | None = None
    now: datetime = T0
    waiting: dict[tuple[str, str], Candidate] = field(default_factory=dict)
    running: dict[tuple[str, str], tuple[int, datetime]] = field(default_factory=dict)  # units, end
    lengths: dict[tuple[str, str], int] = field(default_factory=dict)  # seconds each run takes
    usage: Usage = field(default_factory=Usage)
    arrived: dict[tuple[str, str], datetime] = field(default_factory=dict)
    started: dict[tuple[str, str], datetime] = field(default_factory=dict)
    unit_seconds: Counter[Tenant] = field(default_factory=Counter)
    passes: list[tuple[DependencyState, Decision]] = field(default_factory=list)
    keep_passes: bool = False

    def arrive(
        self, namespace: str, name: str, units: int = 1, length: int = 10, priority: int = 0
    ) -> None:
        key = (namespace, name)
        created = (self.now + timedelta(microseconds=len(self.arrived))).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        self.waiting[key] = Candidate(key, priority, created, ((DB, units),))
        self.lengths[key] = length
        self.arrived[key] = self.now

    def holders(self) -> list[Holding]:
        return [Holding(key, units) for key, (units, _) in sorted(self.running.items())]

    def step(self) -> tuple[DependencyState, Decision]:
        """One second: runs that ended free their units, then one pass admits."""
        for key, (_, end) in list(self.running.items()):
            if end <= self.now:
                del self.running[key]
        holders = self.holders()
        state = state_of(self.spec, holders, effective=self.effective)
        assert state.shares is not None
        self.usage = self.usage.advanced(
            self.now,
            state.shares.held(),
            self.spec.fair_sharing.half_life,  # type: ignore[union-attr]
        )
        state.shares.with_usage(self.usage.by_tenant)
        for holding in holders:
            self.unit_seconds[state.shares.tenant_of(holding.key[0])] += holding.units
        decision = admit(list(self.waiting.values()), {DB: state}, self.now)
        for key in decision.admitted:
            candidate = self.waiting.pop(key)
            self.running[key] = (
                candidate.units_of(DB),
                self.now + timedelta(seconds=self.lengths[key]),
            )
            self.started[key] = self.now
        if self.keep_passes:
            self.passes.append((state, decision))
        self.now += timedelta(seconds=1)
        return state, decision

    def held_by(self) -> Counter[Tenant]:
        state = state_of(self.spec, self.holders())
        assert state.shares is not None
        return Counter({t: s.held for t, s in state.shares.standings.items() if s.held})
