"""Bad input at scale (issue 9, item 4): hypothesis generates invalid BatchJobs and Dependencies
(wrong types, out-of-range numbers, zero or negative quantities and units, invalid names, label
keys and image references, forbidden volumes, unknown fields, oversize fields) and sends each to
the real API server, as kubectl does (fieldValidation=Strict). Every one is refused with a
message naming the field, or is accepted and then ends Stalled (InvalidSpec) having created
nothing; meanwhile the operator keeps running valid work in the same namespace.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from collections.abc import Callable
from typing import Any

import kubernetes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.kube import condition, create, get, wait_for
from tests.support.objects import batchjob, status_of

GROUP, VERSION = "bulkhead.dev", "v1alpha1"
BATCHJOBS = 300
DEPENDENCIES = 220
names = (f"x{i}" for i in itertools.count())

# A mutation: (what the message must name, a function that breaks a valid body in place).
Mutation = tuple[str, Callable[[dict[str, Any]], None]]


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets the dotted `path` of a body (numbers index lists) to `value`."""

    def apply(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for step in parents:
            node = node[int(step)] if step.isdigit() else node.setdefault(step, {})
        node[int(last) if last.isdigit() else last] = value

    return apply


WRONG_TYPES = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)


def integer_field(path: str, low: int | None, high: int | None) -> st.SearchStrategy[Mutation]:
    """An integer field given a value out of [low, high], or of the wrong type."""
    bad = [WRONG_TYPES]
    if low is not None:
        bad.append(st.integers(max_value=low - 1))
    if high is not None:
        bad.append(st.integers(min_value=high + 1, max_value=2**62))
    return st.one_of(*bad).map(lambda v: (path, put(path, v)))


# Quantities a run may not have as limits: zero, negative, not a quantity, absurd.
BAD_LIMITS = st.one_of(
    st.sampled_from(["0", "0m", "0Mi", "-1", "-64Mi", "1e1000", "lots", "1.5.5", "", "Infinity"]),
    st.integers(max_value=0),
    st.from_regex(r"\A-[1-9][0-9]{0,3}(m|Mi|Gi)?\Z"),
)
# Not image references by the distribution grammar: spaces, upper case, empty, dangling parts.
BAD_IMAGES = st.one_of(
    st.sampled_from(["", "not an image ref", "Registry/App:1", "app:", "app@sha256:abc", ":1"]),
    st.from_regex(r"\A[a-z]{1,8} [a-z]{1,8}\Z"),
    st.from_regex(r"\A[a-z]{1,5}/[A-Z][a-z]{0,5}\Z"),
)
BAD_NAMES = st.one_of(
    st.sampled_from(["Upper", "under_score", "-dash", "dash-", "dot.", "a" * 254, "sp ace"]),
    st.from_regex(r"\A[a-z]{1,5}[A-Z_!@ ][a-z]{0,5}\Z"),
)
# A BatchJob's name must also leave room for the suffix of its Jobs' names.
BAD_BATCHJOB_NAMES = BAD_NAMES | st.integers(53, 253).map(lambda n: "a" * n)
BAD_LABEL_KEYS = st.one_of(
    st.sampled_from(["bad key", "a/b/c", "-lead", "trail-", "x/" + "n" * 64, "UPPER.example/x!"]),
    st.from_regex(r"\A[a-z]{1,5}[ !@#$%^&*()][a-z]{0,5}\Z"),
)
BAD_LABEL_VALUES = st.one_of(
    st.sampled_from(["v" * 64, "has space", "-lead", "trail_", "semi;colon"]),
    st.from_regex(r"\A[a-z]{1,5}[ !@#$%^&*();][a-z]{0,5}\Z"),
)
FORBIDDEN_VOLUMES = st.sampled_from(
    ["hostPath", "nfs", "iscsi", "gitRepo", "cephfs", "glusterfs", "rbd", "flexVolume"]
)
BATCHJOB_FIELDS = {
    "image", "command", "args", "env", "envFrom", "resources", "volumes", "volumeMounts",
    "podMetadata", "serviceAccountName", "parallelism", "completions", "backoffLimit",
    "nonRetryableExitCodes", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "nodeSelector",
    "tolerations", "priorityClassName", "uses", "priority", "schedule", "timeZone", "suspend",
    "concurrencyPolicy", "startingDeadlineSeconds", "catchUp", "maxCatchUpRuns", "jitterSeconds",
    "successfulRunsHistoryLimit", "failedRunsHistoryLimit",
}  # fmt: skip
UNKNOWN_KEYS = st.from_regex(r"\A[a-z][a-zA-Z]{2,12}\Z").filter(lambda k: k not in BATCHJOB_FIELDS)


