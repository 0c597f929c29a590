"""Generates the CRDs in crds/ from the pydantic models.

`python -m bulkhead.api.crdgen crds/` writes them; tests/unit/test_crd_drift.py fails when the
committed files differ from what the models say.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bulkhead.api.batchjob import (
    AFTER_SELF_RULE,
    IMMUTABLE_RUN_RULE,
    MAX_NAME_LENGTH,
    NAME_LENGTH_RULE,
    BatchJobSpec,
    BatchJobStatus,
)
from bulkhead.api.constants import GROUP, VERSION
from bulkhead.api.dependency import DependencySpec, DependencyStatus

# JSON-schema keywords that a structural OpenAPI v3 schema keeps as they are.
_KEPT = {
    "type",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "enum",
    "default",
    "description",
    "x-kubernetes-int-or-string",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def openapi(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema, made structural: refs inlined, nullables dropped, no titles."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    return _convert(schema, defs)


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if node.get("x-kubernetes-int-or-string"):
        return {k: v for k, v in node.items() if k in _KEPT or k == "anyOf"}
    if "anyOf" in node:
        # Optional[X] arrives as anyOf [X, null]: absence is how the API says "not set".
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        rest.pop("default", None)
        return _convert({**options[0], **rest}, defs)
    # Copies: a definition used twice would otherwise be one object, dumped as a YAML alias.
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in node.items() if k in _KEPT}
    if "description" in out:
        # Docstrings are wrapped for the source; kubectl explain wraps the text itself.
        out["description"] = " ".join(out["description"].split())
    if "const" in node:
        out["enum"] = [node["const"]]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "default" in out and out["default"] is None:
        del out["default"]
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        if "properties" in node:
            out["properties"] = {k: _convert(v, defs) for k, v in node["properties"].items()}
            if node.get("required"):
                out["required"] = sorted(node["required"])
        elif isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = _convert(node["additionalProperties"], defs)
        elif isinstance(patterns := node.get("patternProperties"), dict) and len(patterns) == 1:
            # dict[PatternKey, V]: a structural schema has no key patterns (a CEL rule on the
            # map checks the keys), only the values' schema
            out["additionalProperties"] = _convert(next(iter(patterns.values())), defs)
    if node.get("type") == "array":
        out["items"] = _convert(node["items"], defs)
    return out


def crd(
    *,
    kind: str,
    description: str,
    plural: str,
    short: str,
    scope: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    root_rules: list[dict[str, str]],
) -> dict[str, Any]:
    """The CRD of `kind`; `description` says what one object is (kubectl explain KIND)."""
    root: dict[str, Any] = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            # No descriptions: the API server publishes its own for these three (and refuses
            # anything on metadata but its type).
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi(spec),
            "status": openapi(status),
        },
    }
    if root_rules:
        root["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["bulkhead", "all"] if scope == "Namespaced" else ["bulkhead"],
            },
            "scope": scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _column(name: str, path: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path, **extra}


def batchjob_crd() -> dict[str, Any]:
    return crd(
        kind="BatchJob",
        description="Batch work run as isolated Kubernetes Jobs: one container with its own "
        "limits and identity, started when the Dependencies it uses have room for it, once or on a "
        f"schedule. Its name is at most {MAX_NAME_LENGTH} characters: each Job's name adds a "
        "suffix.",
        plural="batchjobs",
        short="bj",
        scope="Namespaced",
        spec=BatchJobSpec,
        status=BatchJobStatus,
        columns=[
            _column("Phase", ".status.phase"),
            _column("Job", ".status.jobName"),
            _column("Active", ".status.active", "integer"),
            _column("Succeeded", ".status.succeeded", "integer"),
            _column("Failed", ".status.failed", "integer"),
            _column("Waiting-For", ".status.queue.dependency"),
            _column("Schedule", ".spec.schedule"),
            _column("Last-Run", ".status.lastRunResult"),
            _column("Next-Run", ".status.nextScheduleTime"),
            _column("Reason", ".status.reason"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Message", ".status.message", priority=1),
        ],
        root_rules=[NAME_LENGTH_RULE, IMMUTABLE_RUN_RULE, AFTER_SELF_RULE],
    )


def dependency_crd() -> dict[str, Any]:
    return crd(
        kind="Dependency",
        description="A shared service that batch work must not overload (a database, a REST "
        "API, a broker) and its budget: the units running BatchJobs may hold at once, when new "
        "runs may start, and from which namespaces.",
        plural="dependencies",
        short="dep",
        scope="Cluster",
        spec=DependencySpec,
        status=DependencyStatus,
        columns=[
            _column("Capacity", ".spec.capacity", "integer"),
            _column("Effective", ".status.effectiveCapacity", "integer"),
            _column("In-Use", ".status.inUse", "integer"),
            _column("Waiting", ".status.waiting", "integer"),
            _column("Health", ".status.health"),
            _column("Breaker", ".status.breaker.state"),
            _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Window-Closed", '.status.conditions[?(@.type=="WindowClosed")].status'),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        root_rules=[],
    )


CHART_CRDS = "charts/bulkhead/templates/crds.yaml"


def rendered() -> dict[str, str]:
    """Path from the repository root -> YAML text, exactly as committed."""
    header = "# Generated by `make crds` from the models in operator/bulkhead/api/. Do not edit.\n"
    documents = {
        "crds/bulkhead.dev_batchjobs.yaml": yaml.safe_dump(batchjob_crd(), sort_keys=False),
        "crds/bulkhead.dev_dependencies.yaml": yaml.safe_dump(dependency_crd(), sort_keys=False),
    }
    files = {path: header + text for path, text in documents.items()}
    # The chart installs the same CRDs, behind crd.enable (GitOps users often own CRDs apart).
    # They are templates, not the chart's crds/ folder, because Helm never upgrades crds/.
    files[CHART_CRDS] = (
        header
        + "{{- if .Values.crd.enable }}\n"
        + "---\n".join(_chart_crd(document) for document in (batchjob_crd(), dependency_crd()))
        + "{{- end }}\n"
    )
    return files


def _chart_crd(document: dict[str, Any]) -> str:
    """A CRD as the chart templates it: `helm uninstall` leaves it (and so every object of its
    kind) in place unless crd.keep is false, as cert-manager's and argo-helm's charts do."""
    head = {k: v for k, v in document.items() if k not in ("metadata", "spec")}
    return (
        yaml.safe_dump(head, sort_keys=False)
        + "metadata:\n"
        + f"  name: {document['metadata']['name']}\n"
        + "  labels: {app.kubernetes.io/name: bulkhead}\n"
        + "  {{- if .Values.crd.keep }}\n"
        + "  annotations: {helm.sh/resource-policy: keep}\n"
        + "  {{- end }}\n"
        + yaml.safe_dump({"spec": document["spec"]}, sort_keys=False)
    )


def main(argv: list[str]) -> None:
    root = Path(argv[1] if len(argv) > 1 else ".")
    for path, text in rendered().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


if __name__ == "__main__":
    main(sys.argv)
