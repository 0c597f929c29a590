"""What every kind's models share: the Model base (camelCase on the wire, docstrings as
descriptions), the cel() rule helper, and the string types and patterns of Kubernetes names,
labels, annotations and time zones.

The CRDs in crds/ are generated from the models (`bulkhead.api.crdgen`), so bounds, defaults and
CEL rules are written once, next to the field they guard. Field names mirror corev1 where a
field has a corev1 twin, so a user's muscle memory works.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from bulkhead.api.quantity import QUANTITY_PATTERN

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL)]
ShortText = Annotated[str, StringConstraints(max_length=253)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Arg = Annotated[str, StringConstraints(max_length=4096)]
Path = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
AbsolutePath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^/")]

# Label keys and values as the API server checks them on a pod or a selector: a key is a
# qualified name with an optional DNS-subdomain prefix, a value at most 63 characters. ([.] and
# not an escaped dot: the same text is a Python, a JSON-schema and a CEL (RE2) pattern.)
_QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
LABEL_KEY = rf"^({_PREFIX})?{_QUALIFIED_NAME}$"
LABEL_VALUE = rf"^({_QUALIFIED_NAME})?$"
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=LABEL_KEY)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE)]
# The schema cannot constrain map keys (no propertyNames in a structural schema): CEL does.
_KEYS_RULE = {
    "x-kubernetes-validations": [
        {
            "rule": f"self.all(k, size(k) <= 253 && k.matches('{LABEL_KEY}'))",
            "message": "keys must be qualified names: an optional DNS subdomain and '/', then "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
        }
    ]
}
LabelMap = Annotated[dict[LabelKey, LabelValue], Field(max_length=64, json_schema_extra=_KEYS_RULE)]
AnnotationMap = Annotated[dict[LabelKey, Text], Field(max_length=64, json_schema_extra=_KEYS_RULE)]


def _quantity_schema(schema: dict[str, Any]) -> None:
    # Replaces the generated str | int schema; the field's own description stays.
    description = {k: v for k, v in schema.items() if k == "description"}
    schema.clear()
    schema.update(
        {
            **description,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "maxLength": 64,
        }
    )


Quantity = Annotated[str | int, Field(json_schema_extra=_quantity_schema)]


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One x-kubernetes-validations entry."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def exactly_one(model: BaseModel, fields: tuple[str, ...], message: str) -> None:
    """Raises ValueError with `message` unless exactly one of `fields` of `model` is set: the
    pydantic twin of the CRD's one-of CEL rules, for objects that bypass the API server."""
    if sum(getattr(model, f) is not None for f in fields) != 1:
        raise ValueError(message)


Timestamp = Annotated[str, StringConstraints(max_length=64)]


class Model(BaseModel):
    """camelCase on the wire, unknown fields refused (the CRD prunes them server-side too)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # The docstring under a field is its description in the CRD, so `kubectl explain` shows it.
        use_attribute_docstrings=True,
    )

    def wire(self) -> dict[str, Any]:
        """Returns the model as the API server stores it: camelCase, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# An IANA time zone name's shape; check_zone asks the zone database whether it exists.
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


def check_zone(value: str) -> str:
    """Returns `value`, given the name of a time zone the zone database knows (e.g.
    Europe/Madrid); raises ValueError for one it does not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r}") from error
    return value
