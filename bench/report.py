"""The table: rows, ratios and the number formats every section uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure, and the figure it is compared with, side by side."""

    section: str
    measure: str
    ours: str
    baseline: str = ""  # what `other` was measured on
    other: str = ""
    ratio: str = ""  # other ÷ ours


@dataclass(frozen=True)
class Table:
    """A further table after the main one: a heading, its columns, its rows (already formatted)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


HEADER = ("", "measure", "pypi-edge", "compared with", "their figure", "ratio (theirs ÷ ours)")


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` took (monotonic clock)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(other: float, ours: float) -> str:
    if ours == 0:
        return "∞" if other else "—"
    value = other / ours
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


def seconds(value: float) -> str:
    """A duration with a unit that keeps three significant digits readable."""
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def count(value: float) -> str:
    return f"{value:,.0f}"


def size(value: float) -> str:
    """Bytes: exact below 10 kB, else in KiB/MiB/GiB with the exact count alongside."""
    if value < 10_000:
        return f"{value:,.0f} B"
    unit, scale = next((u, f) for u, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if value >= f)
    return f"{value / scale:,.1f} {unit} ({value:,.0f} B)"


def dollars(value: float) -> str:
    if value < 0.01:
        return f"${value:.4f}"
    if value < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]
    return lines


def render(title: str, rows: Sequence[Row], notes: Sequence[str], tables: Sequence[Table] = ()) -> str:
    """The Markdown document: a heading, the table, further tables, then numbered notes."""
    cells = [(r.section, r.measure, r.ours, r.baseline, r.other, r.ratio) for r in rows]
    lines = [f"# {title}", "", *_markdown(HEADER, cells), ""]
    for table in tables:
        lines += [f"### {table.title}", "", *_markdown(table.header, table.rows), ""]
    lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"
