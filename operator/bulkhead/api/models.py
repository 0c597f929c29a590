"""The public API as pydantic models: BatchJob and Dependency, spec and status.

The CRDs in crds/ are generated from these models (`bulkhead.api.crdgen`), so bounds, defaults and
CEL rules are written here once, next to the field they guard. Field names mirror corev1 where a
field has a corev1 twin, so a user's muscle memory works.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bulkhead.api.cel import SIGNAL_NAME_PATTERN, compile_condition
from bulkhead.api.constants import Phase
from bulkhead.api.quantity import parse_quantity
from bulkhead.api.times import DURATION_PATTERN, duration, duration_seconds

# Kubernetes' quantity grammar (k8s.io/apimachinery/pkg/api/resource) without the sign:
# a negative limit or size is never what anyone means.
# Exponents have at most two digits: "1e1000" is a typo, not a size (the API server would cap
# it at 2^63-1 and make a Job with it).
QUANTITY_PATTERN = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]{1,2}))?$"
)
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL)]
ShortText = Annotated[str, StringConstraints(max_length=253)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Arg = Annotated[str, StringConstraints(max_length=4096)]
Path = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
AbsolutePath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^/")]

# An image reference, by the distribution reference grammar (github.com/distribution/reference):
# [registry[:port]/]path[:tag][@digest], lowercase path components.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
# The reference grammar's [\w][\w.-]{0,127}, spelled out: \w is ASCII in Go (the API server),
# Unicode in the Rust regex pydantic compiles, where that one pattern cost 13 MiB of RSS.
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)
# Label keys and values as the API server checks them on a pod or a selector: a key is a
# qualified name with an optional DNS-subdomain prefix, a value at most 63 characters. ([.] and
# not an escaped dot: the same text is a Python, a JSON-schema and a CEL (RE2) pattern.)
_QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
LABEL_KEY = rf"^({_PREFIX})?{_QUALIFIED_NAME}$"
LABEL_VALUE = rf"^({_QUALIFIED_NAME})?$"
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=LABEL_KEY)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE)]
# The schema cannot constrain map keys (no propertyNames in a structural schema): CEL does.
_KEYS_RULE = {
    "x-kubernetes-validations": [
        {
            "rule": f"self.all(k, size(k) <= 253 && k.matches('{LABEL_KEY}'))",
            "message": "keys must be qualified names: an optional DNS subdomain and '/', then "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
        }
    ]
}
LabelMap = Annotated[dict[LabelKey, LabelValue], Field(max_length=64, json_schema_extra=_KEYS_RULE)]
AnnotationMap = Annotated[dict[LabelKey, Text], Field(max_length=64, json_schema_extra=_KEYS_RULE)]


def _quantity_schema(schema: dict[str, Any]) -> None:
    # Replaces the generated str | int schema; the field's own description stays.
    description = {k: v for k, v in schema.items() if k == "description"}
    schema.clear()
    schema.update(
        {
            **description,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "maxLength": 64,
        }
    )


QUANTITY_RE = re.compile(QUANTITY_PATTERN)


def _check_quantity(value: str | int) -> str:
    text = str(value)
    if not QUANTITY_RE.match(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 1, 2Gi)")
    return text


Quantity = Annotated[str | int, Field(json_schema_extra=_quantity_schema)]


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One x-kubernetes-validations entry."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def _exactly_one(model: BaseModel, fields: tuple[str, ...], message: str) -> None:
    """The pydantic twin of the CRD's one-of CEL rules, for objects that bypass the API server."""
    if sum(getattr(model, f) is not None for f in fields) != 1:
        raise ValueError(message)


Timestamp = Annotated[str, StringConstraints(max_length=64)]


class Model(BaseModel):
    """camelCase on the wire, unknown fields refused (the CRD prunes them server-side too)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # The docstring under a field is its description in the CRD, so `kubectl explain` shows it.
        use_attribute_docstrings=True,
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- the main container ------------------------------------------------------------------


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
        _exactly_one(
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
        _exactly_one(
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
        return _check_quantity(value)

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
        return None if value is None else _check_quantity(value)


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


class KeyToPath(Model):
    """A key of a ConfigMap or Secret, projected to a file."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """The key to project."""
    path: Path
    """Relative path of its file in the volume."""
    mode: Annotated[int, Field(ge=0, le=0o777)] | None = None
    """Mode bits of the file, 0 to 0777 (511). Default: the volume's defaultMode."""


Items = Annotated[list[KeyToPath], Field(max_length=64)]
Mode = Annotated[int, Field(ge=0, le=0o777)]


class ConfigMapVolume(Model):
    """A ConfigMap of the BatchJob's namespace, as files."""

    name: Name
    """Name of the ConfigMap."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""
    optional: bool | None = None
    """Whether the pod may start without the ConfigMap or a listed key. Default false."""


class SecretVolume(Model):
    """A Secret of the BatchJob's namespace, as files."""

    secret_name: Name
    """Name of the Secret."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""
    optional: bool | None = None
    """Whether the pod may start without the Secret or a listed key. Default false."""


class EmptyDirVolume(Model):
    """A scratch directory that lives as long as the pod."""

    medium: Literal["", "Memory"] | None = None
    """"" for the node's disk, Memory for a tmpfs (it counts against the memory limit). Default "".
    """
    size_limit: Quantity | None = None
    """The most the directory may hold, a quantity in bytes, e.g. 1Gi; above it the pod is evicted.
    Default: no limit of its own."""


class PersistentVolumeClaimVolume(Model):
    """A PersistentVolumeClaim of the BatchJob's namespace."""

    claim_name: Name
    """Name of the claim."""
    read_only: bool | None = None
    """Mount it read-only. Default false."""


