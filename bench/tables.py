"""Numbers as text: the plain-text tables the benchmarks print and the Markdown tables
of ``docs/benchmarks.md``, with one way of rounding for both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    """A figure as a table shows it: three significant digits below 10, thousands
    separated above 1,000; lists and dicts compactly."""
    if isinstance(value, bool) or value is None:
        return {None: "-", True: "yes", False: "no"}[value]
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return " ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items())
    return str(value)


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in first-seen order."""
    found: list[str] = []
    for row in rows:
        found += [key for key in row if key not in found]
    return found


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of ``rows``."""
    if not rows:
        return "(no rows)"
    names = columns(rows)
    cells = [[cell(row.get(c)) for c in names] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(names)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (pipes in cells escaped)."""
    if not rows:
        return "(no rows)"
    names = columns(rows)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        values = [cell(row.get(c)).replace("|", "\\|").replace("\n", " ") for c in names]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)
