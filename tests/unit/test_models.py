"""The BatchJob spec model: what it accepts, its defaults, and what an invalid spec leads to."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.api.dependency import DependencySpec, Window
from bulkhead.api.health import Signal
from bulkhead.api.views import BatchJobView, DependencyView, JobView
from bulkhead.policy.build import build_job
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tests.support.factories import make_operator, make_spec, spec_dict
from tests.support.fakes import METADATA, FakeKube, reconcile_view

# The example of DESIGN.md, "BatchJob", as a user would apply it.
DESIGN_EXAMPLE = """
image: registry.example/invoices:1.4
command: [python, -m, invoices]
args: [--month, "2026-11"]
env: [{name: MODE, value: full}]
envFrom: [{secretRef: {name: invoices-db}}]
resources:
  requests: {cpu: 500m, memory: 512Mi}
  limits: {cpu: "1", memory: 1Gi}
volumes: []
volumeMounts: []
podMetadata: {labels: {}, annotations: {}}
serviceAccountName: ""
parallelism: 4
completions: 16
backoffLimit: 3
nonRetryableExitCodes: [2]
activeDeadlineSeconds: 3600
ttlSecondsAfterFinished: 86400
nodeSelector: {}
tolerations: []
priorityClassName: ""
uses: [{dependency: orders-db, units: 1}]
priority: 0
schedule: "0 2 * * *"
timeZone: Europe/Madrid
suspend: false
concurrencyPolicy: Forbid
startingDeadlineSeconds: 600
successfulRunsHistoryLimit: 3
failedRunsHistoryLimit: 3
"""


def test_the_design_example_parses() -> None:
    spec = BatchJobSpec.model_validate(yaml.safe_load(DESIGN_EXAMPLE))
    assert (spec.parallelism, spec.completions, spec.non_retryable_exit_codes) == (4, 16, [2])
    assert spec.resources.requests is not None and spec.resources.requests.cpu == "500m"


def test_defaults() -> None:
    spec = BatchJobSpec.model_validate(spec_dict())
    assert (spec.parallelism, spec.completions, spec.backoff_limit) == (1, 1, 3)
    assert (spec.priority, spec.suspend, spec.uses, spec.resources.requests) == (
        0,
        False,
        None,
        None,
    )


def test_quantities_may_be_numbers_and_are_kept_as_text() -> None:
    spec = BatchJobSpec.model_validate(spec_dict(resources={"limits": {"cpu": 2, "memory": "1e9"}}))
    assert (spec.resources.limits.cpu, spec.resources.limits.memory) == ("2", "1e9")


# --- invalid specs ---------------------------------------------------------------------------


def _without(*path: str) -> dict[str, Any]:
    spec = spec_dict()
    node = spec
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return spec


def _resources(limits: dict[str, Any], requests: dict[str, Any] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"limits": {"cpu": "1", "memory": "1Gi", **limits}}
    if requests is not None:
        resources["requests"] = requests
    return spec_dict(resources=resources)


BAD_QUANTITIES = st.sampled_from(["1.2.3", "-1", "+1", "1GB", "", "1 Gi", "ten", "0x10", "1Mi5"])
FIELDS = set(BatchJobSpec.model_json_schema(by_alias=True)["properties"])
ENV_VAR = {"name": "MODE", "value": "full"}

INVALID_SPECS = st.one_of(
    st.just(_without("image")),
    st.just(spec_dict(image="")),
    st.sampled_from(["cpu", "memory"]).map(lambda r: _without("resources", "limits", r)),
    st.tuples(st.sampled_from(["cpu", "memory"]), BAD_QUANTITIES).map(
        lambda rq: _resources({rq[0]: rq[1]})
    ),
    st.tuples(st.sampled_from(["cpu", "memory"]), BAD_QUANTITIES).map(
        lambda rq: _resources({}, {rq[0]: rq[1]})
    ),
    st.sampled_from(["1001m", "1.5", "2"]).map(lambda q: _resources({}, {"cpu": q})),
    st.sampled_from(["1025Mi", "2Gi", "1073741825"]).map(lambda q: _resources({}, {"memory": q})),
    st.integers(max_value=-1).map(lambda n: spec_dict(backoffLimit=n)),
    st.integers(max_value=0).map(lambda n: spec_dict(parallelism=n)),
    st.integers(max_value=0).map(lambda n: spec_dict(completions=n)),
    st.just(spec_dict(parallelism="four")),
    st.integers(129, 300).map(lambda n: spec_dict(env=[ENV_VAR] * n)),
    st.sampled_from(["1MODE", "MY VAR", "", "a=b"]).map(lambda n: spec_dict(env=[{"name": n}])),
    st.from_regex(r"[a-z][a-zA-Z]{2,20}", fullmatch=True)
    .filter(lambda f: f not in FIELDS)
    .map(lambda f: spec_dict(**{f: True})),
    st.sampled_from(["hostNetwork", "privileged", "restartPolicy", "securityContext"]).map(
        lambda f: spec_dict(**{f: True})
    ),
    (st.integers(max_value=0) | st.integers(min_value=256)).map(
        lambda c: spec_dict(nonRetryableExitCodes=[2, c])
    ),
    st.just(spec_dict(volumes=[{"name": "host", "hostPath": {"path": "/"}}])),
    st.just(spec_dict(volumes=[{"name": "Scratch_1", "emptyDir": {}}])),
    st.integers(max_value=0).map(
        lambda n: spec_dict(uses=[{"dependency": "orders-db", "units": n}])
    ),
    st.just(spec_dict(uses=[{"dependency": "Orders_DB"}])),
    st.integers(max_value=0).map(lambda n: spec_dict(activeDeadlineSeconds=n)),
    st.integers(max_value=-1).map(lambda n: spec_dict(ttlSecondsAfterFinished=n)),
    st.just(spec_dict(tolerations=[{"key": "batch", "operator": "Sometimes"}])),
    st.just(spec_dict(command=["x"] * 257)),
    # what a new user tried, and got a Job for: runs need real limits, an image, absolute mounts
    st.sampled_from(["0", "0m", "0.0", "2000", "1e1000", "1e3k"]).map(
        lambda q: _resources({"cpu": q, "memory": "64Mi"})
    ),
    st.sampled_from(["0", "0Mi", "65Ti", "1e1000"]).map(
        lambda q: _resources({"cpu": "1", "memory": q})
    ),
    # a tag is ASCII, as the API server's (Go) \w is: "é" and "٣" are refused there too
    st.sampled_from(
        ["not an image ref", "a//b", "x:", "/abs", "Image With Spaces:1", "app:vé", "app:٣"]
    ).map(lambda i: spec_dict(image=i)),
    st.sampled_from(["data", "./data", "relative/path"]).map(
        lambda m: spec_dict(
            volumes=[{"name": "scratch", "emptyDir": {}}],
            volumeMounts=[{"name": "scratch", "mountPath": m}],
        )
    ),
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_resources({"cpu": "0", "memory": "64Mi"}), "limits.cpu must be greater than 0"),
        (_resources({"cpu": "1", "memory": "0"}), "limits.memory must be greater than 0"),
        (_resources({"cpu": "2000", "memory": "64Mi"}), "limits.cpu must be at most 1000"),
        (_resources({"cpu": "1", "memory": "100Ti"}), "limits.memory must be at most 64Ti"),
    ],
)
def test_limits_must_be_real(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BatchJobSpec.model_validate(spec)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "registry.example/invoices:1.4",
        "localhost:5000/team/app:v2",
        "ghcr.io/org/app@sha256:" + "0" * 64,
        "[::1]:5000/app",
        "app:_Build.2-rc_" + "x" * 116,  # a tag's whole alphabet, 128 characters at most
    ],
)
def test_image_references_by_the_distribution_grammar_are_accepted(image: str) -> None:
    assert BatchJobSpec.model_validate(spec_dict(image=image)).image == image


def reconcile(spec: dict[str, Any]) -> FakeKube:
    """One reconcile of a new BatchJob billing/nightly-invoices with `spec`."""
    return reconcile_view(BatchJobView.from_body({"metadata": METADATA, "spec": spec}))


def test_a_valid_spec_creates_its_job() -> None:
    kube = reconcile(spec_dict())
    [job] = kube.created
    assert job == build_job(
        name=METADATA["name"],
        namespace=METADATA["namespace"],
        uid=METADATA["uid"],
        spec=make_spec(),
    )
    assert [p["phase"] for p in kube.status_patches] == ["Running"]


def test_a_run_that_succeeds_costs_three_writes_and_no_event() -> None:
    view = BatchJobView.from_body({"metadata": METADATA, "spec": spec_dict()})
    kube = FakeKube()
    operator = make_operator(kube)
    operator.deps.store.put_batchjob(view.key, view)
    asyncio.run(operator.batchjobs.reconcile(view.key))
    [job] = kube.created
    complete = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-18T01:00:09Z"}
    done = JobView.from_job({**job, "status": {"succeeded": 1, "conditions": [complete]}})
    operator.deps.store.put_job(view.key, done.name, done)
    asyncio.run(operator.batchjobs.reconcile(view.key))
    assert [p["phase"] for p in kube.status_patches] == ["Running", "Succeeded"]
    assert (kube.writes, kube.events) == (["create Job"], [])


@given(INVALID_SPECS)
def test_an_invalid_spec_is_refused_and_no_job_is_built(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BatchJobSpec.model_validate(spec)

    with mock.patch(
        "bulkhead.controllers.batchjob.build_job", side_effect=AssertionError("build_job")
    ):
        kube = reconcile(spec)
    assert kube.created == []
    [patch] = kube.status_patches
    assert (patch["phase"], patch["reason"]) == ("Pending", "InvalidSpec")
    assert patch["message"].startswith("invalid spec, no Job created: ")
    stalled = {c["type"]: c["status"] for c in patch["conditions"]}["Stalled"]
    assert stalled == "True"
    assert kube.events == [("Warning", "InvalidSpec")]


# The CRD refuses these with CEL rules (x-kubernetes-validations); the model the controller
# trusts should refuse them too, or a spec that reaches it another way builds a broken Job.
PROMETHEUS = {"address": "http://prometheus:9090", "query": "probe_p99_seconds"}


def health_spec(**health: Any) -> dict[str, Any]:
    """A Dependency spec of capacity 4 with one signal, p99, and `health` on top."""
    return {
        "capacity": 4,
        "health": {"signals": [{"name": "p99", "prometheus": PROMETHEUS}], **health},
    }


CEL_ONLY_RULES: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "volume with two sources": (
        BatchJobSpec,
        spec_dict(volumes=[{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]),
    ),
    "volume without a source": (BatchJobSpec, spec_dict(volumes=[{"name": "v"}])),
    "env value and valueFrom": (
        BatchJobSpec,
        spec_dict(env=[{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]),
    ),
    "env valueFrom without a source": (
        BatchJobSpec,
        spec_dict(env=[{"name": "A", "valueFrom": {}}]),
    ),
    "envFrom with two sources": (
        BatchJobSpec,
        spec_dict(envFrom=[{"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}]),
    ),
    "parallelism above completions": (BatchJobSpec, spec_dict(parallelism=5, completions=2)),
    "mount of an unknown volume": (
        BatchJobSpec,
        spec_dict(volumeMounts=[{"name": "missing", "mountPath": "/data"}]),
    ),
    "window that starts when it ends": (Window, {"start": "02:00", "end": "02:00"}),
    "signal with two sources": (
        Signal,
        {"name": "p99", "prometheus": PROMETHEUS, "http": {"url": "http://x:1", "jsonPath": "$.a"}},
    ),
    "signal without a source": (Signal, {"name": "p99"}),
    "signals named twice": (
        DependencySpec,
        health_spec(signals=[{"name": "p99", "prometheus": PROMETHEUS}] * 2),
    ),
    "degradedWhen without recoveredWhen": (
        DependencySpec,
        health_spec(degradedWhen="signals.p99 > 0.3"),
    ),
    "target on an undeclared signal": (
        DependencySpec,
        health_spec(adaptive={"target": {"signal": "errors", "value": 1}}),
    ),
    "target of 0": (
        DependencySpec,
        health_spec(adaptive={"target": {"signal": "p99", "value": 0}}),
    ),
    "minCapacity above capacity": (DependencySpec, health_spec(adaptive={"minCapacity": 5})),
}


def _accepted(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def test_rules_the_crd_checks_with_cel_are_checked_by_the_models_too() -> None:
    accepted = [rule for rule, (model, data) in CEL_ONLY_RULES.items() if _accepted(model, data)]
    assert not accepted, f"the models accept what the CRD's CEL rules refuse: {accepted}"


def test_a_health_condition_that_does_not_compile_names_its_field_and_the_error() -> None:
    spec = health_spec(openWhen="signals.p9 > 1")
    view = DependencyView(name="orders-db", uid="u", generation=1, spec=spec, status=None)
    assert view.spec_problem() == (
        "spec.health: Value error, openWhen: 1:8: undeclared reference to 'signals.p9'"
    )
    assert view.parsed_spec() is None


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        (
            "signals.p99 >",
            "1:14: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', "
            "'!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, "
            "IDENTIFIER}",
        ),
        ("signals.p99 > 'slow'", "No matching overloads found : _>_(double, string)"),
        ("signals.p99", "must be true or false, e.g. signals.p99 > 0.5; it is 1.0"),
    ],
)
def test_a_condition_must_parse_type_check_and_be_a_bool(condition: str, problem: str) -> None:
    with pytest.raises(ValidationError) as error:
        DependencySpec.model_validate(health_spec(openWhen=condition))
    assert [(e["loc"], e["msg"]) for e in error.value.errors()] == [
        (("health",), f"Value error, openWhen: {problem}")
    ]


def test_a_full_health_spec_reads_with_its_defaults() -> None:
    spec = DependencySpec.model_validate(
        health_spec(
            degradedWhen="signals.p99 > 0.3",
            recoveredWhen="signals.p99 < 0.2",
            openWhen="signals.p99 > 2",
            adaptive={"minCapacity": 2, "target": {"signal": "p99", "value": 0.2}},
        )
    )
    assert spec.health is not None
    assert spec.health.wire() == {
        "signals": [{"name": "p99", "prometheus": {**PROMETHEUS, "timeout": "5s"}}],
        "interval": "15s",
        "degradedWhen": "signals.p99 > 0.3",
        "recoveredWhen": "signals.p99 < 0.2",
        "openWhen": "signals.p99 > 2",
        "for": "30s",
        "adaptive": {
            "minCapacity": 2,
            "target": {"signal": "p99", "value": 0.2},
            "settleTime": "1m",
            "increaseStep": 1,
        },
        "dryRun": False,
    }


def test_the_docs_health_example_is_a_dependency_the_models_accept() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs/dependencies.md").read_text()
    section = page[page.index("## Dependency health") :]
    example = section[section.index("```yaml") + len("```yaml") : section.index("```\n\n")]
    spec = DependencySpec.model_validate(yaml.safe_load(example)["spec"])
    assert spec.health is not None
    assert (spec.capacity, [s.name for s in spec.health.signals], spec.health.dry_run) == (
        40,
        ["p99", "up"],
        True,
    )