class ResourceFieldRef(Model):
    """A resource limit or request of a container, as a value."""

    resource: ShortText
    """The resource: limits.cpu, limits.memory, requests.cpu or requests.memory (or
    limits/requests.ephemeral-storage)."""
    container_name: ShortText | None = None
    """The container whose resource it is; the run's container is named main."""
    divisor: Quantity | None = None
    """The unit of the value, a quantity, e.g. 1m for millicores or 1Mi for MiB. Default 1."""


class DownwardAPIFile(Model):
    """One file of a downwardAPI volume: a pod field or a container's resource value."""

    path: Path
    """Relative path of the file in the volume."""
    field_ref: FieldRef | None = None
    """A field of the pod: metadata.name, metadata.namespace, metadata.uid, metadata.labels or
    metadata.annotations."""
    resource_field_ref: ResourceFieldRef | None = None
    """A resource limit or request of the container."""
    mode: Mode | None = None
    """Mode bits of the file, 0 to 0777 (511). Default: the volume's defaultMode."""


class DownwardAPIVolume(Model):
    """Pod fields and container resource values, as files."""

    items: Annotated[list[DownwardAPIFile], Field(max_length=64)] | None = None
    """The files, at most 64."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""


class ProjectedKeys(Model):
    """Keys of a ConfigMap or Secret of the BatchJob's namespace, for a projected volume."""

    name: Name
    """Name of the ConfigMap or Secret."""
    items: Items | None = None
    """The keys to project, and their files. Default: every key, in a file named after it."""
    optional: bool | None = None
    """Whether the pod may start without it or a listed key. Default false."""


class ServiceAccountTokenProjection(Model):
    """A token of the pod's ServiceAccount, for an audience, as a file."""

    path: Path
    """Relative path of the token's file in the volume."""
    audience: ShortText | None = None
    """Who the token is for. Default: the API server's own audience."""
    expiration_seconds: Annotated[int, Field(ge=600)] | None = None
    """Requested lifetime of the token in seconds, at least 600; the kubelet renews it. Default
    3600."""


class ProjectedSource(Model):
    """One source of a projected volume: configMap, secret, downwardAPI or serviceAccountToken."""

    config_map: ProjectedKeys | None = None
    """Keys of a ConfigMap."""
    secret: ProjectedKeys | None = None
    """Keys of a Secret."""
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    """Pod fields and container resource values."""
    service_account_token: ServiceAccountTokenProjection | None = None
    """A token of the pod's ServiceAccount (the run needs serviceAccountName)."""


class ProjectedVolume(Model):
    """Several sources in one directory."""

    sources: Annotated[list[ProjectedSource], Field(max_length=32)]
    """The sources, merged into one directory; at most 32."""
    default_mode: Mode | None = None
    """Mode bits of the files, 0 to 0777 (511). Default 0644."""


VOLUME_SOURCES = (
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
)


class Volume(Model):
    """A volume of the run's pod: exactly one source, of the types that keep a batch pod inside its
    namespace's data."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[" + ", ".join(f"has(self.{s})" for s in VOLUME_SOURCES) + "]"
                    ".filter(x, x).size() == 1",
                    "exactly one volume source must be set, one of: " + ", ".join(VOLUME_SOURCES),
                )
            ]
        }
    )
    name: Label
    """Name of the volume, a DNS label; volumeMounts[].name refers to it."""
    config_map: ConfigMapVolume | None = None
    """A ConfigMap of the BatchJob's namespace, as files."""
    secret: SecretVolume | None = None
    """A Secret of the BatchJob's namespace, as files."""
    empty_dir: EmptyDirVolume | None = None
    """A scratch directory that lives as long as the pod."""
    persistent_volume_claim: PersistentVolumeClaimVolume | None = None
    """A PersistentVolumeClaim of the BatchJob's namespace."""
    projected: ProjectedVolume | None = None
    """Several sources in one directory."""
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    """Pod fields and container resource values, as files."""

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        _exactly_one(
            self,
            (
                "config_map",
                "secret",
                "empty_dir",
                "persistent_volume_claim",
                "projected",
                "downward_api",
            ),
            "exactly one volume source must be set, one of: " + ", ".join(VOLUME_SOURCES),
        )
        return self


class VolumeMount(Model):
    """Where a volume is mounted in the main container."""

    name: Label
    """Name of an entry of spec.volumes."""
    mount_path: AbsolutePath
    """Absolute path in the container. The root filesystem is read-only: without a mount at /tmp,
    bulkhead mounts an emptyDir there."""
    sub_path: Path | None = None
    """A path in the volume to mount instead of its root. Default: the root."""
    read_only: bool | None = None
    """Mount it read-only. Default false."""


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


class Use(Model):
    """A Dependency that each run uses, and how many of its units a run holds."""

    dependency: Name
    """Name of the Dependency (cluster-scoped)."""
    units: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    """Units of its capacity a run holds, from when it is admitted until its Job finishes. Default
    1; 1 to 1000000."""


ExitCode = Annotated[int, Field(ge=1, le=255)]

# The API server checks a schedule's shape; its meaning (field ranges, H, durations) is checked
# by the operator, which refuses a bad one as InvalidSpec with the reason.
SCHEDULE_SHAPE_RULE = (
    "self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    "|@every [0-9smhd]+|[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+)$')"
)
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r}") from error
    return value


# Fields that define what a run does. They cannot change once a Job exists: the Job would no
# longer be what the BatchJob says. Scheduled BatchJobs build a new Job per run, so they may.
# env, volumes and pod placement are left out: comparing them in CEL costs more than the API
# server's budget allows (measured); the Job keeps what it was built with either way.
RUN_FIELDS = (
    "image",
    "command",
    "args",
    "resources",
    "serviceAccountName",
    "parallelism",
    "completions",
    "backoffLimit",
    "nonRetryableExitCodes",
    "activeDeadlineSeconds",
    "priorityClassName",
    "uses",
)

