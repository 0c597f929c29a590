"""cli/render: what `kubectl bulkhead` shows of a fair-shared Dependency, its queue and the why of
a BatchJob waiting for it (cli/shares computes the fair parts and the share served next)."""

from __future__ import annotations

from bulkhead.cli import render

from tests.support.cli_objects import NOW, WAITING, batchjob, dependency

FAIR_DB = {
    **dependency("orders-db", 9, ("billing", "nightly", 3), ("analytics", "crunch", 6)),
    "spec": {
        "capacity": 9,
        "fairSharing": {
            "shares": [
                {
                    "name": "billing",
                    "namespaceSelector": {"matchLabels": {"team": "billing"}},
                    "weight": 2,
                    "guaranteed": 4,
                },
                {
                    "name": "analytics",
                    "namespaceSelector": {"matchLabels": {"team": "analytics"}},
                    "guaranteed": 3,
                    "borrowingLimit": 3,
                },
            ]
        },
    },
}
FAIR_DB["status"] = {
    **FAIR_DB["status"],
    "shares": [
        {
            "name": "billing",
            "weight": 2,
            "guaranteed": 4,
            "inUse": 3,
            "waiting": 1,
            "borrowed": 0,
            "usage": 2.5,
        },
        {
            "name": "analytics",
            "weight": 1,
            "guaranteed": 3,
            "inUse": 6,
            "waiting": 1,
            "borrowed": 3,
            "usage": 5.84,
        },
        {
            "name": "ml",
            "namespace": "ml",
            "weight": 1,
            "guaranteed": 0,
            "inUse": 0,
            "waiting": 0,
            "borrowed": 0,
            "usage": 0.4,
        },
    ],
}
FAIR_WAITING_MESSAGE = (
    "waiting for orders-db: share analytics may hold at most 6 units "
    "(its guarantee plus borrowingLimit)"
)
ANALYTICS_WAITING = batchjob(
    "more",
    namespace="analytics",
    uses=(("orders-db", 2),),
    created="2026-11-18T00:30:00Z",
    phase="Queued",
    reason="WaitingForDependency",
    message=FAIR_WAITING_MESSAGE,
    queue={"dependency": "orders-db"},
)


def test_queue_of_a_fair_shared_dependency_shows_a_line_per_share_and_who_is_next() -> None:
    report = render.queue_report(FAIR_DB, [WAITING, ANALYTICS_WAITING], NOW)
    assert render.queue_text(report, NOW) == "\n".join(
        [
            "Dependency: orders-db",
            "Capacity:   [████████████████████] 9/9 units in use",
            "",
            "Shares (fair parts of 9 units):",
            "SHARE            WEIGHT   GUARANTEED   IN-USE   BORROWED   WAITING   USAGE   FAIR",
            "billing          2        4            3        0          1         2.50    6.0",
            "analytics        1        3            6        3          1         5.84    3.0",
            "ml (namespace)   1        0            0        0          0         0.40    -",
            "Next share: billing, below its guarantee of 4",
            "",
            "Holders:",
            "NAMESPACE   NAME      UNITS",
            "billing     nightly   3",
            "analytics   crunch    6",
            "",
            # admission picks the share first, so the line is only ordered within each share
            "Waiting (priority, then age, within each share):",
            "#   NAMESPACE   NAME       UNITS   REASON",
            "1   analytics   more       2       WaitingForDependency",
            "2   billing     invoices   1       WaitingForDependency",
        ]
    )


def test_why_of_a_waiter_on_a_fair_shared_dependency_says_who_holds_and_who_is_next() -> None:
    # no place in line: shares take turns (the Share line says who is next)
    everyone = [WAITING, ANALYTICS_WAITING]
    report = render.why_report(ANALYTICS_WAITING, {"orders-db": FAIR_DB}, NOW, everyone)
    assert render.why_text(report) == "\n".join(
        [
            "BatchJob:  analytics/more",
            "Phase:     Queued",
            "Reason:    WaitingForDependency",
            f"Message:   {FAIR_WAITING_MESSAGE}",
            "Queue:     waiting for orders-db",
            "Uses:      orders-db: needs 2, 9/9 in use, held by billing/nightly (3), "
            "analytics/crunch (6)",
            "Share:     analytics holds 6 of its fair 3.0 (+3 borrowed); billing is next",
        ]
    )
    assert report["uses"][0]["shares"] == {
        "effectiveCapacity": 9,
        "shares": [
            {**row, "fair": fair}
            for row, fair in zip(FAIR_DB["status"]["shares"], [6.0, 3.0, None], strict=True)
        ],
        "next": "billing",
    }
