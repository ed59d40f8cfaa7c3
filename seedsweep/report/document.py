"""The report's content, built once and rendered as markdown and as html.

Both renderers walk the same ``Document``, so report.md and report.html
hold the same paragraphs, tables and figures; only the markup differs.
Every table cell is already formatted text (or a ``Link``).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import Sequence
from typing import Union

from seedsweep.plots import FigureFile
from seedsweep.plots import section_values
from seedsweep.plots import sections
from seedsweep.report import prose
from seedsweep.report.text import first_line
from seedsweep.report.text import format_fixed
from seedsweep.report.text import format_number
from seedsweep.report.text import format_p
from seedsweep.report.text import format_t
from seedsweep.report.text import format_value
from seedsweep.report.text import interval_decimals
from seedsweep.report.text import is_missing
from seedsweep.report.text import parse_group
from seedsweep.report.text import section_title
from seedsweep.report.text import value_label

if TYPE_CHECKING:
    import pandas as pd

    from seedsweep.stats import Analysis


class Link(NamedTuple):
    """A table cell that links to a file or folder, relative to the report."""

    text: str
    href: str


Cell = Union[str, Link]


class Table(NamedTuple):
    """A titled table of formatted cells; ``empty_text`` replaces it when it has no rows."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    empty_text: str = ""


class FigureRef(NamedTuple):
    """A figure of the report: ``href`` for markdown, ``file`` to embed in html."""

    title: str
    href: str
    file: Path | None
    error: str | None = None


class Section(NamedTuple):
    """One (study parameter, group): its tables and figures."""

    title: str
    tables: tuple[Table, ...]
    figures: tuple[FigureRef, ...]


class Document(NamedTuple):
    """Everything the report shows, in reading order.

    The notes (warnings such as an interaction between swept parameters)
    follow the first summary paragraph.
    """

    title: str
    summary: tuple[str, ...]
    notes: tuple[str, ...]
    sections: tuple[Section, ...]
    run_index: Table
    files: tuple[Link, ...]


def build_document(
    analysis: Analysis,
    runs: pd.DataFrame,
    out_dir: Path,
    figures: Sequence[FigureFile] = (),
    files: Sequence[str] = (),
) -> Document:
    """Build the report's content from the analysis, the run table and the drawn figures.

    Args:
        analysis: the result of ``seedsweep.stats.analyze``.
        runs: the run table the analysis was computed from.
        out_dir: the folder the report is written to; links are relative to it.
        figures: the figures drawn by ``seedsweep.plots.draw_figures``.
        files: names of the other files in ``out_dir`` (CSV, JSON) to list.

    Returns:
        The document, ready for ``markdown.render`` and ``html.render``.
    """
    params = ", ".join(dict.fromkeys(param for param, _ in sections(analysis)))
    return Document(
        title=f"seedsweep report: {analysis.settings['metric']} by {params}",
        summary=tuple(prose.summary_paragraphs(analysis)),
        notes=tuple(str(note) for note in analysis.notes),
        sections=tuple(
            _section(analysis, param, group, out_dir, figures)
            for param, group in sections(analysis)
        ),
        run_index=run_index_table(analysis, runs, out_dir),
        files=tuple(Link(name, urllib.parse.quote(name)) for name in files),
    )


def _section(
    analysis: Analysis, param: str, group: str, out_dir: Path, figures: Sequence[FigureFile]
) -> Section:
    chosen = [figure for figure in figures if (figure.param, figure.group) == (param, group)]
    return Section(
        title=section_title(param, group),
        tables=(
            summary_table(analysis, param, group),
            trend_table(analysis, param, group),
            failures_table(analysis, param, group, out_dir),
        ),
        figures=tuple(_figure_ref(figure, out_dir) for figure in chosen),
    )


def _figure_ref(figure: FigureFile, out_dir: Path) -> FigureRef:
    title = f"{figure.title} ({section_title(figure.param, figure.group)})"
    if not figure.paths:
        return FigureRef(title, "", None, figure.error or "not drawn")
    preferred = sorted(figure.paths, key=lambda path: path.suffix != ".png")[0]
    href = Path(os.path.relpath(preferred, out_dir)).as_posix()
    return FigureRef(title, urllib.parse.quote(href), preferred)


# ---------------------------------------------------------------- section tables


def summary_table(analysis: Analysis, param: str, group: str) -> Table:
    """Tabulate each value of a section: counts, means, t, p, verdict, effect."""
    metric = analysis.settings["metric"]
    rows = _rows(analysis.summary, param, group)
    by_value = prose.failures_by_value(analysis, param, group)
    reference = rows["reference"].iloc[0] if len(rows) else None
    effect_column = f"effect vs {value_label(param, reference)} (95% CI)"
    if is_missing(reference):
        effect_column = "effect (95% CI)"

    cells = []
    for row in rows.itertuples(index=False):
        failed = sum(by_value.get(row.value, {}).values())
        cells.append((
            format_value(row.value) + (" (ref)" if _is_reference(row) else ""),
            str(int(row.n)),
            f"{int(row.n_ok)}/{int(row.n_ok) + failed}",
            format_number(row.mean_metric, 4, keep_zeros=True),
            format_number(row.std_metric, 2),
            format_fixed(row.mean_z, 2),
            format_t(row.t),
            format_p(row.p),
            format_p(row.p_holm),
            str(row.verdict_text),
            _effect_cell(row),
            "" if is_missing(row.seeds_needed) else str(int(row.seeds_needed)),
        ))
    columns = (
        param, "complete seeds", "ok/runs", f"mean {metric}", f"sd {metric}", "mean z",
        "t", "p", "p (Holm)", "verdict", effect_column, "seeds needed",
    )
    return Table("Values", columns, tuple(cells), "No values.")