# Like a CronJob's: the Job's name adds a suffix and must stay a 63-character label value.
MAX_NAME_LENGTH = 52
NAME_LENGTH_RULE = cel(
    f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
    f"metadata.name must be at most {MAX_NAME_LENGTH} characters: the Job's name adds a suffix",
)

ALWAYS_SET = ("image", "resources", "parallelism", "completions", "backoffLimit")


def _unchanged(field: str) -> str:
    # Not `self.spec.?f == oldSelf.spec.?f`: the API server's cost estimate for optionals is
    # over its budget by 100x (measured), the has() form is cheap.
    if field in ALWAYS_SET:
        return f"self.spec.{field} == oldSelf.spec.{field}"
    return (
        f"has(self.spec.{field}) == has(oldSelf.spec.{field}) && "
        f"(!has(self.spec.{field}) || self.spec.{field} == oldSelf.spec.{field})"
    )


# The API server evaluates it on every status write too. A status write keeps the old spec and
# a spec write keeps the old status, so a changed status is a status write, whose spec is the
# same. Skipping the field-by-field comparison then cut the API server's CPU per status patch
# of a running BatchJob from 5.3-7.4 ms to 3.7-5.6 (4.0-5.3 with no rule at all; measured on
# the local cluster): CEL reads each field of a custom resource through a fresh map of its
# parent's properties.
IMMUTABLE_RUN_RULE = cel(
    "!has(oldSelf.status) || !has(oldSelf.status.jobName) || has(self.spec.schedule) || "
    "(has(self.status) && self.status != oldSelf.status) || ("
    + " && ".join(f"({_unchanged(f)})" for f in RUN_FIELDS)
    + ")",
    "the run spec (" + ", ".join(RUN_FIELDS) + ") cannot change once a Job exists "
    "(status.jobName is set); delete and re-create the BatchJob to run it again",
    ".spec",
)


