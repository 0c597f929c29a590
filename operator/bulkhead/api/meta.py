"""Copies of the metav1 types both kinds use: Condition and LabelSelector."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from bulkhead.api.base import LabelKey, LabelMap, LabelValue, Model, Timestamp, cel


class Condition(Model):
    """A condition, as metav1.Condition."""

    type: Annotated[str, StringConstraints(max_length=316)]
    """The condition's type: Ready, Reconciling, Stalled, Succeeded or Suspended on a BatchJob;
    Ready, WindowClosed, SignalAvailable, Throttled, CircuitOpen, Probing or DryRun on a
    Dependency."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: Annotated[str, StringConstraints(max_length=1024)]
    """Why, in one CamelCase word that Events use too, e.g. WaitingForDependency or
    BackoffLimitExceeded."""
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    """What happened, for a person."""
    last_transition_time: Timestamp
    """When status last changed (RFC 3339)."""
    observed_generation: int | None = None
    """The metadata.generation the condition was computed from."""


Conditions = Annotated[list[Condition], Field(max_length=16)]


SELECTOR_VALUES_RULE = (
    "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
)


class LabelSelectorRequirement(Model):
    """One requirement of a label selector, as in metav1.LabelSelector."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0"
                    " : !has(self.values) || size(self.values) == 0",
                    SELECTOR_VALUES_RULE,
                    ".values",
                )
            ]
        }
    )

    key: LabelKey
    """The label key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[LabelValue], Field(max_length=64)] | None = None
    """Values for In and NotIn, at most 64; empty for Exists and DoesNotExist."""

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        if bool(self.values) != (self.operator in ("In", "NotIn")):
            raise ValueError(SELECTOR_VALUES_RULE)
        return self


class LabelSelector(Model):
    """A label selector, as metav1.LabelSelector: every term must hold; an empty one matches
    everything."""

    match_labels: LabelMap | None = None
    """Labels that must all be present with these values."""
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=16)] | None = None
    """Requirements that must all hold, at most 16."""
