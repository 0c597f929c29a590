"""The main container and its pod, as copies of corev1 types: env, envFrom, resources (cpu and
memory limits and requests), pod metadata and tolerations. Volumes are in api/volumes.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StringConstraints, field_validator, model_validator

from bulkhead.api.base import (
    AnnotationMap,
    Arg,
    LabelMap,
    Model,
    Name,
    Quantity,
    ShortText,
    cel,
    exactly_one,
)
from bulkhead.api.quantity import check_quantity, parse_quantity

ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


class KeyRef(Model):
    """A key of a Secret or ConfigMap in the BatchJob's namespace."""

    name: Name
    """Name of the Secret or ConfigMap, in the BatchJob's namespace."""
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """The key whose value is used."""
    optional: bool | None = None
    """Whether the container may start without the object or its key. Default false: the pod waits
    (CreateContainerConfigError)."""


class FieldRef(Model):
    """A field of the run's pod (the Downward API), as corev1 ObjectFieldSelector."""

    field_path: ShortText
    """Path of the pod field, e.g. metadata.name, metadata.namespace, metadata.labels['key'],
    spec.nodeName, status.podIP."""
    api_version: ShortText | None = None
    """Version of the schema fieldPath is written in. Default v1."""


class EnvVarSource(Model):
    """Where an environment variable's value comes from: exactly one of secretKeyRef,
    configMapKeyRef, fieldRef."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)]"
                    ".filter(x, x).size() == 1",
                    "exactly one of secretKeyRef, configMapKeyRef, fieldRef must be set",
                )
            ]
        }
    )
    secret_key_ref: KeyRef | None = None
    """A key of a Secret in the BatchJob's namespace."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap in the BatchJob's namespace."""
    field_ref: FieldRef | None = None
    """A field of the run's pod."""

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        exactly_one(
            self,
            ("secret_key_ref", "config_map_key_ref", "field_ref"),
            "exactly one of secretKeyRef, configMapKeyRef, fieldRef must be set",
        )
        return self


class EnvVar(Model):
    """An environment variable of the main container, as corev1.EnvVar."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!(has(self.value) && has(self.valueFrom))",
                    "value and valueFrom are mutually exclusive",
                )
            ]
        }
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=ENV_NAME)]
    """The variable's name: letters, digits, '-', '.' and '_', not starting with a digit."""
    value: Arg | None = None
    """The value; $(NAME) refers to a variable defined before it. Mutually exclusive with valueFrom.
    Default empty."""
    value_from: EnvVarSource | None = None
    """Where the value comes from, instead of value."""

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


class LocalRef(Model):
    """A Secret or ConfigMap in the BatchJob's namespace."""

    name: Name
    """Name of the Secret or ConfigMap."""
    optional: bool | None = None
    """Whether the container may start without it. Default false."""


class EnvFromSource(Model):
    """Every key of a Secret or ConfigMap as an environment variable: exactly one of secretRef,
    configMapRef."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.secretRef) != has(self.configMapRef)",
                    "exactly one of secretRef, configMapRef must be set",
                )
            ]
        }
    )
    prefix: Annotated[str, StringConstraints(max_length=253)] | None = None
    """Prepended to every key to make the variable's name. Default none."""
    secret_ref: LocalRef | None = None
    """A Secret of the BatchJob's namespace."""
    config_map_ref: LocalRef | None = None
    """A ConfigMap of the BatchJob's namespace."""

    @model_validator(mode="after")
    def _one_source(self) -> EnvFromSource:
        exactly_one(
            self,
            ("secret_ref", "config_map_ref"),
            "exactly one of secretRef, configMapRef must be set",
        )
        return self


# A run's limits are real: above zero, and below what any node has.
LIMIT_BOUNDS = {"cpu": "1000", "memory": "64Ti"}


def _limit_rules(resource: str) -> list[Any]:
    value = f"quantity(string(self.{resource}))"
    bound = LIMIT_BOUNDS[resource]
    return [
        cel(
            f"{value}.isGreaterThan(quantity('0'))",
            f"limits.{resource} must be greater than 0",
            f".{resource}",
        ),
        cel(
            f"{value}.compareTo(quantity('{bound}')) <= 0",
            f"limits.{resource} must be at most {bound}",
            f".{resource}",
        ),
    ]


class CpuMemory(Model):
    """The main container's limits: cpu and memory, both required, above zero, cpu at most 1000
    cores and memory at most 64Ti."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": _limit_rules("cpu") + _limit_rules("memory")}
    )
    cpu: Quantity
    """CPU limit, a quantity in cores, e.g. 500m or 2. Above 0, at most 1000."""
    memory: Quantity
    """Memory limit, a quantity in bytes, e.g. 512Mi or 1Gi. Above 0, at most 64Ti."""

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: str | int) -> str:
        return check_quantity(value)

    @model_validator(mode="after")
    def _real(self) -> CpuMemory:
        for resource, bound in LIMIT_BOUNDS.items():
            value = parse_quantity(getattr(self, resource))
            if value <= 0:
                raise ValueError(f"limits.{resource} must be greater than 0")
            if value > parse_quantity(bound):
                raise ValueError(f"limits.{resource} must be at most {bound}")
        return self


class OptionalCpuMemory(Model):
    """The main container's requests; one that is absent equals its limit."""

    cpu: Quantity | None = None
    """CPU request, a quantity in cores, e.g. 250m; at most limits.cpu. Default: limits.cpu."""
    memory: Quantity | None = None
    """Memory request, a quantity in bytes, e.g. 256Mi; at most limits.memory. Default:
    limits.memory."""

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: str | int | None) -> str | None:
        return None if value is None else check_quantity(value)


def _not_above_limit(resource: str) -> dict[str, Any]:
    return cel(
        f"!has(self.requests) || !has(self.requests.{resource}) || "
        f"quantity(string(self.requests.{resource}))"
        f".compareTo(quantity(string(self.limits.{resource}))) <= 0",
        f"requests.{resource} must be less than or equal to limits.{resource}",
        f".requests.{resource}",
    )


class Resources(Model):
    """CPU and memory of the main container: limits are required, so every run is bounded."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_not_above_limit("cpu"), _not_above_limit("memory")]
        }
    )
    limits: CpuMemory
    """The most the container may use: cpu and memory, both required."""
    requests: OptionalCpuMemory | None = None
    """What the scheduler reserves for each pod, at most the limits. Default: equal to the limits.
    """

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for resource in ("cpu", "memory"):
            request = getattr(self.requests, resource, None) if self.requests else None
            limit = getattr(self.limits, resource)
            if request is not None and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(
                    f"requests.{resource} must be less than or equal to limits.{resource}"
                )
        return self


class PodMetadata(Model):
    """Labels and annotations copied onto the run's pods."""

    labels: LabelMap | None = None
    """Labels for the pods, at most 64; bulkhead's own (bulkhead.dev/batchjob,
    bulkhead.dev/batchjob-uid) win over these."""
    annotations: AnnotationMap | None = None
    """Annotations for the pods, at most 64."""


class Toleration(Model):
    """A taint the run's pods tolerate, as corev1.Toleration."""

    key: ShortText | None = None
    """The taint key to match; empty, with operator Exists, matches every taint."""
    operator: Literal["Exists", "Equal"] | None = None
    """Exists or Equal. Default Equal."""
    value: ShortText | None = None
    """The taint value to match, with operator Equal."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect to match: NoSchedule, PreferNoSchedule or NoExecute. Default: every effect.
    """
    toleration_seconds: int | None = None
    """With effect NoExecute: seconds a pod stays on a node after the taint appears. Default: for
    ever."""