def _volume(kind: str) -> Callable[[dict[str, Any]], None]:
    return put("spec.volumes", [{"name": "data", kind: {"path": "/srv"}}])


def _label(where: str) -> Callable[[tuple[str, str]], Mutation]:
    return lambda kv: (f"spec.{where}", put(f"spec.{where}", {kv[0]: kv[1]}))


INVALID_BATCHJOB: st.SearchStrategy[Mutation] = st.one_of(
    integer_field("spec.parallelism", 1, 10_000),
    integer_field("spec.completions", 1, 100_000),
    integer_field("spec.backoffLimit", 0, 1_000),
    integer_field("spec.activeDeadlineSeconds", 1, None),
    integer_field("spec.ttlSecondsAfterFinished", 0, None),
    integer_field("spec.priority", -1_000_000, 1_000_000),
    integer_field("spec.jitterSeconds", 0, 86_400),
    integer_field("spec.maxCatchUpRuns", 1, 20),
    st.tuples(st.sampled_from(["cpu", "memory"]), BAD_LIMITS).map(
        lambda cv: (f"spec.resources.limits.{cv[0]}", put(f"spec.resources.limits.{cv[0]}", cv[1]))
    ),
    BAD_IMAGES.map(lambda v: ("spec.image", put("spec.image", v))),
    BAD_BATCHJOB_NAMES.map(lambda v: ("metadata.name", put("metadata.name", v))),
    st.tuples(BAD_LABEL_KEYS, st.just("v")).map(_label("podMetadata.labels")),
    st.tuples(st.just("app"), BAD_LABEL_VALUES).map(_label("podMetadata.labels")),
    st.tuples(BAD_LABEL_KEYS, st.just("v")).map(_label("podMetadata.annotations")),
    st.tuples(BAD_LABEL_KEYS, st.just("v")).map(_label("nodeSelector")),
    st.tuples(st.just("zone"), BAD_LABEL_VALUES).map(_label("nodeSelector")),
    FORBIDDEN_VOLUMES.map(lambda kind: (kind, _volume(kind))),
    UNKNOWN_KEYS.map(lambda k: (f"spec.{k}", put(f"spec.{k}", 1))),
    st.integers(min_value=65, max_value=200).map(
        lambda n: ("spec.args", put("spec.args", ["a"] * n))
    ),
    st.integers(min_value=4097, max_value=20_000).map(
        lambda n: ("spec.command", put("spec.command", ["x" * n]))
    ),
    st.from_regex(r"\A[a-z]{1,8}(/[a-z]{1,8})?\Z").map(
        lambda p: (
            "mountPath",
            lambda b: (
                put("spec.volumes", [{"name": "data", "emptyDir": {}}])(b),
                put("spec.volumeMounts", [{"name": "data", "mountPath": p}])(b),
            ),
        )
    ),
    st.integers(max_value=0).map(
        lambda u: ("spec.uses[0].units", put("spec.uses", [{"dependency": "db", "units": u}]))
    ),
    BAD_NAMES.map(lambda n: ("spec.uses[0].dependency", put("spec.uses", [{"dependency": n}]))),
    st.sampled_from(["not a cron", "* * *", "61 * * * *", "@reboot", "TZ=UTC * * * * *"]).map(
        lambda s: ("spec.schedule", put("spec.schedule", s))
    ),
    st.sampled_from(["Mars/Phobos", "Not/AZone", "UTC+25"]).map(
        lambda z: ("spec.timeZone", put("spec.timeZone", z))
    ),
)

