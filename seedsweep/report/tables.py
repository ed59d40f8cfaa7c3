"""Write the analysis as files: runs.csv, summary.csv, trend.csv, failures.csv, analysis.json.

Every file is written to a temporary file in the same folder and renamed
over the old one, so a reader sees either the old file or the new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from seedsweep.records import write_json_atomic
from seedsweep.records import write_text_atomic

if TYPE_CHECKING:
    import pandas as pd

    from seedsweep.stats import Analysis

TABLE_FILES = ("runs.csv", "summary.csv", "trend.csv", "failures.csv", "analysis.json")


def write_tables(analysis: Analysis, runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write the run table, the analysis tables and analysis.json into ``out_dir``.

    runs.csv has every row of the run table; failures.csv has every run that
    is not ok and every missing grid cell, as the analysis lists them.

    Returns:
        The paths written, in the order of ``TABLE_FILES``.
    """
    out_dir = Path(out_dir)
    frames = {
        "runs.csv": runs,
        "summary.csv": analysis.summary,
        "trend.csv": analysis.trend,
        "failures.csv": analysis.failures,
    }
    written = []
    for name, frame in frames.items():
        written.append(write_csv(frame, out_dir / name))

    path = out_dir / "analysis.json"
    write_json_atomic(path, analysis.to_json())
    written.append(path)
    return written


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV without its index; NaN becomes an empty field."""
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    return path
