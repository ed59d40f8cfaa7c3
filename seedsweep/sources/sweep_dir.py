"""Load a seedsweep sweep dir: the plan, the ledger and the per-job records.

The ledger ``seedsweep/runs.jsonl`` is read first. Per-job records
(``<job dir>/seedsweep.json``) complete it: they stand in for jobs the
ledger lacks, for lines it lost, and for runs finished after its last line.
The sweeper runs a job again only when its last ledger line is ``crashed``
or ``missing``, so the folder of a job whose line is final (``ok``,
``diverged``, ``invalid``) is not read. Jobs that wrote no record, and jobs
of the plan that never started, become ``missing`` runs, so every job of the
sweep has a row.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Union

from seedsweep.records import FINISHED_STATUSES
from seedsweep.records import RECORD_FILE
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import read_jsonl
from seedsweep.records import read_record
from seedsweep.sources._common import DEFAULT_SEED_KEY
from seedsweep.sources._common import JobFolder
from seedsweep.sources._common import Problems
from seedsweep.sources._common import Run
from seedsweep.sources._common import absolute_job_dir
from seedsweep.sources._common import build_table
from seedsweep.sources._common import check_seed
from seedsweep.sources._common import find_job_folders
from seedsweep.sources._common import job_number_from_folder
from seedsweep.sources._common import missing_run
from seedsweep.sources._common import parse_overrides
from seedsweep.sources._common import paused_gc
from seedsweep.sources._common import read_overrides
from seedsweep.sources._common import read_started
from seedsweep.sources._common import run_from_record
from seedsweep.sources._common import started_reason
from seedsweep.sources._metric import apply_metrics_file
from seedsweep.sources._metric import recorded_metric
from seedsweep.sources._metric import settle_metric
from seedsweep.sources._metric import summarize

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

OUTPUT_FOLDER = "seedsweep"
LEDGER_FILE = "runs.jsonl"
PLAN_FILE = "plan.json"

# The sweep settings plan.json carries into runs.attrs["seedsweep"].
_PLAN_SETTINGS = ("groups", "baseline", "scale", "t_threshold", "verdict_rule")

# A job is known by its number, or by its folder when it has none.
JobKey = Union[int, str]


def is_sweep_dir(path: Path) -> bool:
    """Tell whether ``path`` contains a seedsweep plan or ledger."""
    output = path / OUTPUT_FOLDER
    return (output / PLAN_FILE).is_file() or (output / LEDGER_FILE).is_file()


@paused_gc()
def load_sweep_dir(
    sweep_dir: Path,
    *,
    metric: str | None,
    metrics_file: str | None,
    seed_key: str | None,
    direction: str | None,
    divergence: float | None,
) -> pd.DataFrame:
    """Load every run of a seedsweep sweep dir into the run table.

    The seed key the plan recorded wins over ``seed_key``, because the
    records already carry their seed. ``seed_key`` is used only without a
    readable plan.json, to read the seed of a job that left no record from
    its overrides.
    """
    problems = Problems()
    plan = _read_plan(sweep_dir, problems)
    ledger = _read_ledger(sweep_dir, problems)
    settled = _settled_folders(sweep_dir, ledger)
    folders = _read_folders(sweep_dir, plan, settled, problems)
    seed_key = _choose_seed_key(plan.get("seed_key"), seed_key, sweep_dir)

    runs = _merge(sweep_dir, plan, ledger, folders, settled, seed_key)
    recorded = plan.get("metric") or recorded_metric(runs)
    direction = direction or _recorded_direction(plan.get("direction"), recorded, metric)
    if metrics_file is not None:
        runs = apply_metrics_file(runs, metrics_file, metric, direction, divergence, problems)

    analysed, bound = settle_metric(
        runs,
        metric=metric,
        recorded=recorded,
        direction=direction,
        divergence=divergence,
        recorded_divergence=plan.get("divergence"),
        source=str(sweep_dir),
    )
    attrs = {
        **{key: plan.get(key) for key in _PLAN_SETTINGS if key in plan},
        "metric": analysed,
        "direction": direction,
        "seed_key": seed_key,
        "divergence": bound,
        "source": str(sweep_dir),
        "unreadable": problems.lines,
    }
    log.info("loaded %s from %s", summarize(runs), sweep_dir)
    return build_table(runs, list(plan.get("params") or {}), attrs, [analysed] if analysed else [])


def _recorded_direction(planned: str | None, recorded: str | None, metric: str | None) -> str:
    """Return the sweep's direction when it applies to the analysed metric, else minimize."""
    if metric is None or recorded is None or metric == recorded:
        return planned or "minimize"
    log.warning(
        "the sweep's direction (%s) is for %s, so %s is analysed as lower is better, the default. "
        "Pass --direction maximize (direction='maximize' in Python) if higher is better",
        planned or "minimize",
        recorded,
        metric,
    )
    return "minimize"


