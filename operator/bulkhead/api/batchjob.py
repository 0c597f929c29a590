"""The BatchJob kind: its spec (what runs, how, with which Dependencies, and when) and its
status (phase, conditions, the run's Job, the line it waits in, scheduled runs), and the
CEL rules the CRD puts on the whole object."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from bulkhead.api.base import (
    ZONE_PATTERN,
    Arg,
    LabelMap,
    Model,
    Name,
    ShortText,
    Timestamp,
    cel,
    check_zone,
)
from bulkhead.api.constants import Phase
from bulkhead.api.meta import Conditions
from bulkhead.api.pod import EnvFromSource, EnvVar, PodMetadata, Resources, Toleration
from bulkhead.api.triggers import EventRuns, RunEvent, Trigger, TriggerStatus
from bulkhead.api.volumes import Volume, VolumeMount

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

# A BatchJob after itself would start a run for each of its own runs, for ever. Longer cycles
# span objects and are found by the operator (policy/triggers.py: Stalled, TriggerCycle).
AFTER_SELF_RULE = cel(
    "!has(self.spec.triggers) || self.spec.triggers.all(t, !has(t.after) || "
    "t.after.batchJob != self.metadata.name)",
    "a trigger's after.batchJob must name another BatchJob, not this one",
    ".spec.triggers",
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
    "has(self.spec.triggers) || "
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
                    "!has(self.schedule) || !has(self.triggers)",
                    "set schedule or triggers, not both",
                    ".triggers",
                ),
                cel(
                    "!has(self.eventRuns) || has(self.triggers)",
                    "eventRuns bounds the runs of triggers: set triggers too",
                    ".eventRuns",
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
    """With a schedule or triggers: while true, no new run starts (waiting ones are recorded as
    Missed, reason Suspended; events are refused); a running one goes on. Default false."""
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
    """With a schedule or triggers: Jobs of succeeded runs kept; older ones are deleted. Default
    3; 0 to 100."""
    failed_runs_history_limit: Annotated[int, Field(ge=0, le=100)] = 3
    """With a schedule or triggers: Jobs of failed runs kept; older ones are deleted. Default 3;
    0 to 100."""

    triggers: (
        Annotated[
            list[Trigger],
            Field(
                min_length=1,
                max_length=8,
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
            ),
        ]
        | None
    ) = None
    """Events that start runs (instead of a schedule), at most 8, each named once: a backlog read
    from a queue, CloudEvents posted to the operator, or the end of another BatchJob's runs.
    Each run is a Job of its own and waits for its Dependencies like any other. Default: none."""
    event_runs: EventRuns | None = None
    """With triggers: how many triggered runs may be in flight and wait. Default: maxInFlight 1,
    maxPending 8."""

    @property
    def repeats(self) -> bool:
        """Whether it runs more than once (a schedule or triggers), each run a Job of its own
        in status.runs."""
        return bool(self.schedule or self.triggers)

    @property
    def bounds(self) -> EventRuns:
        """spec.eventRuns, or its defaults."""
        return self.event_runs or EventRuns()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> BatchJobSpec:
        if self.parallelism > self.completions:
            raise ValueError("parallelism must not exceed completions")
        volumes = {v.name for v in self.volumes or []}
        for mount in self.volume_mounts or []:
            if mount.name not in volumes:
                raise ValueError(f"volumeMounts[].name {mount.name} names no entry of volumes")
        if self.schedule and self.triggers:
            raise ValueError("set schedule or triggers, not both")
        if self.event_runs and not self.triggers:
            raise ValueError("eventRuns bounds the runs of triggers: set triggers too")
        names = [t.name for t in self.triggers or []]
        if len(names) != len(set(names)):
            raise ValueError("triggers must name each trigger once")
        dependencies = [u.dependency for u in self.uses or []]
        if len(dependencies) != len(set(dependencies)):
            raise ValueError("uses must name each dependency once")
        return self


class QueuePosition(Model):
    """Which Dependency's line a waiting BatchJob stands in. Its place in that line is not
    written here (it moves with every start, and following it would cost a write per waiter
    per start): the Dependency's status.queue lists the head of the line, and `kubectl
    bulkhead why` shows the place of any waiter."""

    dependency: Name
    """The Dependency it waits for (the first that holds it back)."""


RunResult = Literal["Deferred", "Running", "Succeeded", "Failed", "Missed", "Replaced"]


class Run(Model):
    """One run of a scheduled or triggered BatchJob, or one instant that did not run and why."""

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
    trigger: ShortText | None = None
    """The trigger (of spec.triggers) that started this run, when one did."""
    key: ShortText | None = None
    """With trigger: what names the run within it: a hash of a CloudEvent's source and id, the
    Job of the other BatchJob's run (after), or the backlog run's number."""
    event: RunEvent | None = None
    """The CloudEvent the run answers."""
    coalesced: Annotated[int, Field(ge=1)] | None = None
    """Further events joined to this waiting run beyond eventRuns.maxPending."""


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
    """With a schedule or triggers: every waiting and running run, then the newest 10 finished or
    missed ones; at most 32 entries."""
    triggers: Annotated[list[TriggerStatus], Field(max_length=8)] | None = None
    """With triggers: what each last saw and did."""
