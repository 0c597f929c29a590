"""policy/cloudevent: requests read as events (structured and binary mode) or refused with the
status that says why; whatever the CloudEvents SDK sends, in either mode, reads back as the
event it sent; event keys are short, lowercase hex, and tell events apart."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from bulkhead.api.triggers import MAX_EVENT_DATA, RunEvent
from bulkhead.policy.cloudevent import MAX_BODY, Refusal, event_key, parse_event
from cloudevents.core.bindings import http
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
ATTRIBUTES = {"specversion": "1.0", "id": "e-1", "source": "/orders", "type": "order.created"}
BINARY = {f"ce-{name}": value for name, value in ATTRIBUTES.items()}
EVENT = RunEvent(id="e-1", source="/orders", type="order.created")


def structured(**fields: Any) -> bytes:
    return orjson.dumps({**ATTRIBUTES, **fields})


def without(name: str) -> bytes:
    return orjson.dumps({k: v for k, v in ATTRIBUTES.items() if k != name})


CASES = [
    ("structured, no data", "POST", STRUCTURED, structured(), EVENT),
    (
        "structured, JSON data: its compact JSON",
        "POST",
        {"content-type": "application/cloudevents+json; charset=utf-8"},
        structured(data={"order": 7, "lines": [1, 2]}),
        EVENT.model_copy(update={"data": '{"order":7,"lines":[1,2]}'}),
    ),
    (
        "structured, a JSON string: the text itself",
        "POST",
        STRUCTURED,
        structured(data="héllo"),
        EVENT.model_copy(update={"data": "héllo"}),
    ),
    (
        "structured, data_base64 of UTF-8: the text",
        "POST",
        STRUCTURED,
        structured(data_base64=base64.b64encode(b"plain").decode()),
        EVENT.model_copy(update={"data": "plain"}),
    ),
    (
        "structured, data_base64 of binary: base64",
        "POST",
        STRUCTURED,
        structured(data_base64="//79"),
        EVENT.model_copy(update={"data": "//79"}),
    ),
    (
        "binary, percent-encoded headers, UTF-8 body",
        "POST",
        {**BINARY, "Content-Type": "text/plain", "ce-source": "/caf%C3%A9%20bar"},
        b"a body",
        RunEvent(id="e-1", source="/café bar", type="order.created", data="a body"),
    ),
    (
        "binary, empty body: no data",
        "POST",
        {name.upper(): value for name, value in BINARY.items()},
        b"",
        EVENT,
    ),
    (
        "binary, binary body: base64",
        "POST",
        {**BINARY, "Content-Type": "application/octet-stream"},
        b"\xff\x00\xfe",
        EVENT.model_copy(update={"data": "/wD+"}),
    ),
    (
        "data at the bound",
        "POST",
        BINARY,
        b"x" * MAX_EVENT_DATA,
        EVENT.model_copy(update={"data": "x" * MAX_EVENT_DATA}),
    ),
    (
        "not a POST",
        "PUT",
        STRUCTURED,
        structured(),
        Refusal("MethodNotAllowed", "PUT is not allowed: POST a CloudEvent"),
    ),
    (
        "body over the cap",
        "POST",
        STRUCTURED,
        b" " * (MAX_BODY + 1),
        Refusal("TooLarge", f"the request body is over {MAX_BODY} bytes"),
    ),
    (
        "data over the bound",
        "POST",
        BINARY,
        b"x" * (MAX_EVENT_DATA + 1),
        Refusal("TooLarge", "the data is 4097 bytes (base64 when not UTF-8), over 4096"),
    ),
    (
        "binary data over the bound once base64",
        "POST",
        BINARY,
        b"\xff" * 3073,
        Refusal("TooLarge", "the data is 4100 bytes (base64 when not UTF-8), over 4096"),
    ),
    (
        "multi-byte text counts its bytes",
        "POST",
        STRUCTURED,
        structured(data="é" * 2049),
        Refusal("TooLarge", "the data is 4098 bytes (base64 when not UTF-8), over 4096"),
    ),
    (
        "batched mode",
        "POST",
        {"Content-Type": "application/cloudevents-batch+json"},
        b"[]",
        Refusal(
            "UnsupportedMediaType",
            "batched mode (application/cloudevents-batch+json) is not supported: POST one "
            "event per request",
        ),
    ),
    (
        "another event format",
        "POST",
        {"Content-Type": "application/cloudevents+avro"},
        b"",
        Refusal(
            "UnsupportedMediaType",
            "event format application/cloudevents+avro is not supported: "
            "application/cloudevents+json, or binary mode",
        ),
    ),
    (
        "neither mode",
        "POST",
        {"Content-Type": "application/json"},
        b"{}",
        Refusal(
            "Malformed",
            "not a CloudEvent: neither structured (Content-Type application/cloudevents+json) "
            "nor binary (no ce-specversion header)",
        ),
    ),
    *[
        (
            f"structured without {name}",
            "POST",
            STRUCTURED,
            without(name),
            Refusal("Malformed", f"the required attribute {name} is missing"),
        )
        for name in ("id", "source", "type", "specversion")
    ],
    (
        "binary without ce-type",
        "POST",
        {k: v for k, v in BINARY.items() if k != "ce-type"},
        b"",
        Refusal("Malformed", "the required attribute ce-type is missing"),
    ),
    (
        "binary header not UTF-8",
        "POST",
        {**BINARY, "ce-id": "%FF"},
        b"",
        Refusal("Malformed", "ce-id is not UTF-8 once percent-decoded"),
    ),
    (
        "specversion 0.3",
        "POST",
        STRUCTURED,
        structured(specversion="0.3"),
        Refusal("Malformed", "specversion 0.3 is not supported: 1.0 only"),
    ),
    (
        "an id that is a number",
        "POST",
        STRUCTURED,
        structured(id=7),
        Refusal("Malformed", "id is not a string"),
    ),
    (
        "a source over 1024 characters",
        "POST",
        STRUCTURED,
        structured(source="s" * 1025),
        Refusal("Malformed", "source is over 1024 characters"),
    ),
    (
        "not JSON",
        "POST",
        STRUCTURED,
        b"{",
        Refusal(
            "Malformed", "the body is not JSON: unexpected end of data: line 1 column 2 (char 1)"
        ),
    ),
    (
        "a JSON array",
        "POST",
        STRUCTURED,
        b"[]",
        Refusal("Malformed", "the body is not a JSON object"),
    ),
    (
        "data and data_base64",
        "POST",
        STRUCTURED,
        structured(data="a", data_base64="YQ=="),
        Refusal("Malformed", "data and data_base64 are both set"),
    ),
    (
        "data_base64 not base64",
        "POST",
        STRUCTURED,
        structured(data_base64="***"),
        Refusal("Malformed", "data_base64 is not base64"),
    ),
]


@pytest.mark.parametrize(
    ("method", "headers", "body", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_request_reads_as_its_event_or_a_refusal(
    method: str, headers: dict[str, str], body: bytes, expected: RunEvent | Refusal
) -> None:
    assert parse_event(method, headers, body) == expected


def test_each_refusal_has_its_status() -> None:
    statuses = {
        Refusal(verdict, "").status
        for verdict in ("Malformed", "TooLarge", "UnsupportedMediaType", "MethodNotAllowed")
    }
    assert statuses == {400, 413, 415, 405}


attribute = st.text(min_size=1, max_size=64)


@given(
    id=attribute,
    source=attribute,
    type=attribute,
    data=st.none() | st.text(max_size=200) | st.binary(min_size=1, max_size=200),
)
def test_what_the_sdk_sends_in_either_mode_reads_back_as_its_event(
    id: str, source: str, type: str, data: str | bytes | None
) -> None:
    event = CloudEvent({"id": id, "source": source, "type": type}, data)
    if isinstance(data, bytes):
        try:
            text: str | None = data.decode()
        except UnicodeDecodeError:
            text = base64.b64encode(data).decode()
    else:
        text = data or None
    expected = RunEvent(id=id, source=source, type=type, data=text)
    for message in (http.to_structured_event(event), http.to_binary_event(event)):
        assert parse_event("POST", message.headers, message.body) == expected


@given(a=st.tuples(attribute, attribute), b=st.tuples(attribute, attribute))
def test_event_keys_are_short_hex_and_tell_events_apart(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    key = event_key(*a)
    assert len(key) == 16 and set(key) <= set("0123456789abcdef")
    assert key == event_key(*a)
    assert (key == event_key(*b)) == (a == b)


def test_an_event_key_does_not_depend_on_where_source_ends() -> None:
    assert event_key("a/b", "c") != event_key("a", "b/c")
