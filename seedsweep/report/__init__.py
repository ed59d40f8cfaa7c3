"""The human report of an analysis: files in a folder, and a terminal summary.

``write_report`` writes, into one folder::

    report.md, report.html   the summary paragraphs, tables, figures, run index
    runs.csv                 every run of the run table
    summary.csv, trend.csv   the analysis tables
    failures.csv             every run that is not ok, and every missing cell
    analysis.json            the whole analysis (``Analysis.to_json``)
    figures/*.png            one set of figures per (study parameter, group)

``terminal_summary`` returns the compact text printed at the end of a sweep.
The submodules load lazily, so importing this package stays cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Sequence

if TYPE_CHECKING:
    import pandas as pd

    from seedsweep.stats import Analysis

log = logging.getLogger(__name__)

REPORT_FORMATS = ("md", "html")
FIGURES_DIR = "figures"
REPORT_FILES = tuple(f"report.{fmt}" for fmt in REPORT_FORMATS)

__all__ = ["REPORT_FORMATS", "terminal_summary", "write_report"]


def write_report(
    analysis: Analysis,
    runs: pd.DataFrame,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("md", "html"),
    plots: bool = True,
    figure_formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Write the report, the tables and the figures of an analysis into ``out_dir``.

    Args:
        analysis: the result of ``seedsweep.stats.analyze``.
        runs: the run table the analysis was computed from (every run,
            failed ones included).
        out_dir: the report folder, created when absent. Report files already
            in it are replaced, and figures of an earlier report are deleted.
        formats: report formats to write, ``md`` and/or ``html``. The CSV and
            JSON files are always written.
        plots: draw the figures into ``out_dir/figures``.
        figure_formats: figure file formats, ``png`` and/or ``svg``.

    Returns:
        Every file written: the tables, analysis.json, the figures, then the
        reports.

    Raises:
        ValueError: an unknown report or figure format.
    """
    from seedsweep.plots import FIGURE_FORMATS
    from seedsweep.plots import draw_figures
    from seedsweep.report import html
    from seedsweep.report import markdown
    from seedsweep.report.document import build_document
    from seedsweep.report.tables import write_tables
    from seedsweep.records import write_text_atomic

    _check_formats("report format", formats, REPORT_FORMATS)
    _check_formats("figure format", figure_formats, FIGURE_FORMATS)
    out_dir = Path(out_dir)
    if (out_dir / "analysis.json").exists():
        log.info("replacing the report in %s", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    written = write_tables(analysis, runs, out_dir)
    _remove_old_figures(out_dir / FIGURES_DIR)

    figures = []
    if plots:
        figures = draw_figures(analysis, runs, out_dir / FIGURES_DIR, figure_formats)
        written += [path for figure in figures for path in figure.paths]

    names = [path.name for path in written if path.parent == out_dir]
    document = build_document(analysis, runs, out_dir, figures, names)
    renderers = {"md": markdown.render, "html": html.render}
    for fmt in formats:
        path = out_dir / f"report.{fmt}"
        write_text_atomic(path, renderers[fmt](document))
        written.append(path)

    log.info("wrote the report to %s (%d files)", out_dir, len(written))
    return written


def _remove_old_figures(figures_dir: Path) -> None:
    """Delete the figures of an earlier report, which the new report would not link.

    Only files named as seedsweep names its figures (``paired_lr.png``) are
    deleted, and other files in the folder stay.
    """
    from seedsweep.plots import FIGURE_FORMATS
    from seedsweep.plots import FIGURE_TITLES

    if not figures_dir.is_dir():
        return
    for fmt in FIGURE_FORMATS:
        for kind in FIGURE_TITLES:
            for path in figures_dir.glob(f"{kind}_*.{fmt}"):
                path.unlink()


def _check_formats(kind: str, formats: Sequence[str], known: Sequence[str]) -> None:
    if isinstance(formats, str):
        raise ValueError(
            f"{kind}s must be a list such as {list(known)!r}, got the string {formats!r}"
        )
    for fmt in formats:
        if fmt not in known:
            raise ValueError(f"unknown {kind} {fmt!r}; use one of: {', '.join(known)}")


def terminal_summary(
    analysis: Analysis, out_dir: str | Path | None = None, *, color: bool | None = None
) -> str:
    """Return the compact summary printed at the end of a sweep (at most 100 columns).

    It has, per (study parameter, group), a table of value, complete seeds,
    failed runs, mean metric, mean z, t, p and verdict, then the trend line;
    then the summary's first paragraph and the report's path.

    Args:
        analysis: the result of ``seedsweep.stats.analyze``.
        out_dir: the report folder; its report.html (else report.md) is named
            at the end. None leaves the path out.
        color: ANSI colours on (True) or off (False); None colours when
            stdout is a terminal and the NO_COLOR environment variable is unset.

    Returns:
        The text, ending with a newline.
    """
    from seedsweep.report import terminal

    return terminal.render(analysis, None if out_dir is None else Path(out_dir), color=color)
