"""A valid BatchJob spec to start from: each test sets only the fields it is about; and the
operator built as its process builds it, on a fake API server."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bulkhead.api.batchjob import BatchJobSpec
from bulkhead.metrics import Metrics
from bulkhead.operator import Operator, fresh_deps, wall_clock
from bulkhead.settings import Settings

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


def make_operator(
    kube: Any, metrics: Metrics | None = None, clock: Callable[[], datetime] = wall_clock
) -> Operator:
    """The operator as its process builds it (default settings), on the fake API server `kube`."""
    return Operator(fresh_deps(kube, metrics or Metrics(), Settings.from_env({}), clock))