class BatchJobSpec(Model):
    """What a BatchJob runs (one container, in a Job of its own), how, with which Dependencies, and
    when."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.parallelism) || !has(self.completions) || "
                    "self.parallelism <= self.completions",
                    "parallelism must not exceed completions",
                    ".parallelism",
                ),
                cel(
                    "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && "
                    "self.volumes.exists(v, v.name == m.name))",
                    "every volumeMounts[].name must name an entry of volumes",
                    ".volumeMounts",
                ),
            ]
        }
    )

    image: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=IMAGE_PATTERN)]
    """Container image of the run, e.g. registry.example/invoices:1.4, optionally with
    @sha256:<digest>. Required."""
    command: Annotated[list[Arg], Field(max_length=64)] | None = None
    """The container's entrypoint, at most 64 entries. Default: the image's ENTRYPOINT."""
    args: Annotated[list[Arg], Field(max_length=64)] | None = None
    """Arguments to the entrypoint, at most 64. Default: the image's CMD."""
    env: Annotated[list[EnvVar], Field(max_length=128)] | None = None
    """Environment variables of the container, at most 128."""
    env_from: Annotated[list[EnvFromSource], Field(max_length=32)] | None = None
    """Secrets and ConfigMaps whose keys become environment variables, at most 32."""
    resources: Resources
    """CPU and memory of the container. limits.cpu and limits.memory are required; requests default
    to the limits."""
    volumes: Annotated[list[Volume], Field(max_length=32)] | None = None
    """Volumes of the pod, at most 32: only configMap, secret, emptyDir, persistentVolumeClaim,
    projected and downwardAPI."""
    volume_mounts: Annotated[list[VolumeMount], Field(max_length=32)] | None = None
    """Where volumes are mounted in the container, at most 32; each names an entry of volumes."""
    pod_metadata: PodMetadata | None = None
    """Labels and annotations copied onto the run's pods."""
    service_account_name: Annotated[str, StringConstraints(max_length=253)] | None = None
    """ServiceAccount of the BatchJob's namespace the pods run as; its token is mounted only when
    this is set, and the requester needs the verb use on it. Default: none (the namespace's
    default account, no token)."""

    parallelism: Annotated[int, Field(ge=1, le=10_000)] = 1
    """Pods that run at once. Default 1; 1 to 10000, at most completions."""
    completions: Annotated[int, Field(ge=1, le=100_000)] = 1
    """Pods that must succeed for the run to succeed. Default 1; 1 to 100000. Above 1 the Job is
    Indexed: each pod gets its shard in JOB_COMPLETION_INDEX."""
    backoff_limit: Annotated[int, Field(ge=0, le=1_000)] = 3
    """Failed pods retried before the run fails (BackoffLimitExceeded); a pod disrupted by a drain
    or preemption does not count. Default 3; 0 to 1000."""
    non_retryable_exit_codes: Annotated[list[ExitCode], Field(max_length=64)] | None = None
    """Exit codes (1 to 255) of the container that fail the run at once, without retries
    (NonRetryableExitCode)."""
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    """Longest a run may take, in seconds from its Job's start; then it fails (DeadlineExceeded).
    Default: no limit."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None
    """Seconds a finished run's Job and pods are kept before Kubernetes deletes them; the BatchJob
    keeps its status. Default: kept (for a schedule, the history limits delete old runs)."""
    node_selector: LabelMap | None = None
    """Node labels the pods must match, e.g. a dedicated batch node pool; at most 64."""
    tolerations: Annotated[list[Toleration], Field(max_length=32)] | None = None
    """Taints the pods tolerate, at most 32."""
    priority_class_name: Annotated[str, StringConstraints(max_length=253)] | None = None
    """PriorityClass of the pods, for the scheduler and preemption on nodes. Not the admission
    order: see priority. Default: none."""

    uses: (
        Annotated[
            list[Use],
            Field(
                max_length=16,
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["dependency"],
                },
            ),
        ]
        | None
    ) = None
    """Dependencies a run needs, each named once, at most 16. A run starts only when every one has
    room for all its units at once; it never holds part of them."""
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    """Admission order among waiting BatchJobs: higher first, then the older. Default 0; -1000000 to
    1000000."""

    # When it runs (absent: once, as soon as admitted). See policy/schedule.py and policy/runs.py.
    schedule: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=128),
            Field(
                json_schema_extra={
                    "x-kubernetes-validations": [
                        cel(
                            "!self.contains('TZ=')",
                            "TZ= and CRON_TZ= are not allowed in a schedule; use spec.timeZone",
                        ),
                        cel(
                            SCHEDULE_SHAPE_RULE,
                            "a schedule is five cron fields (minute hour day-of-month month "
                            "day-of-week), an alias such as @daily, or @every <duration>",
                        ),
                    ]
                }
            ),
        ]
        | None
    ) = None
    """When it runs: five cron fields (H picks a per-BatchJob value), an alias such as @daily, or
    @every <duration> (at least 10s). Each instant runs as a Job of its own. Default: none, it
    runs once, as soon as admitted."""
    time_zone: Annotated[str, StringConstraints(max_length=64, pattern=ZONE_PATTERN)] | None = None
    """IANA time zone of schedule, e.g. Europe/Madrid. Default UTC."""
    suspend: bool = False
    """With a schedule: while true, no new run starts (waiting ones are recorded as Missed, reason
    Suspended); a running one goes on. Default false."""
    concurrency_policy: Literal["Allow", "Forbid", "Replace", "Queue"] = "Forbid"
    """With a schedule, what an instant does while a run is active: Forbid records it as Missed,
    Queue keeps one run waiting, Replace deletes the active run's Job and starts the new one,
    Allow runs both. Default Forbid."""
    starting_deadline_seconds: Annotated[int, Field(ge=0, le=31_536_000)] | None = None
    """With a schedule: how late a run may start, in seconds after its instant, a wait for a
    Dependency included; later it is Missed (StartingDeadlineExceeded). Default: no limit; at
    most 31536000."""
    catch_up: Literal["Latest", "None", "All"] = "Latest"
    """With a schedule, which instants missed while the operator was down or the BatchJob suspended
    run: Latest the newest once, All the newest maxCatchUpRuns, None only an instant seen within
    60 s of its time. Default Latest."""
    # At most 20: each waiting run is an entry of status.runs (at most 32).
    max_catch_up_runs: Annotated[int, Field(ge=1, le=20)] = 5
    """With catchUp All: how many of the newest missed instants run. Default 5; 1 to 20."""
    jitter_seconds: Annotated[int, Field(ge=0, le=86_400)] = 0
    """With a schedule: each run starts up to this many seconds after its instant, the same offset
    for the same BatchJob and instant, never at or past the next instant. Default 0; at most
    86400."""
    successful_runs_history_limit: Annotated[int, Field(ge=0, le=100)] = 3
    """With a schedule: Jobs of succeeded runs kept; older ones are deleted. Default 3; 0 to 100."""
    failed_runs_history_limit: Annotated[int, Field(ge=0, le=100)] = 3
    """With a schedule: Jobs of failed runs kept; older ones are deleted. Default 3; 0 to 100."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> BatchJobSpec:
        if self.parallelism > self.completions:
            raise ValueError("parallelism must not exceed completions")
        volumes = {v.name for v in self.volumes or []}
        for mount in self.volume_mounts or []:
            if mount.name not in volumes:
                raise ValueError(f"volumeMounts[].name {mount.name} names no entry of volumes")
        dependencies = [u.dependency for u in self.uses or []]
        if len(dependencies) != len(set(dependencies)):
            raise ValueError("uses must name each dependency once")
        return self


# --- status ------------------------------------------------------------------------------


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


class QueuePosition(Model):
    """Which Dependency's line a waiting BatchJob stands in. Its place in that line is not
    written here (it moves with every start, and following it would cost a write per waiter
    per start): the Dependency's status.queue lists the head of the line, and `kubectl
    bulkhead why` shows the place of any waiter."""

    dependency: Name
    """The Dependency it waits for (the first that holds it back)."""


RunResult = Literal["Deferred", "Running", "Succeeded", "Failed", "Missed", "Replaced"]


class Run(Model):
    """One run of a scheduled BatchJob, or one instant that did not run and why."""

    scheduled_time: Timestamp
    """The instant (RFC 3339); for a run-now request, when it was asked for."""
    result: RunResult
    """Deferred (waiting for its jitter, a Dependency or the active run), Running, Succeeded,
    Failed, Missed or Replaced."""
    reason: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Why, e.g. WaitingForDependency, StartingDeadlineExceeded, ConcurrencyForbid, NotCaughtUp or
    BackoffLimitExceeded."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    """What happened, for a person."""
    job_name: ShortText | None = None
    """The run's Job, once it is made."""
    start_time: Timestamp | None = None
    """When the run's Job started (RFC 3339)."""
    completion_time: Timestamp | None = None
    """When the run finished (RFC 3339)."""
    run_now: ShortText | None = None
    """The bulkhead.dev/run-now value that asked for this run, when one did."""


