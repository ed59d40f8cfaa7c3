"""The end-of-sweep summary printed to the terminal, at most 100 columns wide."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from seedsweep.plots import sections
from seedsweep.report import prose
from seedsweep.report.text import format_fixed
from seedsweep.report.text import format_number
from seedsweep.report.text import format_p
from seedsweep.report.text import format_t
from seedsweep.report.text import format_value
from seedsweep.report.text import is_missing
from seedsweep.report.text import p_equals
from seedsweep.report.text import section_title
from seedsweep.report.text import shorten
from seedsweep.report.text import shorten_values
from seedsweep.report.text import trend_direction

if TYPE_CHECKING:
    from seedsweep.stats import Analysis

WIDTH = 100
VALUE_WIDTH = 24

VERDICT_WORDS = {
    "reliably_better": "better",
    "reliably_worse": "worse",
    "suggestive_better": "maybe better",
    "suggestive_worse": "maybe worse",
    "inconsistent": "inconsistent",
    "no_effect": "no effect",
    "undetermined": "one seed",
    "no_data": "no data",
}

RESET = "\033[0m"
BOLD = "\033[1m"
VERDICT_COLORS = {
    "reliably_better": "\033[32m",
    "reliably_worse": "\033[31m",
    "suggestive_better": "\033[33m",
    "suggestive_worse": "\033[33m",
    "inconsistent": "\033[33m",
}


def use_color(color: bool | None) -> bool:
    """Resolve ``color``: None means colour when stdout is a terminal and NO_COLOR is unset."""
    if color is not None:
        return color
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def print_text(text: str) -> None:
    """Print to stdout; when the reader has closed the pipe (``| head``), drop the rest of the output.

    The records and the report are already written by then, so a closed
    pipe must not turn a finished sweep into a failed one.
    """
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would fail again when it flushes stdout at exit, so stdout becomes /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def render(analysis: Analysis, out_dir: Path | None = None, *, color: bool | None = None) -> str:
    """Return the terminal summary: a table and trend per section, the overview, the path."""
    colored = use_color(color)
    blocks = [section_block(analysis, param, group, colored) for param, group in sections(analysis)]
    blocks.append(textwrap.fill(prose.overview_paragraph(analysis), WIDTH))
    if out_dir is not None:
        blocks.append(f"Report: {report_path(Path(out_dir))}")
    return "\n\n".join(blocks) + "\n"


def report_path(out_dir: Path) -> Path:
    """Return report.html in ``out_dir``, else report.md, else the folder itself."""
    for name in ("report.html", "report.md"):
        if (out_dir / name).exists():
            return out_dir / name
    return out_dir


def section_block(analysis: Analysis, param: str, group: str, colored: bool) -> str:
    """Return one section: its heading, the table of values and the trend line."""
    summary = analysis.summary
    rows = summary[(summary["param"] == param) & (summary["group"] == group)]
    by_value = prose.failures_by_value(analysis, param, group)
    metric = str(analysis.settings["metric"])

    lines = [_heading(analysis, param, group, colored)]
    labels = shorten_values([format_value(value) for value in rows["value"]], VALUE_WIDTH)
    table = [
        _table_row(row, label, by_value)
        for row, label in zip(rows.itertuples(index=False), labels)
    ]
    widths = _value_width(table)
    header = ("value", "n", "failed", shorten(f"mean {metric}", 13), "mean_z", "t", "p", "verdict")
    lines.append(_style(_format_row(header, widths), BOLD, colored))
    for cells, verdict in table:
        lines.append(_style(_format_row(cells, widths), VERDICT_COLORS.get(verdict, ""), colored))
    lines.append(textwrap.fill(_trend_line(analysis, param, group), WIDTH))
    return "\n".join(lines)


def _heading(analysis: Analysis, param: str, group: str, colored: bool) -> str:
    groups = analysis.groups
    rows = groups[(groups["param"] == param) & (groups["group"] == group)]
    row = next(rows.itertuples(index=False))
    direction = "higher" if analysis.settings.get("direction") == "maximize" else "lower"
    text = (
        f"{section_title(param, group)}: {analysis.settings['metric']}, {direction} is better, "
        f"{len(row.complete_seeds)} of {row.n_seeds} seeds complete"
    )
    return _style(shorten(text, WIDTH), BOLD, colored)


def _table_row(
    row: Any, label: str, by_value: dict[Any, dict[str, int]]
) -> tuple[tuple[str, ...], str]:
    failed = sum(by_value.get(row.value, {}).values())
    value = label
    if not is_missing(row.reference) and row.value == row.reference:
        value = shorten(label, VALUE_WIDTH - len(" (ref)")) + " (ref)"
    verdict = str(row.verdict)
    cells = (
        value,
        str(int(row.n)),
        f"{failed}/{int(row.n_ok) + failed}",
        format_number(row.mean_metric, 4, keep_zeros=True),
        format_fixed(row.mean_z, 2),
        format_t(row.t),
        format_p(row.p),
        _verdict_words(row),
    )
    return cells, verdict


def _verdict_words(row: Any) -> str:
    words = VERDICT_WORDS.get(str(row.verdict), str(row.verdict))
    if str(row.verdict).startswith("reliably") and not bool(row.holm_significant):
        return f"{words} (no Holm)"
    return words


def _value_width(table: list[tuple[tuple[str, ...], str]]) -> tuple[int, ...]:
    longest = max([len("value")] + [len(cells[0]) for cells, _ in table])
    return (min(longest, VALUE_WIDTH), 3, 7, 13, 7, 7, 7, 16)


def _format_row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    parts = [shorten(cells[0], widths[0]).ljust(widths[0])]
    for cell, width in zip(cells[1:-1], widths[1:-1]):
        parts.append(shorten(cell, width).rjust(width))
    parts.append(shorten(cells[-1], widths[-1]))
    return "  ".join(parts)


def _trend_line(analysis: Analysis, param: str, group: str) -> str:
    trend = analysis.trend
    rows = trend[(trend["param"] == param) & (trend["group"] == group)]
    if rows.empty:
        return "trend: " + prose.trend_sentence(analysis, param, group)
    row = next(rows.itertuples(index=False))
    direction = trend_direction(param, str(analysis.settings["metric"]), row.r)
    shape = "clean dose-response" if bool(row.clean) else "not a clean dose-response"
    numbers = f"r = {float(row.r):.2f}, per-seed slope {p_equals(row.slope_p)}"
    return f"trend: {direction}, {shape} ({numbers})"


def _style(text: str, code: str, colored: bool) -> str:
    if not colored or not code:
        return text
    return f"{code}{text}{RESET}"
