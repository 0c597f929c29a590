"""One HTTP request read as a CloudEvent, per the CloudEvents HTTP protocol binding v1.0:
structured mode (Content-Type application/cloudevents+json, the attributes and the data in one
JSON object) or binary mode (the attributes in ce-* headers, the body is the data). Batched mode
and other event formats are refused. A pure function: the endpoint (controllers/cloudevents.py)
reads the request, at most MAX_BODY bytes of it, and answers what this returns."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import orjson

from bulkhead.api.triggers import MAX_EVENT_DATA, RunEvent

# The most bytes of a request body read. Above MAX_EVENT_DATA for the attributes and JSON's
# escaping of the data (a control character is six bytes escaped: 4096 of them are 24 KiB).
MAX_BODY = 64 * 1024
# Each attribute's longest text (api/triggers.py EventAttribute).
MAX_ATTRIBUTE = 1024
STRUCTURED = "application/cloudevents+json"
BATCHED = "application/cloudevents-batch+json"
SPECVERSION = "1.0"
REQUIRED = ("id", "source", "type")

# Why a request is not an event, as the endpoint counts it (bulkhead_events_total{verdict}).
Refused = Literal["Malformed", "TooLarge", "UnsupportedMediaType", "MethodNotAllowed"]
STATUS: dict[Refused, int] = {
    "Malformed": 400,
    "TooLarge": 413,
    "UnsupportedMediaType": 415,
    "MethodNotAllowed": 405,
}


@dataclass(frozen=True)
class Refusal:
    """A request that is not an event the endpoint takes: its HTTP status, and why."""

    verdict: Refused
    message: str

    @property
    def status(self) -> int:
        return STATUS[self.verdict]


class _Refused(Exception):
    def __init__(self, verdict: Refused, message: str) -> None:
        super().__init__(message)
        self.refusal = Refusal(verdict, message)


def parse_event(method: str, headers: Mapping[str, str], body: bytes) -> RunEvent | Refusal:
    """The event `method`, `headers` (any case) and `body` carry, given the request's body
    (at most MAX_BODY + 1 bytes of it: one more says it is too large). A Refusal names what is
    wrong: Malformed (400, naming the missing or bad attribute), TooLarge (413: the body is over
    MAX_BODY, or the data over MAX_EVENT_DATA), UnsupportedMediaType (415: batched mode, or an
    event format other than JSON), MethodNotAllowed (405: not a POST)."""
    try:
        if method.upper() != "POST":
            raise _Refused("MethodNotAllowed", f"{method} is not allowed: POST a CloudEvent")
        if len(body) > MAX_BODY:
            raise _Refused("TooLarge", f"the request body is over {MAX_BODY} bytes")
        lowered = {name.lower(): value for name, value in headers.items()}
        media_type = lowered.get("content-type", "").partition(";")[0].strip().lower()
        if media_type == BATCHED:
            raise _Refused(
                "UnsupportedMediaType",
                f"batched mode ({BATCHED}) is not supported: POST one event per request",
            )
        if media_type == STRUCTURED:
            return _structured(body)
        if media_type.startswith("application/cloudevents"):
            raise _Refused(
                "UnsupportedMediaType",
                f"event format {media_type} is not supported: {STRUCTURED}, or binary mode",
            )
        if "ce-specversion" not in lowered:
            raise _Refused(
                "Malformed",
                f"not a CloudEvent: neither structured (Content-Type {STRUCTURED}) nor binary "
                "(no ce-specversion header)",
            )
        return _binary(lowered, body)
    except _Refused as refused:
        return refused.refusal


def _structured(body: bytes) -> RunEvent:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _Refused("Malformed", f"the body is not JSON: {error}") from None
    if not isinstance(envelope, dict):
        raise _Refused("Malformed", "the body is not a JSON object")
    attributes = {name: _attribute(name, envelope.get(name)) for name in ("specversion", *REQUIRED)}
    if "data" in envelope and "data_base64" in envelope:
        raise _Refused("Malformed", "data and data_base64 are both set")
    data: str | None
    if "data_base64" in envelope:
        encoded = envelope["data_base64"]
        if not isinstance(encoded, str):
            raise _Refused("Malformed", "data_base64 is not a string")
        try:
            data = _text(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            raise _Refused("Malformed", "data_base64 is not base64") from None
    else:
        value = envelope.get("data")
        # A JSON string is the data's text itself; any other JSON value, its compact JSON.
        data = value if isinstance(value, str) or value is None else orjson.dumps(value).decode()
    return _event(attributes, data)


def _binary(headers: Mapping[str, str], body: bytes) -> RunEvent:
    attributes = {}
    for name in ("specversion", *REQUIRED):
        header = f"ce-{name}"
        try:
            # Header values are percent-encoded (binding section 3.1.3.2), as UTF-8.
            value = unquote_to_bytes(headers[header]).decode() if header in headers else None
        except UnicodeDecodeError:
            raise _Refused("Malformed", f"{header} is not UTF-8 once percent-decoded") from None
        attributes[name] = _attribute(name, value, header)
    return _event(attributes, _text(body) if body else None)


def _attribute(name: str, value: Any, shown: str = "") -> str:
    """`value` as the text of the required attribute `name` (`shown` as the request names it:
    a header in binary mode)."""
    shown = shown or name
    if value is None or value == "":
        raise _Refused("Malformed", f"the required attribute {shown} is missing")
    if not isinstance(value, str):
        raise _Refused("Malformed", f"{shown} is not a string")
    if len(value) > MAX_ATTRIBUTE:
        raise _Refused("Malformed", f"{shown} is over {MAX_ATTRIBUTE} characters")
    return value


def _text(data: bytes) -> str:
    """The data as the run gets it: its text when it is UTF-8, else its base64 (a run that
    expects binary data decodes BULKHEAD_EVENT_DATA)."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return base64.b64encode(data).decode()


def _event(attributes: dict[str, str], data: str | None) -> RunEvent:
    """The event; empty data is none (binary mode cannot tell them apart)."""
    if attributes["specversion"] != SPECVERSION:
        raise _Refused(
            "Malformed", f"specversion {attributes['specversion']} is not supported: 1.0 only"
        )
    if data is not None and (size := len(data.encode())) > MAX_EVENT_DATA:
        raise _Refused(
            "TooLarge",
            f"the data is {size} bytes (base64 when not UTF-8), over {MAX_EVENT_DATA}",
        )
    return RunEvent(
        id=attributes["id"], source=attributes["source"], type=attributes["type"], data=data or None
    )


def event_key(source: str, id: str) -> str:
    """A short stable name of the event (`source`, `id`): 16 lowercase hex digits of a SHA-256
    of both, unambiguous however either is spelled (it becomes part of a run's Job name)."""
    return hashlib.sha256(orjson.dumps([source, id])).hexdigest()[:16]
