"""Loaders that turn every supported source into the run table.

The run table (docs/run-table.md) has one row per run: job, job folder,
seed, one column per parameter and per metric, status, reason, error type
and duration. ``load_runs`` picks the loader from the source:

- a seedsweep sweep dir (``seedsweep/plan.json`` or ``seedsweep/runs.jsonl``
  inside): ``sweep_dir``;
- a plain Hydra multirun dir (``multirun.yaml`` and job folders with
  ``.hydra/overrides.yaml``): ``hydra_dir``;
- a table file (``.csv``, ``.parquet``, ``.jsonl``) or a pandas DataFrame:
  ``table``;
- an Optuna storage URL (``sqlite:///optuna.db``), or any source given with
  ``study``: ``seedsweep.optuna_io``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Sequence

from seedsweep.records import RunStatus
from seedsweep.sources._common import OVERRIDES_FILE
from seedsweep.sources._common import Run
from seedsweep.sources._common import SourceError
from seedsweep.sources._common import build_table
from seedsweep.sources._common import check_direction
from seedsweep.sources._common import check_divergence
from seedsweep.sources._common import find_job_folders
from seedsweep.sources._metric import settle_metric
from seedsweep.sources.hydra_dir import is_hydra_multirun
from seedsweep.sources.hydra_dir import load_hydra_dir
from seedsweep.sources.sweep_dir import OUTPUT_FOLDER
from seedsweep.sources.sweep_dir import is_sweep_dir
from seedsweep.sources.sweep_dir import load_sweep_dir
from seedsweep.sources.table import load_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SourceError", "load_runs", "looks_like_study"]

log = logging.getLogger(__name__)

# Files that seedsweep.optuna_io opens as Optuna storages: SQLite, then journal.
STUDY_FILE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".log", ".journal")


def load_runs(
    source: str | Path | pd.DataFrame,
    *,
    metric: str | None = None,
    seed_key: str | None = None,
    metrics_file: str | None = None,
    study: str | None = None,
    direction: str | None = None,
    divergence: float | None = None,
    params: Sequence[str] = (),
) -> pd.DataFrame:
    """Load the runs of a sweep, a table or an Optuna study into the run table.

    Args:
        source: a sweep dir, a Hydra multirun dir, a table file, a
            DataFrame, or an Optuna storage URL.
        metric: the metric to analyse. When it differs from the metric the
            sweep ran for, every run that finished is classified again for
            it: NaN or inf is ``diverged``, no value ``invalid``.
        seed_key: the config key (or table column) that contains the seed;
            it becomes the ``seed`` column. None means the key the sweep or
            study recorded, else ``"seed"``. A seedsweep sweep dir always
            uses the key its plan recorded.
        metrics_file: a file each job wrote in its folder (JSON or YAML
            mapping, or CSV whose last row is read), read instead of the
            run record for the metrics of jobs that did not crash.
        study: the Optuna study name, for a storage that contains several.
        direction: ``minimize`` or ``maximize``; overrides the recorded one
            and turns the divergence bound.
        divergence: a bound in the metric's units beyond which a finite
            value counts as diverged.
        params: table columns to read as parameters whatever their type
            (see ``seedsweep.sources.table`` for the rule otherwise).

    Returns:
        The run table, with what the source records about the sweep in
        ``attrs["seedsweep"]``.

    Raises:
        SourceError: the source does not exist, is of no known kind, or
            contains input that cannot be read. The message names the fix.
        seedsweep.optuna_io.StudyError: the Optuna storage or study cannot
            be read.
    """
    check_direction(direction)
    check_divergence(divergence)
    options = {"metric": metric, "seed_key": seed_key, "direction": direction, "divergence": divergence}

    if _is_frame(source):
        return load_table(source, params=params, **options)
    if looks_like_study(source, study):
        return _load_study(str(source), study, metric, seed_key, direction, divergence)

    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(
            f"{path} does not exist; pass a sweep dir, a Hydra multirun dir, "
            f"a table (.csv, .parquet, .jsonl) or an Optuna storage URL"
        )
    if path.is_file():
        if metrics_file is not None:
            raise SourceError(f"--metrics-file applies to sweep dirs, and {path} is a file; drop it")
        return load_table(path, params=params, **options)
    return _load_dir(path, metrics_file=metrics_file, **options)


def looks_like_study(source: Any, study: str | None) -> bool:
    """Tell whether a source is an Optuna storage.

    It is one when a study name is given, when it is a URL
    (``sqlite:///optuna.db``, ``journal:///runs.log``), or when it names an
    SQLite or journal file by its extension.
    """
    if study is not None or "://" in str(source):
        return True
    return Path(str(source)).suffix.lower() in STUDY_FILE_SUFFIXES


def _is_frame(source: Any) -> bool:
    # A DataFrame exists only once pandas is imported, so pandas is not imported here.
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(source, pandas.DataFrame)


def _load_dir(path: Path, **options: Any) -> pd.DataFrame:
    """Pick the loader for a folder.

    Raises:
        SourceError: the folder is empty, a single Hydra run, or no sweep.
    """
    if path.name == OUTPUT_FOLDER and is_sweep_dir(path.parent):
        path = path.parent
    if is_sweep_dir(path):
        return load_sweep_dir(path, **options)
    if is_hydra_multirun(path):
        return load_hydra_dir(path, **options)
    if (path / OVERRIDES_FILE).is_file():
        raise SourceError(
            f"{path} is the output folder of a single Hydra run, not a multirun; "
            f"pass the sweep dir (hydra.sweep.dir) of a run started with --multirun"
        )

    folders = find_job_folders(path)
    if any(folder.record_file.is_file() or folder.started_file.is_file() for folder in folders):
        log.warning("%s has seedsweep records but no seedsweep/runs.jsonl; loading the records", path)
        return load_sweep_dir(path, **options)
    if folders:
        log.warning("%s has Hydra job folders but no multirun.yaml; loading them as a multirun", path)
        return load_hydra_dir(path, **options)

    if not any(path.iterdir()):
        raise SourceError(f"{path} is empty; pass the sweep dir the jobs wrote to (hydra.sweep.dir)")
    raise SourceError(
        f"{path} contains no sweep: no seedsweep/runs.jsonl, no multirun.yaml and no job folder "
        f"with .hydra/overrides.yaml; pass the sweep dir (hydra.sweep.dir) or a table file"
    )


def _load_study(
    storage: str,
    study: str | None,
    metric: str | None,
    seed_key: str | None,
    direction: str | None,
    divergence: float | None,
) -> pd.DataFrame:
    """Load an Optuna study, and classify its runs again for another metric or bound."""
    from seedsweep import optuna_io

    runs = optuna_io.load_study_runs(storage, study, seed_key=seed_key)
    if metric is None and divergence is None and direction is None:
        return runs
    return _reclassified_frame(runs, metric, direction, divergence)


def _reclassified_frame(
    frame: pd.DataFrame, metric: str | None, direction: str | None, divergence: float | None
) -> pd.DataFrame:
    """Classify the runs of a finished run table again for ``metric`` and ``divergence``."""
    attrs = dict(frame.attrs.get("seedsweep", {}))
    params = list(attrs.get("params") or [])
    metrics = list(attrs.get("metrics") or [])
    runs = [_run_from_row(row, params, metrics, attrs.get("metric")) for row in frame.to_dict("records")]

    direction = direction or attrs.get("direction") or "minimize"
    analysed, bound = settle_metric(
        runs,
        metric=metric,
        recorded=attrs.get("metric"),
        direction=direction,
        divergence=divergence,
        recorded_divergence=attrs.get("divergence"),
        source=str(attrs.get("source", "the study")),
    )
    attrs.update({"metric": analysed, "direction": direction, "divergence": bound})
    return build_table(runs, params, attrs, metrics)


def _run_from_row(row: dict[str, Any], params: list[str], metrics: list[str], recorded: str | None) -> Run:
    return Run(
        job=_none_if_missing(row.get("job")),
        job_dir=_none_if_missing(row.get("job_dir")),
        seed=_none_if_missing(row.get("seed")),
        params={name: row.get(name) for name in params},
        status=RunStatus(row["status"]),
        metrics={name: float(row[name]) for name in metrics if _none_if_missing(row.get(name)) is not None},
        reason=_none_if_missing(row.get("reason")),
        error_type=_none_if_missing(row.get("error_type")),
        duration=_none_if_missing(row.get("duration")),
        classified_for=recorded,
    )


def _none_if_missing(value: Any) -> Any:
    """Map pandas' missing markers (NA, NaT) to None.

    NaN stays NaN: a metric cell of NaN is classified as ``diverged``.
    NOTE: the run table cannot tell a NaN the run produced from no value,
    so an ``ok`` run with no value for the analysed metric also becomes
    ``diverged`` here, where a record would make it ``invalid``.
    """
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value
