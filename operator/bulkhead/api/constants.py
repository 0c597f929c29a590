"""Names that are part of the public contract: the API group, labels and annotations on the
Jobs bulkhead makes, phases and the reasons people search for in conditions and Events.

Every reason bulkhead writes is defined here and only here."""

from __future__ import annotations

from typing import Literal, get_args

GROUP = "bulkhead.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Key = tuple[str, str]  # namespace, name of a BatchJob

# On the Jobs (and their pods) bulkhead creates.
LABEL_BATCHJOB = "bulkhead.dev/batchjob"
LABEL_BATCHJOB_UID = "bulkhead.dev/batchjob-uid"
ANNOTATION_USES = "bulkhead.dev/uses"
# The instant a scheduled run belongs to (like batch.kubernetes.io/cronjob-scheduled-timestamp).
ANNOTATION_SCHEDULED = "bulkhead.dev/scheduled-time"
# The run-now request a run answers (its value), on the Job.
ANNOTATION_RUN_NOW_VALUE = "bulkhead.dev/run-now-value"
# The trigger and key of a triggered run (`<trigger>/<key>`), on the Job: names its run.
ANNOTATION_TRIGGER_RUN = "bulkhead.dev/trigger-run"
# On the BatchJob: any new value starts one run at once (status.runNow echoes it when handled).
ANNOTATION_RUN_NOW = "bulkhead.dev/run-now"

Phase = Literal["Pending", "Queued", "Running", "Succeeded", "Failed", "Suspended", "Scheduled"]
PHASES: tuple[Phase, ...] = get_args(Phase)
TERMINAL_PHASES = ("Succeeded", "Failed")

# Reasons (searchable in Events and conditions).
STARTED = "Running"
RETRYING = "Retrying"
SUCCEEDED = "Succeeded"
INVALID_SPEC = "InvalidSpec"
JOB_DELETED = "JobDeleted"
BACKOFF_LIMIT = "BackoffLimitExceeded"
DEADLINE = "DeadlineExceeded"
NON_RETRYABLE = "NonRetryableExitCode"
QUEUED = "Queued"
WAITING_FOR_DEPENDENCY = "WaitingForDependency"
WAITING_FOR_WINDOW = "WaitingForWindow"
DEPENDENCY_NOT_FOUND = "DependencyNotFound"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
DEPENDENCY_INVALID = "DependencyInvalid"
# A Job under the name a run needs exists and is not controlled by the BatchJob: never adopted.
JOB_NAME_TAKEN = "JobNameTaken"
# A run whose pods cannot be made or cannot start: the words Kubernetes itself uses, so a
# search finds them. FailedCreate is the Job controller's Event reason (a ResourceQuota, a
# missing PriorityClass, Pod Security); the rest are what a kubelet or the scheduler reports.
FAILED_CREATE = "FailedCreate"
UNSCHEDULABLE = "Unschedulable"
CONTAINER_WAITING_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
)
# A NetworkPolicy under the name a BatchJob's runs need exists and is not controlled by it.
NETWORK_POLICY_NAME_TAKEN = "NetworkPolicyNameTaken"

# Dependency conditions of health-driven admission (policy/health.py).
SIGNAL_AVAILABLE = "SignalAvailable"  # every signal read at the last attempt
THROTTLED = "Throttled"  # effective capacity below capacity
CIRCUIT_OPEN = "CircuitOpen"  # the breaker is Open: no new starts
PROBING = "Probing"  # the breaker is HalfOpen: one probe run
DRY_RUN = "DryRun"  # health is computed and shown, admission uses capacity alone
# Signals unread for onSignalLoss.after (an Event, and the SignalAvailable reason).
SIGNAL_LOST = "SignalLost"

# Reasons of a Dependency's conditions (policy/dependency_status.py).
FULL = "Full"  # Ready: every unit of the effective capacity is held
AVAILABLE = "Available"  # Ready: units are free
OUTSIDE_WINDOWS = "OutsideWindows"  # WindowClosed=True
INSIDE_WINDOW = "InsideWindow"  # WindowClosed=False
SIGNALS_READ = "SignalsRead"  # SignalAvailable=True
# SignalAvailable=False, the last values still hold; a backlog trigger's last read failed
SIGNAL_UNREAD = "SignalUnread"
ADAPTIVE_LIMIT = "AdaptiveLimit"  # Throttled=True by the adaptive limit
AT_CAPACITY = "AtCapacity"  # Throttled=False
OPEN_WHEN = "OpenWhen"  # CircuitOpen=True: openWhen held
NOT_PROBING = "NotProbing"  # Probing=False
WAITING_FOR_PROBE = "WaitingForProbe"  # Probing=True, no probe run admitted yet
PROBE_RUNNING = "ProbeRunning"  # Probing=True, the probe run is admitted
ENFORCED = "Enforced"  # DryRun=False

# Events of a Dependency's health loop (policy/health.py), besides SIGNAL_LOST and CIRCUIT_OPEN.
SIGNAL_ERROR = "SignalError"  # a signal's read failed
SIGNAL_RESTORED = "SignalRestored"  # every signal read again after a failure
HEALTH_CHANGED = "HealthChanged"
CIRCUIT_HALF_OPEN = "CircuitHalfOpen"
CIRCUIT_CLOSED = "CircuitClosed"
CAPACITY_CUT = "CapacityCut"
CAPACITY_RAISED = "CapacityRaised"
# The health Events posted as Warning: the Dependency got worse. The others are Normal.
HEALTH_WARNINGS = frozenset({CAPACITY_CUT, CIRCUIT_OPEN, SIGNAL_LOST, SIGNAL_ERROR})

# Scheduled BatchJobs: reasons of runs (in status.runs and Events) and of the BatchJob's status
# (policy/runs.py, catchup.py, deadline.py, concurrency.py).
RUN_FAILED = "RunFailed"
RUN_MISSED = "RunMissed"
RUN_REPLACED = "RunReplaced"
STARTING_DEADLINE = "StartingDeadlineExceeded"
CONCURRENCY_FORBID = "ConcurrencyForbid"
QUEUE_FULL = "QueueFull"
NOT_CAUGHT_UP = "NotCaughtUp"
SUSPENDED = "Suspended"
SUPERSEDED = "Superseded"
REPLACED = "Replaced"
WAITING_FOR_ACTIVE_RUN = "WaitingForActiveRun"
WAITING_TO_START = "WaitingToStart"
SCHEDULED = "Scheduled"
LAST_RUN_FAILED = "LastRunFailed"

# Triggers (policy/triggers.py): why one starts nothing now, and the Events of its runs.
MAX_PENDING = "MaxPending"  # eventRuns.maxPending runs wait already: new events coalesce
MAX_IN_FLIGHT = "MaxInFlight"  # a run waits for one of eventRuns.maxInFlight to finish
SOURCE_NOT_FOUND = "SourceNotFound"  # after.batchJob names no BatchJob (yet)
TRIGGER_CYCLE = "TriggerCycle"  # after triggers make a cycle: nothing of it starts
BACKLOG_DRAINED = "BacklogDrained"  # a waiting backlog run no longer wanted (Missed)
