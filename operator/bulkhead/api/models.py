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

from kubernetes.utils.quantity import parse_quantity
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bulkhead.api.constants import Phase

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
_TAG = r"[\w][\w.-]{0,127}"
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
    schema.clear()
    schema.update(
        {
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
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- the main container ------------------------------------------------------------------


class KeyRef(Model):
    name: Name
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    optional: bool | None = None


class FieldRef(Model):
    field_path: ShortText
    api_version: ShortText | None = None


class EnvVarSource(Model):
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
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        _exactly_one(
            self,
            ("secret_key_ref", "config_map_key_ref", "field_ref"),
            "exactly one of secretKeyRef, configMapKeyRef, fieldRef must be set",
        )
        return self


class EnvVar(Model):
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
    value: Arg | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


class LocalRef(Model):
    name: Name
    optional: bool | None = None


class EnvFromSource(Model):
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
    secret_ref: LocalRef | None = None
    config_map_ref: LocalRef | None = None

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
    """A run's limits: both required, above zero and at most LIMIT_BOUNDS."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": _limit_rules("cpu") + _limit_rules("memory")}
    )
    cpu: Quantity
    memory: Quantity

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
    cpu: Quantity | None = None
    memory: Quantity | None = None

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
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_not_above_limit("cpu"), _not_above_limit("memory")]
        }
    )
    limits: CpuMemory
    requests: OptionalCpuMemory | None = None

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
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    path: Path
    mode: Annotated[int, Field(ge=0, le=0o777)] | None = None


Items = Annotated[list[KeyToPath], Field(max_length=64)]
Mode = Annotated[int, Field(ge=0, le=0o777)]


class ConfigMapVolume(Model):
    name: Name
    items: Items | None = None
    default_mode: Mode | None = None
    optional: bool | None = None


class SecretVolume(Model):
    secret_name: Name
    items: Items | None = None
    default_mode: Mode | None = None
    optional: bool | None = None


class EmptyDirVolume(Model):
    medium: Literal["", "Memory"] | None = None
    size_limit: Quantity | None = None


class PersistentVolumeClaimVolume(Model):
    claim_name: Name
    read_only: bool | None = None


class ResourceFieldRef(Model):
    resource: ShortText
    container_name: ShortText | None = None
    divisor: Quantity | None = None


class DownwardAPIFile(Model):
    path: Path
    field_ref: FieldRef | None = None
    resource_field_ref: ResourceFieldRef | None = None
    mode: Mode | None = None


class DownwardAPIVolume(Model):
    items: Annotated[list[DownwardAPIFile], Field(max_length=64)] | None = None
    default_mode: Mode | None = None


class ProjectedKeys(Model):
    name: Name
    items: Items | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    path: Path
    audience: ShortText | None = None
    expiration_seconds: Annotated[int, Field(ge=600)] | None = None


class ProjectedSource(Model):
    config_map: ProjectedKeys | None = None
    secret: ProjectedKeys | None = None
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    service_account_token: ServiceAccountTokenProjection | None = None


class ProjectedVolume(Model):
    sources: Annotated[list[ProjectedSource], Field(max_length=32)]
    default_mode: Mode | None = None


VOLUME_SOURCES = (
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
)


class Volume(Model):
    """Only the volume types that keep a batch pod inside its namespace's data."""

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
    config_map: ConfigMapVolume | None = None
    secret: SecretVolume | None = None
    empty_dir: EmptyDirVolume | None = None
    persistent_volume_claim: PersistentVolumeClaimVolume | None = None
    projected: ProjectedVolume | None = None
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")

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
    name: Label
    mount_path: AbsolutePath
    sub_path: Path | None = None
    read_only: bool | None = None


class PodMetadata(Model):
    labels: LabelMap | None = None
    annotations: AnnotationMap | None = None


class Toleration(Model):
    key: ShortText | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: ShortText | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Use(Model):
    dependency: Name
    units: Annotated[int, Field(ge=1, le=1_000_000)] = 1


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


IMMUTABLE_RUN_RULE = cel(
    "!has(oldSelf.status) || !has(oldSelf.status.jobName) || has(self.spec.schedule) || ("
    + " && ".join(f"({_unchanged(f)})" for f in RUN_FIELDS)
    + ")",
    "the run spec (" + ", ".join(RUN_FIELDS) + ") cannot change once a Job exists "
    "(status.jobName is set); delete and re-create the BatchJob to run it again",
    ".spec",
)


class BatchJobSpec(Model):
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
    command: Annotated[list[Arg], Field(max_length=64)] | None = None
    args: Annotated[list[Arg], Field(max_length=64)] | None = None
    env: Annotated[list[EnvVar], Field(max_length=128)] | None = None
    env_from: Annotated[list[EnvFromSource], Field(max_length=32)] | None = None
    resources: Resources
    volumes: Annotated[list[Volume], Field(max_length=32)] | None = None
    volume_mounts: Annotated[list[VolumeMount], Field(max_length=32)] | None = None
    pod_metadata: PodMetadata | None = None
    service_account_name: Annotated[str, StringConstraints(max_length=253)] | None = None

    parallelism: Annotated[int, Field(ge=1, le=10_000)] = 1
    completions: Annotated[int, Field(ge=1, le=100_000)] = 1
    backoff_limit: Annotated[int, Field(ge=0, le=1_000)] = 3
    non_retryable_exit_codes: Annotated[list[ExitCode], Field(max_length=64)] | None = None
    active_deadline_seconds: Annotated[int, Field(ge=1)] | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None
    node_selector: LabelMap | None = None
    tolerations: Annotated[list[Toleration], Field(max_length=32)] | None = None
    priority_class_name: Annotated[str, StringConstraints(max_length=253)] | None = None

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
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0

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
    time_zone: Annotated[str, StringConstraints(max_length=64, pattern=ZONE_PATTERN)] | None = None
    suspend: bool = False
    concurrency_policy: Literal["Allow", "Forbid", "Replace", "Queue"] = "Forbid"
    starting_deadline_seconds: Annotated[int, Field(ge=0, le=31_536_000)] | None = None
    catch_up: Literal["Latest", "None", "All"] = "Latest"
    # At most 20: each waiting run is an entry of status.runs (at most 32).
    max_catch_up_runs: Annotated[int, Field(ge=1, le=20)] = 5
    jitter_seconds: Annotated[int, Field(ge=0, le=86_400)] = 0
    successful_runs_history_limit: Annotated[int, Field(ge=0, le=100)] = 3
    failed_runs_history_limit: Annotated[int, Field(ge=0, le=100)] = 3

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
    """metav1.Condition."""

    type: Annotated[str, StringConstraints(max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, StringConstraints(max_length=1024)]
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    last_transition_time: Timestamp
    observed_generation: int | None = None


Conditions = Annotated[list[Condition], Field(max_length=16)]


class QueuePosition(Model):
    dependency: Name
    position: int


RunResult = Literal["Deferred", "Running", "Succeeded", "Failed", "Missed", "Replaced"]


class Run(Model):
    """One run of a scheduled BatchJob, or one instant that did not run and why."""

    scheduled_time: Timestamp  # the instant (for a run-now: when it was asked for)
    result: RunResult
    reason: Annotated[str, StringConstraints(max_length=1024)] | None = None
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    job_name: ShortText | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    run_now: ShortText | None = None  # set when a bulkhead.dev/run-now request made this run


class BatchJobStatus(Model):
    observed_generation: int | None = None
    phase: Phase | None = None
    conditions: Conditions | None = None
    job_name: ShortText | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    reason: Annotated[str, StringConstraints(max_length=1024)] | None = None
    message: Annotated[str, StringConstraints(max_length=32768)] | None = None
    queue: QueuePosition | None = None
    # Scheduled BatchJobs (see policy/runs.py).
    last_schedule_time: Timestamp | None = None
    next_schedule_time: Timestamp | None = None
    last_successful_time: Timestamp | None = None
    last_failure_time: Timestamp | None = None
    last_run_result: RunResult | None = None
    run_now: ShortText | None = None  # the last bulkhead.dev/run-now value handled
    runs: Annotated[list[Run], Field(max_length=32)] | None = None


# --- Dependency --------------------------------------------------------------------------

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Window(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.start != self.end", "a window's start and end must differ")
            ]
        }
    )
    days: Annotated[list[Day], Field(max_length=7)] | None = None
    start: ClockTime
    end: ClockTime
    time_zone: Annotated[str, StringConstraints(max_length=64)] = "UTC"

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
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: Annotated[list[LabelValue], Field(max_length=64)] | None = None


class LabelSelector(Model):
    match_labels: LabelMap | None = None
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=16)] | None = None


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
    end_port: PortNumber | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"

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
    ports: Annotated[list[NetworkPort], Field(min_length=1, max_length=32)] | None = None
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None

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


class DependencySpec(Model):
    capacity: Annotated[int, Field(ge=0, le=1_000_000)]
    max_starts_per_minute: Annotated[int, Field(ge=1, le=100_000)] | None = None
    windows: Annotated[list[Window], Field(max_length=16)] | None = None
    allowed_namespaces: LabelSelector | None = None
    # Opt-in egress isolation for the runs that use it (policy/network.py).
    network: DependencyNetwork | None = None


class Holder(Model):
    namespace: ShortText
    name: ShortText
    units: int


class DependencyStatus(Model):
    observed_generation: int | None = None
    in_use: int | None = None
    holders: Annotated[list[Holder], Field(max_length=1000)] | None = None
    waiting: int | None = None
    conditions: Conditions | None = None
