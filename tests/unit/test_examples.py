"""The examples in jobs/ (what `make demo` applies) are valid BatchJobs and Dependencies: the
same models the CRDs are generated from accept every one of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.api.dependency import DependencySpec

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"BatchJob": BatchJobSpec, "Dependency": DependencySpec}
# The health example's signal URL is filled in by make demo (hack/demo.sh).
PLACEHOLDERS = {"SIGNAL_URL": "http://127.0.0.1:8080/health.json"}


def documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((ROOT / "jobs").rglob("*.yaml")):
        text = path.read_text()
        for placeholder, value in PLACEHOLDERS.items():
            text = text.replace(placeholder, value)
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") in MODELS:
                found.append((f"{path.relative_to(ROOT)}:{doc['metadata']['name']}", doc))
    return found


def test_the_examples_include_both_kinds() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert kinds == set(MODELS)


@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_every_example_is_valid(where: str, doc: dict) -> None:
    MODELS[doc["kind"]].model_validate(doc["spec"])
