"""Write the analysis as files: runs.csv, summary.csv, trend.csv, failures.csv, analysis.json.

Every file is written to a temporary file in the same folder and renamed
over the old one, so a reader sees either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from seedsweep.records import write_json_atomic

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
    # The temporary file behind an atomic write is private (mode 0600);
    # a report is meant to be shared, so it gets the umask's usual mode.
    path.chmod(default_file_mode())
    written.append(path)
    return written


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV without its index; NaN becomes an empty field."""
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, default_file_mode())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def default_file_mode() -> int:
    """Return the mode a plain ``open(path, "w")`` would give a new file (0666 less the umask)."""
    # os.umask can only be read by setting it; it is set back at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
