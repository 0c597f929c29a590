"""A Dependency's compartments: its units shared fairly between teams (shares), and what its
status shows of each share. The allocator is policy/fair_share.py; admission applies it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from bulkhead.api.base import Label, Model, ShortText, cel
from bulkhead.api.meta import LabelSelector
from bulkhead.api.times import Duration, check_duration, duration

Weight = Annotated[int, Field(ge=1, le=1000)]
Units = Annotated[int, Field(ge=0, le=1_000_000)]
LENDABLE_RULE = "lendable must be at most guaranteed"
# A week: past use older than a few half-lives no longer counts at all.
MAX_HALF_LIFE = 7 * 24 * 3600


class Share(Model):
    """A team's compartment of the budget: the namespaces it covers, its weight, and optionally
    a guarantee and a borrowing limit."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.lendable) || self.lendable <= self.guaranteed",
                    LENDABLE_RULE,
                    ".lendable",
                )
            ]
        }
    )

    name: Label
    """The share's name, unique in the list (a DNS label), e.g. billing."""
    namespace_selector: LabelSelector
    """The namespaces whose BatchJobs draw on this share, by label. A namespace that two shares
    select belongs to the first of them in the list."""
    weight: Weight = 1
    """Its part of the budget relative to the other shares that want units: free units go to the
    share furthest below its weight's part. 1 to 1000. Default 1."""
    guaranteed: Units = 0
    """Units this share is served first up to while it waits: a share below its guarantee goes
    before every share above its own. The guarantees of all shares add up to at most capacity.
    Default 0."""
    lendable: Units | None = None
    """Of its guarantee, how many units other shares may hold while this one does not use
    them; the rest stays free for it, so its runs start at once. At most guaranteed. Default:
    all of it."""
    borrowing_limit: Units | None = None
    """At most this many units above its guarantee. Default: no limit."""

    @model_validator(mode="after")
    def _lendable(self) -> Share:
        if self.lendable is not None and self.lendable > self.guaranteed:
            raise ValueError(LENDABLE_RULE)
        return self

    @property
    def kept(self) -> int:
        """The units of its guarantee that no other share may hold."""
        return self.guaranteed - (self.guaranteed if self.lendable is None else self.lendable)


class DefaultShare(Model):
    """What a namespace that no share selects gets: it is a share of its own, named after it."""

    weight: Weight = 1
    """Its weight. 1 to 1000. Default 1."""
    borrowing_limit: Units | None = None
    """At most this many units held by one such namespace (it has no guarantee). Default: no
    limit."""


class FairSharing(Model):
    """The Dependency's units shared between teams instead of first come, first served. Running
    work is never stopped to be fair: fairness decides who starts next."""

    usage_half_life: Duration = "1h"
    """How long past use counts: a share that held many units lately waits behind one that did
    not, and that memory halves every usageHalfLife. 0s: only the units held now count. Default
    1h; 0s to 7d."""
    shares: (
        Annotated[
            list[Share],
            Field(
                max_length=32,
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
            ),
        ]
        | None
    ) = None
    """The teams' shares, each named once, at most 32; the first that selects a namespace is its
    share."""
    default_share: DefaultShare | None = None
    """What each namespace that no share selects gets. Default: weight 1, no borrowing limit."""

    @field_validator("usage_half_life")
    @classmethod
    def _half_life(cls, value: str) -> str:
        return check_duration(value, "usageHalfLife", 0, MAX_HALF_LIFE)

    @property
    def half_life(self) -> timedelta:
        return duration(self.usage_half_life)


class ShareStatus(Model):
    """One share as admission last saw it."""

    name: ShortText
    """The share's name; for a namespace that no share selects, the namespace's."""
    namespace: ShortText | None = None
    """Set for a namespace that no share selects: it is a share of its own."""
    weight: int
    """Its weight."""
    guaranteed: int
    """Its guarantee in units, scaled down with the effective capacity when health cuts it."""
    in_use: int
    """Units its runs hold."""
    waiting: int
    """Its BatchJobs waiting for this Dependency."""
    borrowed: int
    """Units held above its guarantee."""
    usage: float
    """Its past use, in units held on average, decayed by usageHalfLife; with what it holds now,
    divided by its weight, it orders who is served next (lowest first)."""


SharesStatus = Annotated[list[ShareStatus], Field(max_length=64)]