def _choose_seed_key(recorded: str | None, requested: str | None, sweep_dir: Path) -> str:
    if recorded and requested and requested != recorded:
        log.warning(
            "%s recorded its seeds under %r; the seed key %r is ignored", sweep_dir, recorded, requested
        )
    return recorded or requested or DEFAULT_SEED_KEY


# ---------------------------------------------------------------- plan and ledger


def _read_plan(sweep_dir: Path, problems: Problems) -> dict[str, Any]:
    """Read plan.json; a missing or unreadable plan gives an empty mapping."""
    path = sweep_dir / OUTPUT_FOLDER / PLAN_FILE
    if not path.is_file():
        return {}
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problems.add(f"{path}: unreadable sweep plan ({error}); settings fall back to the defaults")
        return {}
    if not isinstance(plan, dict) or not isinstance(plan.get("jobs", []), list):
        problems.add(f"{path}: not a seedsweep plan (expected a mapping with a 'jobs' list)")
        return {}
    return plan


def _read_ledger(sweep_dir: Path, problems: Problems) -> dict[JobKey, RunRecord]:
    """Read the ledger; for a job listed more than once, the last line wins."""
    path = sweep_dir / OUTPUT_FOLDER / LEDGER_FILE
    if not path.is_file():
        return {}

    rows, unreadable = read_jsonl(path)
    for line in unreadable:
        problems.add(line.describe())

    records: dict[JobKey, RunRecord] = {}
    for row in rows:
        try:
            record = RunRecord.from_dict(row)
        except (AttributeError, TypeError, ValueError) as error:
            # from_dict raises AttributeError or TypeError on fields of the wrong type.
            problems.add(f"{path}: job {row.get('job')!r}: not a readable run record ({error})")
            continue
        records[_record_key(record, sweep_dir)] = record
    return records


