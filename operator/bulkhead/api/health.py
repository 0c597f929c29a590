"""A Dependency's health (spec.health: signals, CEL conditions, the adaptive limit, the circuit
breaker, signal loss) and what its control loop keeps in status (policy/health.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from bulkhead.api.base import Model, Name, ShortText, Timestamp, cel, exactly_one
from bulkhead.api.cel import SIGNAL_NAME_PATTERN, compile_condition
from bulkhead.api.times import Duration, check_duration, duration


def _read_timeout(value: str) -> str:
    return check_duration(value, "timeout", 1, 60)


# A signal's read timeout, 1s to 60s (the prometheus and http readers share it).
ReadTimeout = Annotated[Duration, AfterValidator(_read_timeout)]
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
    timeout: ReadTimeout = "5s"
    """Longest a read may take; a slower one counts as a failed read. Default 5s; 1s to 60s."""


class HttpSignal(Model):
    """A number in a JSON document served over HTTP(S) (GET)."""

    url: Url
    """The document's URL, e.g. https://orders-db-exporter.db:8443/health."""
    json_path: Annotated[str, StringConstraints(max_length=1024, pattern=JSON_PATH_PATTERN)]
    """Where the number is: member names and list indexes from the root, e.g. $.latency.p99,
    $.items[0].value or $['p99-ms']. A JSON number, or a string that is one."""
    timeout: ReadTimeout = "5s"
    """Longest a read may take; a slower one counts as a failed read. Default 5s; 1s to 60s."""


class BasicAuth(Model):
    """A user name and password sent as HTTP basic authentication (a RabbitMQ management API, an
    exporter behind a proxy), from one Secret in the operator's namespace."""

    secret_name: Name
    """Name of the Secret, in the operator's namespace; the chart grants get on it by name."""
    username_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = "username"
    """The key holding the user name. Default username."""
    password_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = "password"
    """The key holding the password. Default password."""


_ONE_SOURCE = cel(
    "has(self.prometheus) != has(self.http)", "exactly one of prometheus, http must be set"
)
_ONE_AUTH = cel(
    "!has(self.bearerTokenSecretRef) || !has(self.basicAuth)",
    "at most one of bearerTokenSecretRef, basicAuth may be set",
)


class SignalSource(Model):
    """Where a number is read from: exactly one of prometheus, http. Health signals and backlog
    triggers read it the same way (controllers/signals.py)."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_ONE_SOURCE, _ONE_AUTH]}
    )
    prometheus: PrometheusSignal | None = None
    """Read by a Prometheus instant query."""
    http: HttpSignal | None = None
    """Read from a JSON document over HTTP(S)."""
    tls: SignalTLS | None = None
    """How an https address or url is trusted. Default: the system's CAs."""
    bearer_token_secret_ref: SecretKeyRef | None = None
    """A bearer token sent in the Authorization header, from a Secret in the operator's
    namespace. Default: none."""
    basic_auth: BasicAuth | None = None
    """A user name and password sent as basic authentication, from a Secret in the operator's
    namespace (at most one of this and bearerTokenSecretRef). Default: none."""

    @model_validator(mode="after")
    def _one_source(self) -> SignalSource:
        exactly_one(self, ("prometheus", "http"), "exactly one of prometheus, http must be set")
        if self.bearer_token_secret_ref is not None and self.basic_auth is not None:
            raise ValueError("at most one of bearerTokenSecretRef, basicAuth may be set")
        return self


class Signal(SignalSource):
    """A number read from the shared service's monitoring: exactly one of prometheus, http."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_ONE_SOURCE, _ONE_AUTH]}
    )
    name: SignalName
    """The signal's name; conditions read it as signals.<name>. A CEL identifier: a lowercase
    letter, then letters, digits and '_'."""


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
        return check_duration(value, "settleTime", 1, 86_400)


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
        return check_duration(value, "a breaker duration", 1, 86_400)

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
        return check_duration(value, "after", 0, 86_400)


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
        return check_duration(value, "interval", 1, 3600)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str) -> str:
        return check_duration(value, "for", 0, 3600)

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