def _is_reference(row: Any) -> bool:
    return not is_missing(row.reference) and row.value == row.reference


def _effect_cell(row: Any) -> str:
    if _is_reference(row):
        return "reference"
    if is_missing(row.effect):
        return format_number(row.effect)
    decimals = interval_decimals(row.effect_low, row.effect_high)
    effect = format_fixed(row.effect, decimals)
    if float(row.effect) > 0:
        effect = "+" + effect
    low = format_fixed(row.effect_low, decimals)
    high = format_fixed(row.effect_high, decimals)
    return f"{effect} ({low} to {high})"


def trend_table(analysis: Analysis, param: str, group: str) -> Table:
    """Tabulate the section's trend, or state why none was fitted."""
    rows = _rows(analysis.trend, param, group)
    metric = analysis.settings["metric"]
    cells = []
    for row in rows.itertuples(index=False):
        unit = f"per decade of {param}" if str(row.scale) == "log" else f"per unit of {param}"
        cells.append((
            str(row.trend_text),
            str(row.scale),
            format_number(row.r, 2),
            format_p(row.r_p),
            format_t(row.slope_t),
            format_p(row.slope_p),
            f"{format_number(row.slope)} {metric} {unit}",
            format_number(row.spearman_rho, 2),
            "yes" if bool(row.clean) else "no",
        ))
    columns = (
        "trend", "scale", "pooled r", "p (r)", "per-seed slope t", "p (slope)",
        "slope", "Spearman rho", "clean dose-response",
    )
    return Table("Trend", columns, tuple(cells), prose.trend_sentence(analysis, param, group))


def failures_table(analysis: Analysis, param: str, group: str, out_dir: Path) -> Table:
    """Tabulate every failed run and missing cell of a section."""
    values = section_values(analysis, param, group)
    order = {value: index for index, value in enumerate(values)}
    rows = _rows(analysis.failures, param, group)
    ordered = sorted(
        rows.itertuples(index=False),
        key=lambda row: (order.get(row.value, len(order)), int(row.seed)),
    )

    cells = tuple(
        (
            format_value(row.value),
            str(int(row.seed)),
            str(row.status),
            first_line(row.reason),
            job_cell(row.job_dir, out_dir),
        )
        for row in ordered
    )
    return Table("Failures", (param, "seed", "status", "reason", "job"), cells, "No failed runs.")


def _rows(frame: pd.DataFrame, param: str, group: str) -> pd.DataFrame:
    return frame[(frame["param"] == param) & (frame["group"] == group)]


# ---------------------------------------------------------------- run index


def run_index_table(analysis: Analysis, runs: pd.DataFrame, out_dir: Path) -> Table:
    """List every run, then every missing cell that has no row in the run table."""
    params = index_params(analysis, runs)
    metric = analysis.settings["metric"]
    cells = []
    seen = set()
    for row in runs.to_dict("records"):
        texts = tuple(format_value(row[param]) for param in params)
        seen.add(_cell_key(texts, row["seed"]))
        cells.append((
            *texts,
            str(int(row["seed"])),
            str(row["status"]),
            format_number(row.get(metric), 6),
            first_line(row.get("reason")),
            job_cell(row.get("job_dir"), out_dir),
        ))

    for texts, seed in _missing_cells(analysis, params):
        if _cell_key(texts, seed) in seen:
            continue
        seen.add(_cell_key(texts, seed))
        cells.append((*texts, str(seed), "missing", format_number(None), "no run record", "-"))

    columns = (*params, "seed", "status", metric, "reason", "job")
    return Table("Run index", columns, tuple(cells), "No runs.")


def index_params(analysis: Analysis, runs: pd.DataFrame) -> list[str]:
    """Return the parameter columns of the run index: study parameters, then group keys."""
    settings = analysis.settings
    attrs = runs.attrs.get("seedsweep", {}) if hasattr(runs, "attrs") else {}
    names = [*_as_list(settings.get("params")), *_as_list(settings.get("groups"))]
    names += _as_list(attrs.get("params"))
    names += [param for param, _ in sections(analysis)]
    return [name for name in dict.fromkeys(names) if name in runs.columns]


def _as_list(names: Any) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return [str(name) for name in names]


def _missing_cells(analysis: Analysis, params: list[str]) -> list[tuple[tuple[str, ...], int]]:
    missing = analysis.failures[analysis.failures["status"].astype(str) == "missing"]
    cells = []
    for row in missing.itertuples(index=False):
        known = dict(parse_group(str(row.group)))
        known[str(row.param)] = format_value(row.value)
        texts = tuple(_normal(known.get(param, "")) for param in params)
        cells.append((texts, int(row.seed)))
    return cells


def _cell_key(texts: tuple[str, ...], seed: Any) -> tuple[Any, ...]:
    return (*(_normal(text) for text in texts), int(seed))


def _normal(text: str) -> str:
    # Group labels may write 0.1 as "0.1" or 1e-05 as "1e-05": compare as numbers.
    try:
        return format_value(float(text))
    except ValueError:
        return text


def job_cell(job_dir: Any, out_dir: Path) -> Cell:
    """Return a link to a run's job folder, relative to the report when possible."""
    if is_missing(job_dir) or not str(job_dir):
        return "-"
    path = Path(str(job_dir))
    if not path.is_absolute():
        # NOTE: the run table stores absolute job folders. A relative one is
        # linked as it is, which is right only when it is relative to out_dir.
        return Link(path.name or str(path), urllib.parse.quote(path.as_posix()))
    try:
        href = Path(os.path.relpath(path, Path(out_dir).resolve())).as_posix()
    except ValueError:
        # On Windows a job folder on another drive has no relative path.
        return Link(path.name, path.as_uri())
    return Link(path.name, urllib.parse.quote(href))
