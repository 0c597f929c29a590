"""cli/shares: what `kubectl bulkhead` computes of a fair-shared Dependency from its status:
each share's fair part of the effective capacity and the share served next."""

from __future__ import annotations

from typing import Any

import pytest
from bulkhead.cli import shares


def share(
    name: str,
    in_use: int = 0,
    waiting: int = 0,
    *,
    weight: int = 1,
    guaranteed: int = 0,
    usage: float = 0.0,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A row of status.shares as the operator writes it."""
    row: dict[str, Any] = {
        "name": name,
        "weight": weight,
        "guaranteed": guaranteed,
        "inUse": in_use,
        "waiting": waiting,
        "borrowed": max(0, in_use - guaranteed),
        "usage": usage,
    }
    return row | ({"namespace": namespace} if namespace else {})


def fair_shared(
    rows: list[dict[str, Any]], capacity: int = 9, status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """A Dependency whose shares billing and analytics select namespaces by their team label
    (analytics may borrow 3 units above its guarantee), its status showing `rows`."""
    selector = {"matchLabels": {"team": "x"}}
    fair_sharing = {
        "shares": [
            {"name": "billing", "namespaceSelector": selector, "weight": 2, "guaranteed": 4},
            {"name": "analytics", "namespaceSelector": selector, "borrowingLimit": 3},
        ],
        **spec.pop("fairSharing", {}),
    }
    return {
        "metadata": {"name": "orders-db"},
        "spec": {"capacity": capacity, "fairSharing": fair_sharing, **spec},
        "status": {"shares": rows, **(status or {})},
    }


@pytest.mark.parametrize(
    ("rows", "fair_sharing", "served"),
    [
        # below its guarantee goes first, however much it used
        (
            [share("billing", 3, 1, guaranteed=4, usage=9), share("analytics", 1, 1, usage=0)],
            {},
            "billing",
        ),
        # then the lowest (inUse + usage) / weight: billing (4 + 2) / 2 = 3 < analytics 4 / 1
        (
            [share("billing", 4, 1, weight=2, guaranteed=4, usage=2), share("analytics", 4, 1)],
            {},
            "billing",
        ),
        (
            [share("billing", 4, 1, weight=2, guaranteed=4, usage=5), share("analytics", 2, 1)],
            {},
            "analytics",
        ),
        # analytics at its limit (guaranteed 0 + borrowingLimit 3) is not served
        ([share("billing", 6, 1, guaranteed=4), share("analytics", 3, 4)], {}, "billing"),
        # a namespace of its own takes the defaultShare's borrowingLimit
        (
            [share("billing", 6, 1, guaranteed=4), share("ml", 2, 1, namespace="ml")],
            {"defaultShare": {"borrowingLimit": 2}},
            "billing",
        ),
        (
            [share("billing", 6, 1, guaranteed=4), share("ml", 2, 1, namespace="ml")],
            {},
            "ml",
        ),
        # a tie goes to the first listed; a share that does not wait is never next
        ([share("billing", 4, 1, guaranteed=4), share("ml", 4, 1, namespace="ml")], {}, "billing"),
        ([share("billing", 0, 0, guaranteed=4), share("analytics", 3, 0)], {}, None),
        ([share("billing", 4, 0, guaranteed=4), share("analytics", 3, 2)], {}, None),
    ],
)
def test_served_next(
    rows: list[dict[str, Any]], fair_sharing: dict[str, Any], served: str | None
) -> None:
    found = shares.served_next(fair_shared(rows, fairSharing=fair_sharing))
    assert (found and found["name"]) == served


BILLING = share("billing", 3, 2, weight=2, guaranteed=4, usage=2.5)
ANALYTICS = share("analytics", 6, 5, guaranteed=3, usage=5.8)
IDLE = share("ml", usage=0.4, namespace="ml")


@pytest.mark.parametrize(
    ("spec", "status", "effective", "fair"),
    [
        ({}, {}, 9, (6.0, 3.0)),
        # health cuts the capacity: the fair parts are of what admission fills
        ({"health": {}}, {"effectiveCapacity": 5}, 5, (3.3, 1.7)),
        # under dryRun admission fills the capacity
        ({"health": {"dryRun": True}}, {"effectiveCapacity": 5}, 9, (6.0, 3.0)),
    ],
)
def test_the_fair_part_is_of_the_effective_capacity_among_those_that_hold_or_wait(
    spec: dict[str, Any], status: dict[str, Any], effective: int, fair: tuple[float, float]
) -> None:
    dependency = fair_shared([BILLING, ANALYTICS, IDLE], status=status, **spec)
    assert shares.shares_report(dependency) == {
        "effectiveCapacity": effective,
        "shares": [
            {**BILLING, "fair": fair[0]},
            {**ANALYTICS, "fair": fair[1]},
            {**IDLE, "fair": None},
        ],
        "next": "billing",
    }


def test_a_dependency_without_shares_has_no_shares_report() -> None:
    assert shares.shares_report({"spec": {"capacity": 2}, "status": {"inUse": 1}}) is None


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        (
            [BILLING, ANALYTICS, IDLE],
            "analytics holds 6 of its fair 3.0 (+3 borrowed); billing is next",
        ),
        # nobody above its fair part: the one nearest to it, nothing borrowed
        (
            [share("billing", 4, 0, weight=2), share("analytics", 2, 1, guaranteed=2)],
            "analytics holds 2 of its fair 3.0; analytics is next",
        ),
        ([share("billing", 0, 2), IDLE], "billing is next"),
        ([share("billing", 4, 0, guaranteed=4), IDLE], "billing holds 4 of its fair 9.0"),
    ],
)
def test_the_share_line_of_why(rows: list[dict[str, Any]], line: str) -> None:
    report = shares.shares_report(fair_shared(rows))
    assert report is not None
    assert shares.share_line(report) == line


HEADER = "SHARE       WEIGHT   GUARANTEED   IN-USE   BORROWED   WAITING   USAGE   FAIR"


@pytest.mark.parametrize(
    ("rows", "shown"),
    [
        (
            [share("billing", 4, 1, guaranteed=4, usage=1.5), share("analytics", 2, 1, usage=5)],
            [
                "billing     1        4            4        0          1         1.50    4.5",
                "analytics   1        0            2        2          1         5.00    4.5",
                "Next share: billing, lowest (in use + usage) / weight: 5.50",
            ],
        ),
        (
            [share("billing", 4, 0, guaranteed=4), share("analytics", 3, 1)],
            [
                "billing     1        4            4        0          0         0.00    4.5",
                "analytics   1        0            3        3          1         0.00    4.5",
                "Next share: none, every waiting share is at its limit",
            ],
        ),
        (
            [share("billing", 0, 0, guaranteed=4), share("analytics", 3, 0)],
            [
                "billing     1        4            0        0          0         0.00    -",
                "analytics   1        0            3        3          0         0.00    9.0",
                "Next share: none waits",
            ],
        ),
    ],
)
def test_the_shares_of_queue(rows: list[dict[str, Any]], shown: list[str]) -> None:
    report = shares.shares_report(fair_shared(rows))
    assert report is not None
    text = "\n".join(shares.shares_text(report))
    assert text.splitlines() == ["Shares (fair parts of 9 units):", HEADER, *shown]
