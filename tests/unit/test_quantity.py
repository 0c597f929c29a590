"""parse_quantity (api/quantity.py): a table of the grammar's corners, and the same value as the
official client's parser for every quantity the grammar makes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bulkhead.api.quantity import parse_quantity
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity as official_parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("-1", Decimal(-1)),
        ("+1k", Decimal(1000)),
        ("100n", Decimal("1E-7")),
        ("3u", Decimal("3E-6")),
        ("2Ki", Decimal(2048)),
        ("1Gi", Decimal(1073741824)),
        ("64Ti", Decimal(64 * 1024**4)),
        ("1Ei", Decimal(1024**6)),
        ("1E", Decimal(10**18)),  # exa, not an exponent
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("25e-2", Decimal("0.25")),
        ("1e+2", Decimal(100)),
    ],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "m", "1K", "1ki", "1mi", "1 Gi", " 1", "1e", "1.2.3", "0x10", "NaN", "1_000"]
)
def test_a_text_outside_the_grammar_is_refused(text):
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


digits = st.text("0123456789", min_size=1, max_size=30)
numbers = st.one_of(
    digits,
    st.builds(lambda a, b: f"{a}.{b}", digits, st.text("0123456789", max_size=12)),
    st.builds(lambda b: f".{b}", digits),
)
suffixes = st.one_of(
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E"]),
    st.sampled_from(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
    st.builds(
        lambda e, sign, n: f"{e}{sign}{n}",
        st.sampled_from("eE"),
        st.sampled_from(["", "+", "-"]),
        st.integers(0, 99),
    ),
)


@given(st.sampled_from(["", "+", "-"]), numbers, suffixes)
def test_the_same_value_as_the_official_parser(sign, number, suffix):
    text = f"{sign}{number}{suffix}"
    assert parse_quantity(text) == official_parse_quantity(text)