class BatchJobStatus(Model):
    """What the operator observed and decided; only the operator writes it."""

    observed_generation: int | None = None
    """The metadata.generation this status was computed from."""
    phase: Phase | None = None
    """Pending, Queued, Running, Succeeded, Failed, Suspended, or Scheduled (a schedule between
    runs)."""
    conditions: Conditions | None = None
    """Ready, Reconciling, Stalled, Succeeded and Suspended, as kstatus, Flux and Argo CD read them.
    """
    job_name: ShortText | None = None
    """The run's Job; for a schedule, the running or latest finished run's."""
    start_time: Timestamp | None = None
    """When the run's Job started (RFC 3339)."""
    completion_time: Timestamp | None = None
    """When the run finished (RFC 3339)."""
    active: int | None = None
    """Pods of the run's Job that are running."""
    succeeded: int | None = None
    """Pods of the run's Job that succeeded."""
    failed: int | None = None
    """Pods of the run's Job that failed."""
    reason: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Why it is in its phase, e.g. WaitingForDependency, BackoffLimitExceeded, InvalidSpec."""
    message: Annotated[str, StringConstraints(max_length=32768)] | None = None
    """What happened and what it waits for, for a person."""
    queue: QueuePosition | None = None
    """While it waits for a Dependency: which one."""
    # Scheduled BatchJobs (see policy/runs.py).
    last_schedule_time: Timestamp | None = None
    """With a schedule: the newest instant that got a Job (RFC 3339)."""
    next_schedule_time: Timestamp | None = None
    """With a schedule: the next instant (RFC 3339); absent while suspended."""
    last_successful_time: Timestamp | None = None
    """With a schedule: when the newest succeeded run finished (RFC 3339)."""
    last_failure_time: Timestamp | None = None
    """With a schedule: when the newest failed run finished (RFC 3339)."""
    last_run_result: RunResult | None = None
    """With a schedule: the result of the newest run that ended."""
    run_now: ShortText | None = None
    """The last bulkhead.dev/run-now annotation value handled."""
    runs: Annotated[list[Run], Field(max_length=32)] | None = None
    """With a schedule: every waiting and running run, then the newest 10 finished or missed ones;
    at most 32 entries."""


# --- Dependency --------------------------------------------------------------------------

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Window(Model):
    """A time of day when a Dependency lets new runs start."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.start != self.end", "a window's start and end must differ")
            ]
        }
    )
    days: Annotated[list[Day], Field(max_length=7)] | None = None
    """Days the window opens on, Mon to Sun. Default: every day."""
    start: ClockTime
    """When it opens, HH:MM (24 h) in timeZone."""
    end: ClockTime
    """When it closes, HH:MM, exclusive. Before start: the window runs past midnight into the next
    day."""
    time_zone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    """IANA time zone of start and end, so the window follows daylight saving. Default UTC."""

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError("a window's start and end must differ")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)


class LabelSelectorRequirement(Model):
    """One requirement of a label selector, as in metav1.LabelSelector."""

    key: LabelKey
    """The label key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[LabelValue], Field(max_length=64)] | None = None
    """Values for In and NotIn, at most 64; empty for Exists and DoesNotExist."""


class LabelSelector(Model):
    """A label selector, as metav1.LabelSelector: every term must hold; an empty one matches
    everything."""

    match_labels: LabelMap | None = None
    """Labels that must all be present with these values."""
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=16)] | None = None
    """Requirements that must all hold, at most 16."""


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR with no host bits set: {error}") from error
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length (e.g. 10.0.0.0/16, 192.0.2.7/32)")
    return value


CIDR_MESSAGE = "must be a CIDR with no host bits set, e.g. 10.0.0.0/16, 192.0.2.7/32 or fd00::/64"
Cidr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("isCIDR(self) && cidr(self) == cidr(self).masked()", CIDR_MESSAGE)
            ]
        }
    ),
]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class NetworkPort(Model):
    """A port, or the range port..endPort, as in a NetworkPolicy rule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.endPort) || self.endPort >= self.port",
                    "endPort must not be below port",
                    ".endPort",
                )
            ]
        }
    )
    port: PortNumber
    """Port number, 1 to 65535."""
    end_port: PortNumber | None = None
    """Last port of the range port..endPort. Default: port alone."""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """TCP, UDP or SCTP. Default TCP."""

    @model_validator(mode="after")
    def _range(self) -> NetworkPort:
        if self.end_port is not None and self.end_port < self.port:
            raise ValueError("endPort must not be below port")
        return self


NETWORK_PLACE = (
    "network must say where the dependency is: cidrs, or namespaceSelector "
    "(with podSelector to narrow it to some pods)"
)
POD_SELECTOR_ALONE = (
    "podSelector needs namespaceSelector: a Dependency is cluster-wide, so name the "
    "namespaces its pods are in"
)


