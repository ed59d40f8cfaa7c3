"""Load a plain Hydra multirun dir, as written by any sweeper and launcher.

Each job folder contains ``.hydra/overrides.yaml``: Hydra's own parser turns
it into the job's parameters, and the ``seed_key`` override is the seed.
The metrics come from the seedsweep callback's record (``seedsweep.json``)
when the job has one, or from a metrics file the task wrote in its folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from seedsweep.records import RECORD_FILE
from seedsweep.records import read_record
from seedsweep.sources._common import DEFAULT_SEED_KEY
from seedsweep.sources._common import JobFolder
from seedsweep.sources._common import Problems
from seedsweep.sources._common import Run
from seedsweep.sources._common import SourceError
from seedsweep.sources._common import build_table
from seedsweep.sources._common import check_seed
from seedsweep.sources._common import find_job_folders
from seedsweep.sources._common import job_number_from_folder
from seedsweep.sources._common import missing_run
from seedsweep.sources._common import paused_gc
from seedsweep.sources._common import parse_overrides
from seedsweep.sources._common import read_overrides
from seedsweep.sources._common import read_started
from seedsweep.sources._common import run_from_record
from seedsweep.sources._common import started_reason
from seedsweep.sources._metric import check_metrics_file_found
from seedsweep.sources._metric import keeps_record_status
from seedsweep.sources._metric import recorded_metric
from seedsweep.sources._metric import run_from_metrics_file
from seedsweep.sources._metric import settle_metric
from seedsweep.sources._metric import summarize

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MULTIRUN_FILE = "multirun.yaml"


def is_hydra_multirun(path: Path) -> bool:
    return (path / MULTIRUN_FILE).is_file()


@paused_gc()
def load_hydra_dir(
    sweep_dir: Path,
    *,
    metric: str | None,
    metrics_file: str | None,
    seed_key: str | None,
    direction: str | None,
    divergence: float | None,
) -> pd.DataFrame:
    """Load every job folder of a Hydra multirun dir into the run table."""
    folders = [folder for folder in find_job_folders(sweep_dir) if folder.overrides_file.is_file()]
    if not folders:
        raise SourceError(
            f"{sweep_dir} has a {MULTIRUN_FILE} but no job folder with .hydra/overrides.yaml; "
            f"pass the folder the jobs wrote to (hydra.sweep.dir), or run the sweep first"
        )
    if metrics_file is not None:
        check_metrics_file_found([str(folder.path) for folder in folders], metrics_file)
    else:
        _check_records_written(sweep_dir, folders)

    problems = Problems()
    seed_key = seed_key or DEFAULT_SEED_KEY
    # The divergence bound turns with the direction; minimize is the default.
    bound_direction = direction or "minimize"
    runs = []
    for folder in folders:
        run = _run_from_folder(folder, seed_key, problems)
        if metrics_file is not None and _wants_metrics_file(run, folder):
            path = folder.path / metrics_file
            run = run_from_metrics_file(run, path, metric, bound_direction, divergence, problems)
        runs.append(run)
    _check_seeds_found(runs, sweep_dir, seed_key)

    analysed, bound = settle_metric(
        runs,
        metric=metric,
        recorded=recorded_metric(runs),
        direction=bound_direction,
        divergence=divergence,
        recorded_divergence=None,
        source=str(sweep_dir),
    )
    attrs = {
        "metric": analysed,
        "direction": direction,
        "seed_key": seed_key,
        "divergence": bound,
        "source": str(sweep_dir),
        "unreadable": problems.lines,
    }
    log.info("loaded %s from %s", summarize(runs), sweep_dir)
    return build_table(runs, [], attrs, [analysed] if analysed else [])


def _check_records_written(sweep_dir: Path, folders: list[JobFolder]) -> None:
    """Raise when no job wrote a seedsweep record or started marker.

    Raises:
        SourceError: the jobs ran without the seedsweep callback, so the
            metrics can only come from a file the task wrote.
    """
    if any(folder.record_file.is_file() or folder.started_file.is_file() for folder in folders):
        return
    raise SourceError(
        f"the jobs in {sweep_dir} wrote no {RECORD_FILE} (the seedsweep callback was not on); "
        f"name the metrics file each job writes in its folder with --metrics-file "
        f"(a JSON or YAML mapping, or a CSV whose last row is read)"
    )


def _run_from_folder(folder: JobFolder, seed_key: str, problems: Problems) -> Run:
    """Build a job's run: parameters and seed from its overrides, outcome from its record."""
    job_dir = folder.resolved
    job = job_number_from_folder(folder.path)
    try:
        params = parse_overrides(read_overrides(folder), str(folder.overrides_file))
    except (OSError, ValueError) as error:
        problems.add(f"{folder.overrides_file}: unreadable overrides ({error})")
        return missing_run(job, job_dir, None, {}, f"unreadable .hydra/overrides.yaml ({error})")

    seed = params.pop(seed_key, None)
    run = _run_from_record_file(folder, job_dir, problems)
    run.params = params
    run.seed = check_seed(seed if seed is not None else run.seed, f"job {job_dir}")
    if run.job is None:
        run.job = job
    return run


def _run_from_record_file(folder: JobFolder, job_dir: str, problems: Problems) -> Run:
    """Read a job's outcome from its record; without a readable one the run is ``missing``."""
    if folder.record_file.is_file():
        try:
            return run_from_record(read_record(folder.record_file), job_dir)
        except (AttributeError, OSError, TypeError, ValueError) as error:
            # from_dict raises AttributeError or TypeError on fields of the wrong type.
            problems.add(f"{folder.record_file}: unreadable record ({error})")
            return missing_run(None, job_dir, None, {}, f"unreadable record {RECORD_FILE} ({error})")

    if folder.started_file.is_file():
        return missing_run(None, job_dir, None, {}, started_reason(read_started(folder)))
    return missing_run(None, job_dir, None, {}, f"no {RECORD_FILE} in {job_dir}")


def _wants_metrics_file(run: Run, folder: JobFolder) -> bool:
    """Tell whether a job's metrics file, not its record, decides its outcome.

    A job that started under the callback but wrote no record was killed,
    and a record of a crash or a raised error is final, so those runs keep their
    status. Every other job is classified from its metrics file.
    """
    killed = folder.started_file.is_file() and not folder.record_file.is_file()
    return not killed and not (folder.record_file.is_file() and keeps_record_status(run))


def _check_seeds_found(runs: list[Run], sweep_dir: Path, seed_key: str) -> None:
    """Raise when no job has a seed, which means ``seed_key`` names no override.

    Raises:
        SourceError: no job sets ``seed_key``; the message lists the keys found.
    """
    if any(run.seed is not None for run in runs):
        return
    keys = sorted({key for run in runs for key in run.params})
    raise SourceError(
        f"no job in {sweep_dir} sets {seed_key!r} (override keys: {', '.join(keys) or 'none'}); "
        f"pass the config key of the seed with --seed-key"
    )