def _planned_jobs(plan: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Return the plan's jobs by job number, skipping entries that are not jobs."""
    jobs = plan.get("jobs", [])
    return {job["job"]: job for job in jobs if isinstance(job, dict) and isinstance(job.get("job"), int)}


def _record_key(record: RunRecord, sweep_dir: Path) -> JobKey:
    if record.job is not None:
        return record.job
    return absolute_job_dir(record.job_dir, sweep_dir) or "?"


# ---------------------------------------------------------------- job folders


@dataclass
class _FolderState:
    """The record and job number found in one job folder."""

    folder: JobFolder
    record: RunRecord | None
    record_error: str | None
    job: int | None


def _read_folders(
    sweep_dir: Path, plan: dict[str, Any], settled: dict[int, str], problems: Problems
) -> dict[JobKey, _FolderState]:
    """Read every job folder not in ``settled``, keyed by job number (or by path when the number is unknown).

    When another folder names a settled job, both folders are read and
    compared, and the job is removed from ``settled``.
    """
    by_overrides = {frozenset(job.get("overrides") or ()): number for number, job in _planned_jobs(plan).items()}
    skip = {os.path.basename(job_dir) for job_dir in settled.values()}

    states: dict[JobKey, _FolderState] = {}
    for folder in find_job_folders(sweep_dir, skip=skip):
        state = _read_folder(folder, by_overrides, problems)
        key: JobKey = state.job if state.job is not None else folder.resolved
        if key in settled:
            settled_folder = _settled_folder(sweep_dir, settled.pop(key))
            states[key] = _read_folder(settled_folder, by_overrides, problems)
        previous = states.get(key)
        if previous is None or _started_at(state.record) >= _started_at(previous.record):
            states[key] = state
    return states


def _settled_folder(sweep_dir: Path, job_dir: str) -> JobFolder:
    """Make the job folder of a settled job from its resolved path."""
    return JobFolder(sweep_dir / os.path.basename(job_dir), job_dir)


def _settled_folders(sweep_dir: Path, ledger: dict[JobKey, RunRecord]) -> dict[int, str]:
    """Find the job folders, directly in the sweep dir, of jobs whose ledger line is final.

    Returns:
        Each such job's folder as an absolute path with symbolic links
        resolved. The paths are plain strings, because making a Path for
        every job took longer than the scan itself.

    NOTE: a record written into such a folder by anything but the sweeper
    after the job's ledger line (a job run again by hand) is not read, and
    an unreadable record there is not reported.
    """
    names = {
        record.job_dir: job
        for job, record in ledger.items()
        if isinstance(job, int) and record.status in FINISHED_STATUSES and record.job_dir
    }
    if not names:
        return {}

    resolved_top = str(sweep_dir.resolve())
    settled: dict[int, str] = {}
    try:
        with os.scandir(sweep_dir) as entries:
            for entry in entries:
                job = names.get(entry.name)
                if job is not None and entry.is_dir(follow_symlinks=False):
                    settled[job] = os.path.join(resolved_top, entry.name)
    except OSError:
        return {}
    return settled


def _read_folder(folder: JobFolder, by_overrides: dict[frozenset, Any], problems: Problems) -> _FolderState:
    record = None
    error = None
    record_file = folder.record_file
    if record_file.is_file():
        try:
            record = read_record(record_file)
        except (AttributeError, OSError, TypeError, ValueError) as exc:
            error = str(exc)
            problems.add(f"{record_file}: unreadable record ({error})")

    job = record.job if record is not None else None
    if job is None:
        job = read_started(folder).get("job")
    if job is None and folder.overrides_file.is_file():
        job = by_overrides.get(frozenset(_overrides_or_empty(folder)))
    if job is None:
        job = job_number_from_folder(folder.path)
    return _FolderState(folder, record, error, job if isinstance(job, int) else None)


def _overrides_or_empty(folder: JobFolder) -> list[str]:
    try:
        return read_overrides(folder)
    except (OSError, ValueError):
        return []


def _started_at(record: RunRecord | None) -> str:
    # ISO 8601 times in one time zone sort as text.
    return (record.started_at or "") if record is not None else ""


# ---------------------------------------------------------------- merging


def _merge(
    sweep_dir: Path,
    plan: dict[str, Any],
    ledger: dict[JobKey, RunRecord],
    folders: dict[JobKey, _FolderState],
    settled: dict[int, str],
    seed_key: str,
) -> list[Run]:
    """Build one run per job of the plan, the ledger or the folders, ordered by job."""
    planned = _planned_jobs(plan)
    keys = list(dict.fromkeys([*planned, *ledger, *folders]))

    runs = []
    for key in sorted(keys, key=_job_order):
        state = folders.get(key)
        record = _newer(ledger.get(key), state.record if state else None)
        if record is not None:
            runs.append(_run_from_chosen(record, state, settled.get(key), sweep_dir))
        elif state is not None:
            runs.append(_run_without_record(state, planned.get(key), seed_key))
        else:
            job = planned[key]
            runs.append(missing_run(key, None, job.get("seed"), job.get("params") or {}, "never ran"))

    for run in runs:
        _use_planned_params(run, planned.get(run.job), seed_key)
        run.seed = check_seed(run.seed, f"job {run.job} ({run.job_dir})")
    return runs


def _use_planned_params(run: Run, planned: dict[str, Any] | None, seed_key: str) -> None:
    """Give a run the plan's parameters, which contain only the swept ones.

    A record's parameters are every override of the job, the seed and fixed
    overrides included. Without a plan, only the seed is dropped from them.
    """
    if planned is not None:
        run.params = dict(planned.get("params") or {})
        if run.seed is None:
            run.seed = planned.get("seed")
    else:
        run.params.pop(seed_key, None)


def _job_order(key: JobKey) -> tuple[int, int, str]:
    return (0, key, "") if isinstance(key, int) else (1, 0, key)


def _newer(ledger_record: RunRecord | None, folder_record: RunRecord | None) -> RunRecord | None:
    """Choose between the ledger's record of a job and the one in its folder.

    The ledger wins, unless its record is ``missing`` or the folder's
    record is from a later start (a rerun the ledger did not gather).
    """
    if ledger_record is None or folder_record is None:
        return ledger_record or folder_record
    if ledger_record.status == RunStatus.MISSING:
        return folder_record
    if _started_at(folder_record) > _started_at(ledger_record):
        return folder_record
    return ledger_record


def _run_from_chosen(
    record: RunRecord, state: _FolderState | None, settled_dir: str | None, sweep_dir: Path
) -> Run:
    if state is not None:
        job_dir = state.folder.resolved
    elif settled_dir is not None:
        job_dir = settled_dir
    else:
        job_dir = absolute_job_dir(record.job_dir, sweep_dir)
    return run_from_record(record, job_dir)


def _run_without_record(state: _FolderState, planned: dict[str, Any] | None, seed_key: str) -> Run:
    """Describe a job folder with no readable record as a ``missing`` run."""
    folder = state.folder
    if state.record_error is not None:
        reason = f"unreadable record {folder.record_file.name} ({state.record_error})"
    elif folder.started_file.is_file():
        reason = started_reason(read_started(folder))
    else:
        reason = f"no {RECORD_FILE} in {folder.path}: the job wrote no record"

    seed, params = _seed_and_params(folder, planned, seed_key)
    return missing_run(state.job, folder.resolved, seed, params, reason)


def _seed_and_params(
    folder: JobFolder, planned: dict[str, Any] | None, seed_key: str
) -> tuple[Any, dict[str, Any]]:
    """Find a job's seed and parameters from the plan, else from its overrides."""
    if planned is not None:
        return planned.get("seed"), dict(planned.get("params") or {})

    overrides = _overrides_or_empty(folder)
    params = parse_overrides(overrides, str(folder.overrides_file)) if overrides else {}
    return params.pop(seed_key, None), params
