"""Kubernetes quantities (k8s.io/apimachinery/pkg/api/resource) as exact Decimals.

Ours and not kubernetes.utils.quantity's: importing that runs kubernetes/__init__, which imports
the whole generated client (10 MiB of the operator's RSS; README, Design decisions).
"""

from __future__ import annotations

import re
from decimal import Decimal

# <signedNumber> then one suffix: binary SI, decimal SI or a decimal exponent.
QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>[KMGTPE])i|(?P<decimal>[numkMGTPE])|[eE][+-]?[0-9]+)?"
)
# A suffix's power of its base: 1024 for binary SI (Ki, Mi, ...), 1000 for decimal (k, M, ...).
POWERS = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_quantity(quantity: str | int) -> Decimal:
    """The value of a quantity as an exact Decimal: "500m" is 0.5, "2Gi" 2147483648, "1e3" 1000,
    an int itself. Raises ValueError for a text outside Kubernetes' grammar (like "1K" or
    "1.5 Gi"). The same value as kubernetes.utils.quantity.parse_quantity for every text it
    accepts (tests/unit/test_quantity.py)."""
    if isinstance(quantity, int):
        return Decimal(quantity)
    match = QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    if match["binary"]:
        return Decimal(match["number"]) * Decimal(1024) ** POWERS[match["binary"]]
    if match["decimal"]:
        return Decimal(match["number"]) * Decimal(1000) ** POWERS[match["decimal"]]
    return Decimal(quantity)  # a plain number, or one with an exponent: Decimal reads both
