"""The committed CRDs are what the models say, and they are structural, bounded and readable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bulkhead.api import crdgen
from bulkhead.api.batchjob import Use
from bulkhead.api.pod import CpuMemory, Resources

ROOT = Path(__file__).resolve().parents[2]
CRDS = {"BatchJob": crdgen.batchjob_crd(), "Dependency": crdgen.dependency_crd()}


def _version(kind: str) -> dict[str, Any]:
    versions = CRDS[kind]["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def _schema(kind: str) -> dict[str, Any]:
    return _version(kind)["schema"]["openAPIV3Schema"]


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def _api_nodes(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """spec and status: the part of the schema the models own (apiVersion/kind/metadata are
    the API server's)."""
    for part in ("spec", "status"):
        yield from _walk(_schema(kind)["properties"][part], part)


def test_committed_crds_match_the_models() -> None:
    committed = {path: (ROOT / path).read_text() for path in crdgen.rendered()}
    committed.update({f"crds/{p.name}": p.read_text() for p in (ROOT / "crds").glob("*.yaml")})
    assert committed == crdgen.rendered(), (
        "crds/ differs from what the models in operator/bulkhead/api/ generate: run `make crds` "
        "and commit the result"
    )


@pytest.mark.parametrize("kind", CRDS)
def test_every_array_has_max_items(kind: str) -> None:
    unbounded = [p for p, n in _api_nodes(kind) if n.get("type") == "array" and "maxItems" not in n]
    assert unbounded == []


@pytest.mark.parametrize("kind", CRDS)
def test_every_map_has_max_properties(kind: str) -> None:
    unbounded = [
        p for p, n in _api_nodes(kind) if "additionalProperties" in n and "maxProperties" not in n
    ]
    assert unbounded == []


@pytest.mark.parametrize("kind", CRDS)
def test_every_string_is_bounded(kind: str) -> None:
    """Unbounded strings make CEL cost estimates explode and let one object fill etcd."""
    unbounded = [
        p
        for p, n in _api_nodes(kind)
        if n.get("type") == "string" and not {"maxLength", "enum", "pattern"} & n.keys()
    ]
    assert not unbounded, f"strings without maxLength, pattern or enum: {unbounded}"


@pytest.mark.parametrize("kind", CRDS)
def test_every_field_has_a_description(kind: str) -> None:
    """`kubectl explain` shows each field's description: the kind, spec and status and every field
    under them have one, at every depth. A list's or map's scalar elements need none (the list
    or map says what they are); elements that are objects do."""
    assert _schema(kind).get("description")
    bare = [
        path
        for path, node in _api_nodes(kind)
        if "description" not in node
        and not (path.endswith(("[]", ".*")) and node.get("type") != "object")
    ]
    assert bare == []


def _one_line(text: str | None) -> str:
    assert text is not None
    return " ".join(text.split())


def test_a_fields_description_wins_over_its_types() -> None:
    """An object-typed field is described by its own docstring, a list's items by their class,
    and a quantity keeps its description through its int-or-string schema."""
    spec = _schema("BatchJob")["properties"]["spec"]["properties"]
    limits = spec["resources"]["properties"]["limits"]
    assert limits["description"] == _one_line(Resources.model_fields["limits"].description)
    assert limits["description"] != _one_line(CpuMemory.__doc__)
    assert spec["uses"]["items"]["description"] == _one_line(Use.__doc__)
    assert limits["properties"]["cpu"]["description"] == _one_line(
        CpuMemory.model_fields["cpu"].description
    )


@pytest.mark.parametrize(
    ("kind", "short", "scope"), [("BatchJob", "bj", "Namespaced"), ("Dependency", "dep", "Cluster")]
)
def test_names_scope_and_status_subresource(kind: str, short: str, scope: str) -> None:
    spec = CRDS[kind]["spec"]
    assert spec["names"]["kind"] == kind
    assert spec["names"]["shortNames"] == [short]
    assert spec["scope"] == scope
    assert _version(kind)["subresources"] == {"status": {}}
    assert _schema(kind)["required"] == ["spec"]


def test_batchjob_printer_columns_tell_what_runs_and_why_it_waits() -> None:
    columns = [(c["name"], c["jsonPath"]) for c in _version("BatchJob")["additionalPrinterColumns"]]
    assert columns == [
        ("Phase", ".status.phase"),
        ("Job", ".status.jobName"),
        ("Active", ".status.active"),
        ("Succeeded", ".status.succeeded"),
        ("Failed", ".status.failed"),
        ("Waiting-For", ".status.queue.dependency"),
        ("Schedule", ".spec.schedule"),
        ("Last-Run", ".status.lastRunResult"),
        ("Next-Run", ".status.nextScheduleTime"),
        ("Reason", ".status.reason"),
        ("Age", ".metadata.creationTimestamp"),
        ("Message", ".status.message"),
    ]


def _resolves(schema: dict[str, Any], json_path: str) -> bool:
    """Whether a printer column's path names a field of the schema (filters read as items)."""
    node: dict[str, Any] | None = schema
    for step in re.sub(r"\[[^]]*\]", ".[]", json_path).strip(".").split("."):
        if node is None:
            return False
        if node.get("type") == "object" and "properties" not in node:
            return True  # metadata: the API server's own schema
        node = node.get("items") if step == "[]" else (node.get("properties") or {}).get(step)
    return node is not None


@pytest.mark.parametrize("kind", CRDS)
def test_every_printer_column_names_a_field_of_the_schema(kind: str) -> None:
    columns = _version(kind)["additionalPrinterColumns"]
    dangling = [c["jsonPath"] for c in columns if not _resolves(_schema(kind), c["jsonPath"])]
    assert dangling == []
