"""Pure: what admission knows of one Dependency's budget now: its spec, the runs that hold its
units, the starts of the last minute (for maxStartsPerMinute), and how far health lets it
fill (the Gate). Holders come from the Jobs that exist, never from memory, so a restart
cannot exceed the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bulkhead.api.constants import Key
from bulkhead.api.dependency import DependencySpec

RATE_PERIOD = timedelta(minutes=1)


@dataclass(frozen=True)
class Holding:
    key: Key
    units: int


@dataclass(frozen=True)
class Gate:
    """What a Dependency's health lets admission do: fill up to `capacity` units (the enforced
    effective capacity), or, `half_open`, start one probe (`probe`, once one is chosen); and why
    its waiters wait when it holds them back ("orders-db: circuit open since ...")."""

    capacity: int
    half_open: bool = False
    probe: Key | None = None
    message: str = ""

    def admits_probe(self, key: Key) -> bool:
        """Whether `key` may start as the half-open probe: no other is chosen for it."""
        return self.half_open and (self.probe is None or self.probe == key)


@dataclass
class DependencyState:
    spec: DependencySpec
    holders: list[Holding] = field(default_factory=list)
    recent_starts: list[datetime] = field(default_factory=list)  # Job creations
    gate: Gate | None = None  # health's, when the Dependency has spec.health

    @property
    def capacity(self) -> int:
        """What admission fills: the capacity, or less when health holds it back."""
        return (
            self.spec.capacity if self.gate is None else min(self.spec.capacity, self.gate.capacity)
        )

    @property
    def in_use(self) -> int:
        """The units its holders hold."""
        return sum(h.units for h in self.holders)
