"""Kubernetes quantities (k8s.io/apimachinery/pkg/api/resource): the one grammar, as the pattern
the CRDs check and the models validate with, and the parser that reads a quantity as an exact
Decimal.

Ours and not kubernetes.utils.quantity's: importing that runs kubernetes/__init__, which imports
the whole generated client (10 MiB of the operator's RSS; docs/design-decisions.md).
"""

from __future__ import annotations

import re
from decimal import Decimal

# <number> then an optional suffix: binary SI (Ki, Mi, ...), decimal SI (n, u, m, k, M, ...) or
# a decimal exponent. Exponents have at most two digits: "1e1000" is a typo, not a size (the
# API server would cap it at 2^63-1 and make a Job with it).
_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
_SUFFIX = r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]{1,2}))"
# A quantity a spec may hold: the grammar without the sign, as a negative limit or size is never
# what anyone means. The same text is a Python, a JSON-schema and a CEL (RE2) pattern.
QUANTITY_PATTERN = rf"^{_NUMBER}{_SUFFIX}?$"
_UNSIGNED = re.compile(QUANTITY_PATTERN)
_SIGNED = re.compile(rf"[+-]?{_NUMBER}{_SUFFIX}?")
# A suffix's power of its base: 1024 for binary SI (Ki, Mi, ...), 1000 for decimal (k, M, ...).
POWERS = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def check_quantity(value: str | int) -> str:
    """Returns the text of `value`, given a quantity a spec may hold (unsigned, e.g. 500m, 1,
    2Gi); raises ValueError for anything else."""
    text = str(value)
    if not _UNSIGNED.match(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 1, 2Gi)")
    return text


def parse_quantity(quantity: str | int) -> Decimal:
    """The value of a quantity as an exact Decimal: "500m" is 0.5, "2Gi" 2147483648, "1e3" 1000,
    "-1" -1, an int itself. Raises ValueError for a text outside the grammar (like "1K", "1.5 Gi"
    or "1e100"). The same value as kubernetes.utils.quantity.parse_quantity for every text it
    accepts (tests/unit/test_quantity.py)."""
    if isinstance(quantity, int):
        return Decimal(quantity)
    if _SIGNED.fullmatch(quantity) is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    if quantity.endswith("i"):
        return Decimal(quantity[:-2]) * Decimal(1024) ** POWERS[quantity[-2]]
    if quantity[-1] in POWERS:
        return Decimal(quantity[:-1]) * Decimal(1000) ** POWERS[quantity[-1]]
    return Decimal(quantity)  # a plain number, or one with an exponent: Decimal reads both
