"""budget: what admission fills of a Dependency (its capacity, or less while health holds it
back), what its holders hold, and who may start as health's half-open probe."""

from __future__ import annotations

import pytest
from bulkhead.api.dependency import DependencySpec
from bulkhead.policy.budget import DependencyState, Gate, Holding

PROBE = ("billing", "nightly-invoices")


@pytest.mark.parametrize(
    ("gate", "holders", "filled"),
    [
        (None, [], (10, 0)),
        (None, [3, 1], (10, 4)),
        (Gate(4), [3], (4, 3)),  # health cut it: admission fills 4
        (Gate(12), [], (10, 0)),  # never more than the capacity itself
        (Gate(0, half_open=True), [2], (0, 2)),
    ],
)
def test_capacity_and_in_use(
    gate: Gate | None, holders: list[int], filled: tuple[int, int]
) -> None:
    state = DependencyState(
        spec=DependencySpec(capacity=10),
        holders=[Holding(("billing", f"h{i}"), units) for i, units in enumerate(holders)],
        gate=gate,
    )
    assert (state.capacity, state.in_use) == filled


@pytest.mark.parametrize(
    ("gate", "admits"),
    [
        (Gate(3), False),  # closed: no probe
        (Gate(0), False),  # open: no probe
        (Gate(0, half_open=True), True),  # half-open, none chosen yet: anyone
        (Gate(0, half_open=True, probe=PROBE), True),
        (Gate(0, half_open=True, probe=("billing", "other")), False),
    ],
)
def test_admits_probe(gate: Gate, admits: bool) -> None:
    assert gate.admits_probe(PROBE) is admits
