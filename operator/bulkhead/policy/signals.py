"""Pure: a signal's number out of what its source answered (the reading itself, HTTP with
timeout, TLS and token, is I/O and lives apart). Each function returns the value, or why there
is none as text for status.signals[].error; a failed read counts toward onSignalLoss."""

from __future__ import annotations

import math
import re
import sys
from typing import Any

# $.a.b, $.items[0], $['p99-ms']: the grammar health.signals[].http.jsonPath allows.
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]|\['([^']+)'\]")


def prometheus_query_url(address: str) -> str:
    """The instant-query endpoint of the Prometheus at `address` (its query goes in `query`)."""
    return f"{address.rstrip('/')}/api/v1/query"


def prometheus_value(body: Any) -> float | str:
    """The one sample of a Prometheus instant-query response (the decoded JSON of
    /api/v1/query): a vector of exactly one sample, or a scalar."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        return f"query failed: {error or 'not a Prometheus response'}"
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _number(result[1] if isinstance(result, list) and len(result) == 2 else None)
    if kind != "vector" or not isinstance(result, list):
        return f"query must return one sample, it returned a {kind}"
    if len(result) != 1:
        return (
            f"query must return one sample, it returned {len(result)}: aggregate it, e.g. max(...)"
        )
    value = result[0].get("value") if isinstance(result[0], dict) else None
    return _number(value[1] if isinstance(value, list) and len(value) == 2 else None)


def json_path_value(document: Any, path: str) -> float | str:
    """The number at `path` ($.a.b, $.items[0], $['p99-ms']) in a decoded JSON document: a JSON
    number, or a string that is one."""
    node = document
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return f"{path} is not a JSON path of names and indexes"
        name, index, quoted = match.groups()
        key: str | int = int(index) if index is not None else (name or quoted)
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return f"{path}: no item {key} at {path[:position] or '$'}"
        elif not isinstance(node, dict) or key not in node:
            return f"{path}: no member {key!r} at {path[:position]}"
        node = node[key]
        position = match.end()
    return _number(node)


def _number(raw: Any) -> float | str:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return f"not a number: {raw!r}"
    try:
        value = float(raw)
    except ValueError:
        return f"not a number: {raw!r}"
    if math.isnan(value):
        # e.g. histogram_quantile over a range with no observations: nothing was measured.
        return "NaN: nothing measured"
    # +Inf is real (above the top histogram bucket); JSON has no infinity for the status.
    return max(-sys.float_info.max, min(sys.float_info.max, value))
