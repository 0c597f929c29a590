"""Where a Dependency is reached (spec.network): CIDRs, or pods by namespace and pod selector,
and ports. When a Dependency a BatchJob uses declares its network, the BatchJob's runs may reach
only the Dependencies it declares and DNS (policy/network.py)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from bulkhead.api.base import Model, cel
from bulkhead.api.meta import LabelSelector


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a CIDR with no host bits set: {error}") from error
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length (e.g. 10.0.0.0/16, 192.0.2.7/32)")
    return value


CIDR_MESSAGE = "must be a CIDR with no host bits set, e.g. 10.0.0.0/16, 192.0.2.7/32 or fd00::/64"
Cidr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("isCIDR(self) && cidr(self) == cidr(self).masked()", CIDR_MESSAGE)
            ]
        }
    ),
]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class NetworkPort(Model):
    """A port, or the range port..endPort, as in a NetworkPolicy rule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.endPort) || self.endPort >= self.port",
                    "endPort must not be below port",
                    ".endPort",
                )
            ]
        }
    )
    port: PortNumber
    """Port number, 1 to 65535."""
    end_port: PortNumber | None = None
    """Last port of the range port..endPort. Default: port alone."""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """TCP, UDP or SCTP. Default TCP."""

    @model_validator(mode="after")
    def _range(self) -> NetworkPort:
        if self.end_port is not None and self.end_port < self.port:
            raise ValueError("endPort must not be below port")
        return self


NETWORK_PLACE = (
    "network must say where the dependency is: cidrs, or namespaceSelector "
    "(with podSelector to narrow it to some pods)"
)
POD_SELECTOR_ALONE = (
    "podSelector needs namespaceSelector: a Dependency is cluster-wide, so name the "
    "namespaces its pods are in"
)


# When a Dependency a BatchJob uses declares its network, the BatchJob's runs may reach only
# the Dependencies it declares and DNS (policy/network.py).
class DependencyNetwork(Model):
    """Where a Dependency is reached: CIDRs, or pods by namespace (and pod) selector."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.cidrs) || has(self.namespaceSelector)", NETWORK_PLACE),
                cel(
                    "!has(self.podSelector) || has(self.namespaceSelector)",
                    POD_SELECTOR_ALONE,
                    ".podSelector",
                ),
            ]
        }
    )
    cidrs: Annotated[list[Cidr], Field(min_length=1, max_length=32)] | None = None
    """IP ranges of the service, no host bits set, e.g. 10.20.0.0/16, 192.0.2.7/32, fd00::/64; at
    most 32."""
    ports: Annotated[list[NetworkPort], Field(min_length=1, max_length=32)] | None = None
    """Ports runs may reach it on, at most 32. Default: every port."""
    namespace_selector: LabelSelector | None = None
    """Namespaces whose pods are the service."""
    pod_selector: LabelSelector | None = None
    """Narrows namespaceSelector to these pods; needs namespaceSelector."""

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_cidr(c) for c in value]

    @model_validator(mode="after")
    def _somewhere(self) -> DependencyNetwork:
        if self.pod_selector is not None and self.namespace_selector is None:
            raise ValueError(POD_SELECTOR_ALONE)
        if self.cidrs is None and self.namespace_selector is None:
            raise ValueError(NETWORK_PLACE)
        return self
