"""Analyse a seedsweep sweep dir from its records and write its report.

The end of a sweep and ``seedsweep report DIR`` both come here, so a report
regenerated later is the one the sweep wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Mapping

if TYPE_CHECKING:
    from seedsweep.stats import Analysis

log = logging.getLogger(__name__)


def report_sweep(
    sweep_dir: Path, out_dir: Path | None = None, options: Mapping[str, Any] | None = None
) -> Analysis | None:
    """Load the sweep's runs, analyse them with the recorded settings and write the report.

    Args:
        sweep_dir: ``hydra.sweep.dir`` of a seedsweep sweep.
        out_dir: where the report goes; default ``<sweep_dir>/seedsweep``.
        options: the sweeper's ``report`` settings (formats, plots,
            figure_formats, terminal).

    Returns:
        The analysis, or None when the runs cannot be analysed (for example
        every run failed). Then only runs.csv is written and a WARNING gives the reason.
    """
    from seedsweep.report import terminal_summary
    from seedsweep.report import write_report
    from seedsweep.report.terminal import print_text
    from seedsweep.sources import load_runs
    from seedsweep.stats import AnalysisError
    from seedsweep.stats import analyze

    options = dict(options or {})
    out_dir = Path(out_dir) if out_dir is not None else Path(sweep_dir) / "seedsweep"
    runs = load_runs(Path(sweep_dir))

    try:
        analysis = analyze(runs)
    except AnalysisError as error:
        out_dir.mkdir(parents=True, exist_ok=True)
        runs.to_csv(out_dir / "runs.csv", index=False)
        log.warning(f"No analysis for {sweep_dir}: {error}. The runs are listed in {out_dir / 'runs.csv'}.")
        return None

    write_report(
        analysis,
        runs,
        out_dir,
        formats=tuple(options.get("formats", ("md", "html"))),
        plots=bool(options.get("plots", True)),
        figure_formats=tuple(options.get("figure_formats", ("png",))),
    )
    if options.get("terminal", True):
        print_text(terminal_summary(analysis, out_dir))
    return analysis
