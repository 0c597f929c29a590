"""A valid BatchJob spec to start from: each test sets only the fields it is about."""

from __future__ import annotations

import copy
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec

BASE_SPEC: dict[str, Any] = {
    "image": "registry.example/invoices:1.4",
    "command": ["python", "-m", "invoices"],
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
}


def spec_dict(**fields: Any) -> dict[str, Any]:
    """The base spec in wire form (camelCase keys) with `fields` set on top."""
    return {**copy.deepcopy(BASE_SPEC), **fields}


def make_spec(**fields: Any) -> BatchJobSpec:
    return BatchJobSpec.model_validate(spec_dict(**fields))
