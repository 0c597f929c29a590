"""Pure: one metav1.Condition, with the one rule for lastTransitionTime."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bulkhead.api.meta import Condition


def by_type(conditions: Iterable[Condition] | None) -> dict[str, Condition]:
    return {c.type: c for c in conditions or []}


def parse(raw: Iterable[dict[str, Any]] | None) -> dict[str, Condition]:
    """Conditions as read from an object's status; one that does not parse is treated as new."""
    parsed: dict[str, Condition] = {}
    for item in raw or []:
        try:
            condition = Condition.model_validate(item)
        except ValueError:
            continue
        parsed[condition.type] = condition
    return parsed


def condition(
    kind: str,
    status: bool,
    reason: str,
    message: str,
    *,
    generation: int | None,
    before: Condition | None,
    now: str,
) -> Condition:
    """The condition `kind`; its lastTransitionTime is `before`'s while the status is the same,
    `now` when it changes (reason and message may move without a transition)."""
    value = "True" if status else "False"
    return Condition(
        type=kind,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=before.last_transition_time
        if before and before.status == value
        else now,
        observed_generation=generation,
    )
