"""Pure: rows of text laid out as `kubectl get` lays them out, for every command's tables."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> str:
    """Returns `header` over `rows`, columns padded to their widest cell, three spaces apart, as
    `kubectl get` prints them."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
