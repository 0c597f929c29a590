"""signals: what a signal's source answered -> its number, or why there is none."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from bulkhead.policy.signals import json_path_value, prometheus_query_url, prometheus_value


def vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1732363200.0, v]} for v in values],
        },
    }


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (vector("0.31"), 0.31),
        (vector("+Inf"), sys.float_info.max),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "4"]}}, 4.0),
        (vector(), "query must return one sample, it returned 0: aggregate it, e.g. max(...)"),
        (
            vector("1", "2"),
            "query must return one sample, it returned 2: aggregate it, e.g. max(...)",
        ),
        (vector("NaN"), "NaN: nothing measured"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            "query must return one sample, it returned a matrix",
        ),
        ({"status": "error", "error": "parse error"}, "query failed: parse error"),
        ("<html>", "query failed: not a Prometheus response"),
    ],
)
def test_a_prometheus_answer(body: Any, value: float | str) -> None:
    assert prometheus_value(body) == value


DOCUMENT = {"latency": {"p99": 0.31, "text": "0.2"}, "items": [{"value": 7}], "p99-ms": 310}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$.latency.p99", 0.31),
        ("$.latency.text", 0.2),
        ("$.items[0].value", 7.0),
        ("$['p99-ms']", 310.0),
        ("$.latency", "not a number: {'p99': 0.31, 'text': '0.2'}"),
        ("$.latency.p50", "$.latency.p50: no member 'p50' at $.latency"),
        ("$.items[3]", "$.items[3]: no item 3 at $.items"),
        ("$.items.value", "$.items.value: no member 'value' at $.items"),
    ],
)
def test_a_json_document(path: str, value: float | str) -> None:
    assert json_path_value(DOCUMENT, path) == value


def test_a_bare_number_and_a_bool() -> None:
    assert (json_path_value(3, "$"), json_path_value(True, "$")) == (3.0, "not a number: True")


def test_the_query_endpoint() -> None:
    assert prometheus_query_url("http://prom:9090/") == "http://prom:9090/api/v1/query"