CLOCK_TIMES = st.one_of(
    st.sampled_from(["24:00", "9:00", "12:60", "noon", "", "12:00:00"]),
    st.from_regex(r"\A[3-9][0-9]:[0-9]{2}\Z"),
)
PROMETHEUS = {"address": "http://prometheus:9090", "query": "p99"}


def _health(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """Sets spec.health to one signal, p99, with `fields` on top."""
    return put("spec.health", {"signals": [{"name": "p99", "prometheus": PROMETHEUS}], **fields})


# The last three only the operator can check (CEL compiled, durations compared): InvalidSpec.
INVALID_HEALTH = st.sampled_from(
    [
        ("spec.health.adaptive.minCapacity", _health(adaptive={"minCapacity": 3})),
        (
            "spec.health.adaptive.target.signal",
            _health(adaptive={"target": {"signal": "up", "value": 1}}),
        ),
        (
            "spec.health.adaptive.target",
            _health(adaptive={"target": {"signal": "p99", "value": 0}}),
        ),
        ("spec.health", _health(degradedWhen="signals.p99 > 0.3")),
        ("spec.health.for", _health(**{"for": "10x"})),
        (
            "spec.health.signals[0].name",
            put("spec.health", {"signals": [{"name": "P99", "prometheus": PROMETHEUS}]}),
        ),
        (
            "spec.health.signals[1]",
            put("spec.health", {"signals": [{"name": "p99", "prometheus": PROMETHEUS}] * 2}),
        ),
        (
            "spec.health.signals[0]",
            put(
                "spec.health",
                {
                    "signals": [
                        {
                            "name": "p99",
                            "prometheus": PROMETHEUS,
                            "http": {"url": "http://x:1", "jsonPath": "$.a"},
                        }
                    ]
                },
            ),
        ),
        ("spec.health", _health(openWhen="signals.p9 > 1")),
        ("spec.health", _health(openWhen="signals.p99 > 'slow'")),
        ("spec.health.breaker", _health(breaker={"baseWait": "1m", "maxWait": "30s"})),
    ]
)

INVALID_DEPENDENCY: st.SearchStrategy[Mutation] = st.one_of(
    INVALID_HEALTH,
    integer_field("spec.capacity", 0, 1_000_000),
    integer_field("spec.maxStartsPerMinute", 1, 100_000),
    BAD_NAMES.map(lambda v: ("metadata.name", put("metadata.name", v))),
    UNKNOWN_KEYS.filter(
        lambda k: k not in {"capacity", "maxStartsPerMinute", "windows", "allowedNamespaces"}
    ).map(lambda k: (f"spec.{k}", put(f"spec.{k}", 1))),
    CLOCK_TIMES.map(
        lambda t: ("spec.windows[0].start", put("spec.windows", [{"start": t, "end": "06:00"}]))
    ),
    st.sampled_from(["Funday", "monday", "MON", ""]).map(
        lambda d: (
            "spec.windows[0].days",
            put("spec.windows", [{"days": [d], "start": "01:00", "end": "06:00"}]),
        )
    ),
    st.just(("spec.windows[0]", put("spec.windows", [{"start": "01:00", "end": "01:00"}]))),
    st.sampled_from(["Mars/Phobos", "Not/AZone"]).map(
        lambda z: (
            "spec.windows[0].timeZone",
            put("spec.windows", [{"start": "01:00", "end": "06:00", "timeZone": z}]),
        )
    ),
    st.sampled_from(["Maybe", "in", "", "Equals"]).map(
        lambda op: (
            "spec.allowedNamespaces.matchExpressions[0].operator",
            put("spec.allowedNamespaces", {"matchExpressions": [{"key": "team", "operator": op}]}),
        )
    ),
    st.tuples(BAD_LABEL_KEYS, st.just("v")).map(_label("allowedNamespaces.matchLabels")),
)


def custom_objects() -> kubernetes.client.CustomObjectsApi:
    """A client with the admin credentials the `cluster` fixture put in KUBECONFIG."""
    client = kubernetes.config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    return kubernetes.client.CustomObjectsApi(client)


def send(
    api: kubernetes.client.CustomObjectsApi, body: dict[str, Any], namespace: str | None
) -> str | None:
    """Creates `body` as kubectl does (strict field validation); the refusal's message, or
    None when the API server accepted it."""
    plural = "batchjobs" if body["kind"] == "BatchJob" else "dependencies"
    try:
        if namespace:
            api.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, body, field_validation="Strict"
            )
        else:
            api.create_cluster_custom_object(
                GROUP, VERSION, plural, body, field_validation="Strict"
            )
    except kubernetes.client.ApiException as error:
        assert error.status in (400, 422), (error.status, error.body)
        return str(json.loads(error.body).get("message", error.body))
    return None