# When a Dependency a BatchJob uses declares its network, the BatchJob's runs may reach only
# the Dependencies it declares and DNS (policy/network.py).
class DependencyNetwork(Model):
    """Where a Dependency is reached: CIDRs, or pods by namespace (and pod) selector."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.cidrs) || has(self.namespaceSelector)", NETWORK_PLACE),
                cel(
                    "!has(self.podSelector) || has(self.namespaceSelector)",
                    POD_SELECTOR_ALONE,
                    ".podSelector",
                ),
            ]
        }
    )
    cidrs: Annotated[list[Cidr], Field(min_length=1, max_length=32)] | None = None
    """IP ranges of the service, no host bits set, e.g. 10.20.0.0/16, 192.0.2.7/32, fd00::/64; at
    most 32."""
    ports: Annotated[list[NetworkPort], Field(min_length=1, max_length=32)] | None = None
    """Ports runs may reach it on, at most 32. Default: every port."""
    namespace_selector: LabelSelector | None = None
    """Namespaces whose pods are the service."""
    pod_selector: LabelSelector | None = None
    """Narrows namespaceSelector to these pods; needs namespaceSelector."""

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_cidr(c) for c in value]

    @model_validator(mode="after")
    def _somewhere(self) -> DependencyNetwork:
        if self.pod_selector is not None and self.namespace_selector is None:
            raise ValueError(POD_SELECTOR_ALONE)
        if self.cidrs is None and self.namespace_selector is None:
            raise ValueError(NETWORK_PLACE)
        return self


# --- Dependency health (policy/health.py) ---------------------------------------------------

Duration = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=DURATION_PATTERN)]
DURATION_HELP = "a duration of s, m, h and d parts, e.g. 30s or 1h30m"


def _check_duration(value: str, field: str, low: int, high: int) -> str:
    seconds = duration_seconds(value)
    if seconds is None:
        raise ValueError(f"{field} must be {DURATION_HELP}")
    if not low <= seconds <= high:
        raise ValueError(f"{field} must be from {low}s to {high}s, got {value}")
    return value


SignalName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=SIGNAL_NAME_PATTERN)
]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://\S+$")]
# A JSON path of member names and list indexes from the document's root: $.data.p99,
# $.items[0].value, $['p99-ms'].
JSON_PATH_PATTERN = r"^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]{1,9}\]|\['[^']{1,253}'\])*$"
Expression = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class SecretKeyRef(Model):
    """A key of a Secret in the operator's own namespace (not the BatchJobs'). The operator may
    read only the Secrets it is pointed to: the chart grants get on those names alone
    (resourceNames, from a list in its values), never list or watch on Secrets."""

    name: Name
    """Name of the Secret, in the operator's namespace."""
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """The key whose value is used."""


class SignalTLS(Model):
    """How the signal's HTTPS server is trusted."""

    ca_secret_ref: SecretKeyRef | None = None
    """A PEM bundle of the CAs that sign the server's certificate. Default: the system's CAs."""
    insecure_skip_verify: bool = False
    """Skip verifying the server's certificate (a test setup only). Default false."""


class PrometheusSignal(Model):
    """A Prometheus instant query whose result is one sample."""

    address: Url
    """Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090."""
    query: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    """PromQL, evaluated now; it must return exactly one sample (a vector of one, or a scalar),
    e.g. histogram_quantile(0.99, sum by (le) (rate(probe_latency_seconds_bucket[1m])))."""
    timeout: Duration = "5s"
    """Longest a read may take; a slower one counts as a failed read. Default 5s; 1s to 60s."""

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        return _check_duration(value, "timeout", 1, 60)


class HttpSignal(Model):
    """A number in a JSON document served over HTTP(S) (GET)."""

    url: Url
    """The document's URL, e.g. https://orders-db-exporter.db:8443/health."""
    json_path: Annotated[str, StringConstraints(max_length=1024, pattern=JSON_PATH_PATTERN)]
    """Where the number is: member names and list indexes from the root, e.g. $.latency.p99,
    $.items[0].value or $['p99-ms']. A JSON number, or a string that is one."""
    timeout: Duration = "5s"
    """Longest a read may take; a slower one counts as a failed read. Default 5s; 1s to 60s."""

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        return _check_duration(value, "timeout", 1, 60)


class Signal(Model):
    """A number read from the shared service's monitoring: exactly one of prometheus, http."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.prometheus) != has(self.http)",
                    "exactly one of prometheus, http must be set",
                )
            ]
        }
    )
    name: SignalName
    """The signal's name; conditions read it as signals.<name>. A CEL identifier: a lowercase
    letter, then letters, digits and '_'."""
    prometheus: PrometheusSignal | None = None
    """Read by a Prometheus instant query."""
    http: HttpSignal | None = None
    """Read from a JSON document over HTTP(S)."""
    tls: SignalTLS | None = None
    """How an https address or url is trusted. Default: the system's CAs."""
    bearer_token_secret_ref: SecretKeyRef | None = None
    """A bearer token sent in the Authorization header, from a Secret in the operator's
    namespace. Default: none."""

    @model_validator(mode="after")
    def _one_source(self) -> Signal:
        _exactly_one(self, ("prometheus", "http"), "exactly one of prometheus, http must be set")
        return self


class Target(Model):
    """The value one signal should stay at or below."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [cel("self.value > 0.0", "value must be above 0")]
        }
    )
    signal: SignalName
    """The signal, one of health.signals."""
    value: float
    """Its target, above 0, in the signal's unit (e.g. 0.2 for 200 ms read in seconds)."""

    @field_validator("value")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("value must be above 0")
        return value


class Adaptive(Model):
    """How the limit on new starts follows the service: cut in proportion while the target's
    signal is above it or health is Degraded, grown while Healthy and used."""

    min_capacity: Annotated[int, Field(ge=0, le=1_000_000)] = 1
    """The floor: cuts never go below it, and a breaker that closes starts again from it. At most
    capacity. Default 1."""
    target: Target | None = None
    """A signal and its target: above it, the limit is cut to limit x target / value (at least
    half, at most 0.9 of it). Default: none, cuts come from degradedWhen alone (x 0.9)."""
    settle_time: Duration = "1m"
    """The limit changes at most once per settleTime, so each change is seen in the signals before
    the next. Default 1m; 1s to 1d."""
    increase_step: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    """Units added per settleTime while Healthy, at or below the target, and the limit is all in
    use. Default 1."""

    @field_validator("settle_time")
    @classmethod
    def _settle(cls, value: str) -> str:
        return _check_duration(value, "settleTime", 1, 86_400)


class Breaker(Model):
    """The circuit breaker: open (no new starts) while openWhen holds, then one probe run."""

    base_wait: Duration = "30s"
    """Wait after the first opening before half-open; the n-th opening in a row waits n times
    baseWait. Default 30s; 1s to 1d."""
    max_wait: Duration = "10m"
    """The longest wait before half-open, at least baseWait. Default 10m; 1s to 1d."""
    observe_for: Duration = "1m"
    """How long the health signals are watched after the probe run starts: openWhen never holding
    in that time closes the breaker (the probe's exit code is not the judge). Default 1m; 1s to
    1d."""
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Each wait is lengthened by up to this fraction of it, so Dependencies that opened together
    do not probe together. Default 0.2; 0 to 1."""

    @field_validator("base_wait", "max_wait", "observe_for")
    @classmethod
    def _wait(cls, value: str) -> str:
        return _check_duration(value, "a breaker duration", 1, 86_400)

    @model_validator(mode="after")
    def _ordered(self) -> Breaker:
        if duration(self.max_wait) < duration(self.base_wait):
            raise ValueError("maxWait must be at least baseWait")
        return self


SignalLossAction = Literal["Hold", "DecayToMin", "FailClosed", "FailOpen"]


class SignalLoss(Model):
    """What happens when a signal cannot be read."""

    action: SignalLossAction = "DecayToMin"
    """Hold keeps the limit as it was; DecayToMin halves it once per settleTime down to
    minCapacity; FailClosed starts nothing new; FailOpen allows the whole capacity. Default
    DecayToMin: blind, bulkhead admits no more than the floor the admin declared safe at any load
    (running work is never stopped), and batch work still moves while the monitoring is down,
    which is more common than the database being down. It applies while the breaker is closed;
    an open breaker stays open."""
    after: Duration = "1m"
    """How long a signal may go unread before the action applies; until then the last values
    hold. Default 1m; 0s to 1d."""

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        return _check_duration(value, "after", 0, 86_400)


HEALTH_PAIR = "degradedWhen and recoveredWhen must be set together (the band between them)"
TARGET_SIGNAL = "adaptive.target.signal must name one of signals"


class Health(Model):
    """The shared service's health, from its own monitoring, and what it does to admission:
    effective capacity = min(capacity, adaptive limit); running work is never stopped."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.degradedWhen) == has(self.recoveredWhen)", HEALTH_PAIR),
                cel(
                    "!has(self.adaptive) || !has(self.adaptive.target) || "
                    "self.signals.exists(s, s.name == self.adaptive.target.signal)",
                    TARGET_SIGNAL,
                    ".adaptive.target.signal",
                ),
            ]
        },
    )
    signals: Annotated[
        list[Signal],
        Field(
            min_length=1,
            max_length=8,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
    ]
    """The numbers health is judged on, each named once, 1 to 8."""
    interval: Duration = "15s"
    """How often every signal is read. Default 15s; 1s to 1h."""
    degraded_when: Expression | None = None
    """CEL over signals.<name> (doubles): while it holds for `for`, health is Degraded and the
    limit is cut, e.g. signals.p99 > 0.3. Set with recoveredWhen."""
    recovered_when: Expression | None = None
    """CEL: Degraded ends only once this holds for `for`, e.g. signals.p99 < 0.2; between the two
    nothing changes (hysteresis, no flapping)."""
    open_when: Expression | None = None
    """CEL: while it holds for `for`, health is Unhealthy and the breaker opens (no new starts),
    e.g. signals.up < 1 || signals.p99 > 2.0. Default: no breaker."""
    for_: Duration = Field(default="30s", alias="for")
    """How long a condition must hold before health changes (leaving Unknown, before anything
    was judged, is at once). Default 30s; 0s to 1h."""
    adaptive: Adaptive | None = None
    """The adaptive limit. Default: minCapacity 1, settleTime 1m, increaseStep 1, no target."""
    breaker: Breaker | None = None
    """The circuit breaker's waits (it acts on openWhen). Default: baseWait 30s, maxWait 10m,
    observeFor 1m, jitter 0.2."""
    on_signal_loss: SignalLoss | None = None
    """What happens when a signal cannot be read. Default: DecayToMin after 1m."""
    dry_run: bool = False
    """Compute and show everything (status, conditions, Events, metrics) but admit by capacity
    alone, as without health: how to try it on a production service first. Default false."""

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        return _check_duration(value, "interval", 1, 3600)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str) -> str:
        return _check_duration(value, "for", 0, 3600)

    @model_validator(mode="after")
    def _consistent(self) -> Health:
        names = [s.name for s in self.signals]
        if len(names) != len(set(names)):
            raise ValueError("signals must name each signal once")
        if (self.degraded_when is None) != (self.recovered_when is None):
            raise ValueError(HEALTH_PAIR)
        target = self.adaptive.target if self.adaptive else None
        if target is not None and target.signal not in names:
            raise ValueError(TARGET_SIGNAL)
        # The API server cannot compile these: a bad one makes the Dependency Ready=False
        # (InvalidSpec) with the checker's message, through DependencyView.spec_problem().
        for field, text in self.conditions().items():
            compiled = compile_condition(text, tuple(names))
            if isinstance(compiled, str):
                raise ValueError(f"{field}: {compiled}")
        return self

    def conditions(self) -> dict[str, str]:
        """The CEL conditions that are set, by their field name."""
        fields = {
            "degradedWhen": self.degraded_when,
            "recoveredWhen": self.recovered_when,
            "openWhen": self.open_when,
        }
        return {field: text for field, text in fields.items() if text is not None}


MIN_CAPACITY_RULE = "health.adaptive.minCapacity must be at most capacity"