def dependency(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Dependency",
        "metadata": {"name": name},
        "spec": {"capacity": 2},
    }


SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_invalid_batchjobs_are_refused_or_stall_and_make_nothing(operator, namespace):
    api = custom_objects()
    starts = operator.starts
    create([batchjob(f"valid-{i}", delay="2s") for i in range(5)], namespace)
    accepted: dict[str, str] = {}  # name -> the field its message must name
    refused = 0

    @settings(SETTINGS, max_examples=BATCHJOBS)
    @given(INVALID_BATCHJOB)
    def refused_naming_the_field(mutation: Mutation) -> None:
        nonlocal refused
        field, breaks = mutation
        body = batchjob(next(names))
        breaks(body)
        message = send(api, copy.deepcopy(body), namespace)
        if message is None:
            accepted[body["metadata"]["name"]] = field
        else:
            refused += 1
            assert field in message, (field, message)

    refused_naming_the_field()
    for name, field in accepted.items():
        status = wait_for(
            lambda n=name: (s := status_of(n, namespace)).get("reason") and s,
            timeout=60,
            what=f"{name} stalled",
        )
        assert status["reason"] == "InvalidSpec", (name, status)
        assert field.removeprefix("spec.").split(".")[0] in status["message"], (field, status)
    print(
        f"{refused} refused by the API server, {len(accepted)} stalled: {sorted(accepted.values())}"
    )
    wait_for(
        lambda: all(
            status_of(f"valid-{i}", namespace).get("phase") == "Succeeded" for i in range(5)
        ),
        timeout=120,
        what="the valid BatchJobs succeeded meanwhile",
    )
    made = {
        j["metadata"]["labels"]["bulkhead.dev/batchjob"] for j in get("jobs", namespace=namespace)
    }
    assert made == {f"valid-{i}" for i in range(5)}  # nothing made for any invalid one
    assert operator.proc.poll() is None and operator.starts == starts  # never restarted


def test_invalid_dependencies_are_refused_naming_the_field(operator):
    """What the schema cannot say (a time zone's name) is the operator's: Ready=False,
    InvalidSpec, naming the field."""
    api = custom_objects()
    accepted: dict[str, str] = {}
    refused = 0

    @settings(SETTINGS, max_examples=DEPENDENCIES)
    @given(INVALID_DEPENDENCY)
    def refused_naming_the_field(mutation: Mutation) -> None:
        nonlocal refused
        field, breaks = mutation
        body = dependency(f"invalid-{next(names)}")
        breaks(body)
        message = send(api, body, None)
        if message is None:
            accepted[body["metadata"]["name"]] = field
        else:
            refused += 1
            assert field in message, (field, message)

    try:
        refused_naming_the_field()
        for name, field in accepted.items():
            ready = wait_for(
                lambda n=name: condition(get("dependency", n), "Ready"),
                timeout=30,
                what=f"Dependency {name} status",
            )
            assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec"), ready
            # the operator names list items as the API server does not: windows.0, not [0]
            assert field.replace("[", ".").replace("]", "") in ready["message"], ready
        print(f"{refused} refused by the API server, {len(accepted)} not ready: {accepted}")
    finally:
        for name in accepted:
            api.delete_cluster_custom_object(GROUP, VERSION, "dependencies", name)