class DependencySpec(Model):
    """A shared service's budget for batch runs: how many units runs may hold at once, and when and
    from which namespaces new runs may start."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.health) || !has(self.health.adaptive) || "
                    "self.health.adaptive.minCapacity <= self.capacity",
                    MIN_CAPACITY_RULE,
                    ".health.adaptive.minCapacity",
                )
            ]
        }
    )

    capacity: Annotated[int, Field(ge=0, le=1_000_000)]
    """Units running BatchJobs may hold at once, summed over their uses[].units; 0 admits nothing.
    Lowering it stops no running work. 0 to 1000000."""
    max_starts_per_minute: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """At most this many runs start in any 60 s, to spread starts. Default: no limit."""
    windows: Annotated[list[Window], Field(max_length=16)] | None = None
    """When new runs may start; outside every window they wait (WaitingForWindow), running ones go
    on. At most 16. Default: always."""
    allowed_namespaces: LabelSelector | None = None
    """Namespaces, by label, whose BatchJobs may use it; others stay Pending (NamespaceNotAllowed).
    Default: every namespace."""
    # Opt-in egress isolation for the runs that use it (policy/network.py).
    network: DependencyNetwork | None = None
    """Where the service is reached. When set, the runs that use it get an egress NetworkPolicy that
    allows only DNS and their Dependencies' networks. Default: no egress isolation."""
    health: Health | None = None
    """The service's health, read from its monitoring: new starts follow it (an adaptive limit
    and a circuit breaker). Default: none, capacity alone."""

    @model_validator(mode="after")
    def _min_capacity(self) -> DependencySpec:
        adaptive = self.health.adaptive if self.health else None
        if adaptive is not None and adaptive.min_capacity > self.capacity:
            raise ValueError(MIN_CAPACITY_RULE)
        return self


class Holder(Model):
    """An unfinished run's Job that holds units of the Dependency."""

    namespace: ShortText
    """Namespace of the Job."""
    name: ShortText
    """Name of the Job (a BatchJob's run)."""
    units: int
    """Units it holds."""


class InLine(Model):
    """A BatchJob waiting in a Dependency's line."""

    position: int
    """Its place in line; 1 is next."""
    namespace: ShortText
    """Namespace of the BatchJob."""
    name: ShortText
    """Name of the BatchJob."""
    units: int
    """Units it needs of this Dependency."""


HealthState = Literal["Healthy", "Degraded", "Unhealthy", "Unknown"]
BreakerState = Literal["Closed", "Open", "HalfOpen"]


class ProbeRun(Model):
    """The one BatchJob a half-open breaker lets start, to test the service."""

    namespace: ShortText
    """Namespace of the BatchJob."""
    name: ShortText
    """Name of the BatchJob."""
    start_time: Timestamp
    """When it was admitted (RFC 3339); the signals are judged for observeFor from then."""


class BreakerStatus(Model):
    """The circuit breaker: Closed (admission by the effective capacity), Open (no new starts) or
    HalfOpen (one probe run)."""

    state: BreakerState
    """Closed, Open or HalfOpen."""
    opened_time: Timestamp | None = None
    """When it last opened (RFC 3339)."""
    open_until: Timestamp | None = None
    """While Open: when it turns HalfOpen (RFC 3339)."""
    opens: int = 0
    """Openings in a row without a successful probe; the wait grows with it."""
    probe: ProbeRun | None = None
    """While HalfOpen: the probe run, once one is admitted."""


class PendingHealth(Model):
    """A health state whose condition holds and waits out health.for."""

    state: HealthState
    """The state health moves to if the condition still holds at since + for."""
    since: Timestamp
    """When the condition began to hold (RFC 3339)."""


class SignalReading(Model):
    """The last read of one signal."""

    name: ShortText
    """The signal's name."""
    value: float | None = None
    """Its last value read."""
    time: Timestamp | None = None
    """When that value was read (RFC 3339)."""
    error: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Why the latest read failed, when it did; value and time are then the last good read."""


class DependencyStatus(Model):
    """How much of the budget is in use, by which Jobs, and how many BatchJobs wait; only the
    operator writes it."""

    observed_generation: int | None = None
    """The metadata.generation this status was computed from."""
    in_use: int | None = None
    """Units held by unfinished runs, counted from the Jobs that exist."""
    holders: Annotated[list[Holder], Field(max_length=1000)] | None = None
    """The Jobs that hold units, at most 1000 shown."""
    waiting: int | None = None
    """BatchJobs waiting for this Dependency."""
    queue: Annotated[list[InLine], Field(max_length=10)] | None = None
    """The head of the line: the first 10 BatchJobs waiting that use it, in admission order
    (priority, then creation time or a scheduled run's instant)."""
    conditions: Conditions | None = None
    """Ready (reason Full or Available; False with InvalidSpec when its spec cannot be read),
    WindowClosed, and with health: SignalAvailable, Throttled, CircuitOpen, Probing, DryRun."""
    # With spec.health (policy/health.py): what the control loop shows and keeps between reads,
    # so an operator restart resumes it where it was.
    effective_capacity: int | None = None
    """With health: the units new starts may fill, min(capacity, adaptive limit), 0 while the
    breaker is open. With dryRun it is shown, not enforced."""
    health: HealthState | None = None
    """With health: Healthy, Degraded, Unhealthy (openWhen holds) or Unknown (signals unread)."""
    pending_health: PendingHealth | None = None
    """With health: a change of health that waits out health.for."""
    adaptive_limit: int | None = None
    """With health: the adaptive limit, between minCapacity and capacity while the breaker is
    closed and the signals are read."""
    last_change_time: Timestamp | None = None
    """With health: when the adaptive limit last changed (RFC 3339); the next change waits
    settleTime from it."""
    breaker: BreakerStatus | None = None
    """With health: the circuit breaker."""
    signals: Annotated[list[SignalReading], Field(max_length=8)] | None = None
    """With health: the last read of each signal."""
    signals_lost_time: Timestamp | None = None
    """With health: since when a signal has not been read (RFC 3339); onSignalLoss applies
    after onSignalLoss.after."""
