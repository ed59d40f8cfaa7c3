"""Pieces every loader shares: the run, job folders, overrides and the table builder.

A loader turns its source into a list of ``Run`` objects, one per run, and
``build_table`` turns that list into the run table (docs/run-table.md).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import math
import os
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Collection
from typing import Iterable
from typing import Iterator
from typing import Mapping
from typing import Sequence

from seedsweep.records import RECORD_FILE
from seedsweep.records import STARTED_FILE
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import first_line

if TYPE_CHECKING:
    import pandas as pd
    from hydra.core.override_parser.overrides_parser import OverridesParser

log = logging.getLogger(__name__)

DIRECTIONS = ("minimize", "maximize")

# The config key or table column of the seed when neither the user nor the sweep names one.
DEFAULT_SEED_KEY = "seed"

# Columns of the run table that are neither parameters nor metrics.
RESERVED_COLUMNS = ("job", "job_dir", "seed", "status", "reason", "error_type", "duration")

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"

# Sub-folders of a sweep dir that never contain job folders.
_SKIPPED_FOLDERS = frozenset(
    {".hydra", ".submitit", ".git", "__pycache__", "seedsweep", "seedsweep.attempts"}
)


class SourceError(ValueError):
    """A source that cannot be loaded; the message names the value and the fix."""


@dataclass
class Run:
    """One row of the run table before it becomes a DataFrame.

    ``metrics`` contains only the metrics the run produced: a key that is
    absent means no value, a NaN value means the run produced NaN.
    ``classified_for`` is the metric the status was decided for (None: the
    task's single number, or every number it returned).
    """

    job: int | None
    job_dir: str | None
    seed: Any
    params: dict[str, Any]
    status: RunStatus
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    error_type: str | None = None
    duration: float | None = None
    classified_for: str | None = None


def run_from_record(record: RunRecord, job_dir: str | None) -> Run:
    """Make a run from a run record, with ``job_dir`` already made absolute."""
    metrics = dict(record.metrics)
    if record.metric is not None and record.value is not None:
        metrics.setdefault(record.metric, record.value)

    return Run(
        job=record.job,
        job_dir=job_dir,
        seed=record.seed,
        params=dict(record.params),
        status=record.status,
        metrics=metrics,
        reason=record.reason,
        error_type=record.error_type,
        duration=record.duration,
        classified_for=record.metric,
    )


def missing_run(
    job: int | None, job_dir: str | None, seed: Any, params: Mapping[str, Any], reason: str
) -> Run:
    return Run(job, job_dir, seed, dict(params), RunStatus.MISSING, reason=reason)


def absolute_job_dir(job_dir: str | None, sweep_dir: Path) -> str | None:
    """Resolve a record's ``job_dir``, which is relative to the sweep dir when inside it."""
    if job_dir is None:
        return None
    path = Path(job_dir)
    if not path.is_absolute():
        path = sweep_dir / path
    return str(path.resolve())


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, then restore its previous state.

    A loader keeps several small containers per job alive until the table is
    built, and each full collection walks all of them again. Pausing only
    delays the collection of reference cycles made meanwhile. The collector
    is process-wide, so other threads run without it for that time too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------- problems


class Problems:
    """Every record, ledger line or file that could not be read, in one line each.

    Each one is logged as a WARNING when added; the list ends up in
    ``runs.attrs["seedsweep"]["unreadable"]``.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        log.warning("%s", line)
        self.lines.append(line)


# ---------------------------------------------------------------- job folders


@dataclass(frozen=True)
class JobFolder:
    """A folder that looks like one job's output folder.

    ``path`` is as found below the sweep dir, ``resolved`` the same folder
    as an absolute path with symbolic links resolved.
    """

    path: Path
    resolved: str

    @property
    def record_file(self) -> Path:
        return self.path / RECORD_FILE

    @property
    def started_file(self) -> Path:
        return self.path / STARTED_FILE

    @property
    def overrides_file(self) -> Path:
        return self.path / OVERRIDES_FILE


def is_job_folder(path: Path) -> bool:
    return (
        (path / RECORD_FILE).is_file()
        or (path / STARTED_FILE).is_file()
        or (path / OVERRIDES_FILE).is_file()
    )


def find_job_folders(sweep_dir: Path, skip: Collection[str] = ()) -> list[JobFolder]:
    """Find the job folders below ``sweep_dir``, at any depth, in path order.

    A folder is a job folder when it contains a run record, a started marker or
    ``.hydra/overrides.yaml``. The search neither lists nor descends into a
    job folder, so checkpoints and logs a job writes are not walked. Symbolic
    links to folders are not followed, as in ``os.walk``.

    Args:
        sweep_dir: the folder to search.
        skip: names of folders directly in ``sweep_dir`` to leave out.
    """
    # The search enters only real folders, never symbolic links, so joining a
    # folder's relative path to the resolved sweep dir resolves it. Path.resolve
    # would call lstat on every part of every path.
    top = os.fspath(sweep_dir)
    resolved_top = str(sweep_dir.resolve())
    found: list[JobFolder] = []
    candidates = [path for path in _subfolders(top) if os.path.basename(path) not in skip]
    while candidates:
        path = candidates.pop()
        folder_path = Path(path)
        if not is_job_folder(folder_path):
            candidates.extend(_subfolders(path))
            continue
        relative = path[len(top) :].lstrip(os.sep)
        found.append(JobFolder(folder_path, os.path.join(resolved_top, relative)))
    return sorted(found, key=_natural_key)


def _subfolders(path: str) -> list[str]:
    """List the sub-folders of ``path`` that may contain job folders, or none when it cannot be read."""
    try:
        with os.scandir(path) as entries:
            return [entry.path for entry in entries if entry.name not in _SKIPPED_FOLDERS and _is_real_folder(entry)]
    except OSError:
        return []


def _is_real_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _natural_key(folder: JobFolder) -> list[Any]:
    """Sort ``2`` before ``10`` in folder names, as Hydra numbers its jobs."""
    parts: list[Any] = []
    for part in folder.path.parts:
        parts.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return parts


def job_number_from_folder(path: Path) -> int | None:
    """Return the job number of a folder named as Hydra's default ``${hydra.job.num}``."""
    return int(path.name) if path.name.isdigit() else None


def read_overrides(folder: JobFolder) -> list[str]:
    """Read a job's ``.hydra/overrides.yaml``.

    Raises:
        ValueError: the file is not a YAML list of strings.
        OSError: the file cannot be read.
    """
    import yaml

    # libyaml's loader, when PyYAML has it, parses a job's overrides about 3 times as fast.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        overrides = yaml.load(folder.overrides_file.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as error:
        raise ValueError(f"invalid YAML ({first_line(str(error))})") from None
    if overrides is None:
        return []
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise ValueError("not a YAML list of override strings")
    return overrides


def read_started(folder: JobFolder) -> dict[str, Any]:
    """Read a started marker; an unreadable one gives an empty mapping."""
    try:
        data = json.loads(folder.started_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def started_reason(started: Mapping[str, Any]) -> str:
    """Describe a job that wrote a started marker but no record."""
    when = f" at {started['started_at']}" if started.get("started_at") else ""
    host = f" on {started['host']}" if started.get("host") else ""
    return f"started{when}{host} but wrote no record (killed or interrupted)"


# ---------------------------------------------------------------- overrides


@functools.lru_cache(maxsize=1)
def _overrides_parser() -> OverridesParser:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def parse_overrides(overrides: Sequence[str], where: str) -> dict[str, Any]:
    """Turn a job's override strings into ``{key: typed value}`` with Hydra's parser.

    ``+x`` and ``++x`` become ``x``; ``~x`` (a deletion) is left out.

    Raises:
        SourceError: an override does not parse.
    """
    from hydra.errors import HydraException

    try:
        parsed = _overrides_parser().parse_overrides(list(overrides))
    except HydraException as error:
        raise SourceError(
            f"cannot parse the overrides {list(overrides)} of {where}: {first_line(str(error))}"
        ) from None

    params: dict[str, Any] = {}
    for override in parsed:
        if override.is_delete() or override.is_sweep_override():
            continue
        key = override.key_or_group
        if override.package:
            key = f"{key}@{override.package}"
        params[key] = override.value()
    return params


def metric_names(runs: Iterable[Run]) -> list[str]:
    """Return every metric any run produced, in first-seen order."""
    names: dict[str, None] = {}
    for run in runs:
        for name in run.metrics:
            names.setdefault(name, None)
    return list(names)



def check_direction(direction: str | None) -> None:
    if direction is not None and direction not in DIRECTIONS:
        raise SourceError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def check_divergence(divergence: Any) -> None:
    if divergence is None:
        return
    is_number = isinstance(divergence, (int, float)) and not isinstance(divergence, bool)
    if not is_number or not math.isfinite(divergence):
        raise SourceError(f"divergence must be a finite number in the metric's units, got {divergence!r}")


# ---------------------------------------------------------------- the table


def build_table(
    runs: Sequence[Run],
    params: Sequence[str],
    attrs: Mapping[str, Any],
    metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """Build the run table from runs.

    Args:
        runs: one per row, in the order the rows should have.
        params: the parameter columns in sweep order; parameters found in
            the runs but not listed follow in first-seen order.
        attrs: the sweep settings the source records; ``params`` and
            ``metrics`` are filled in here.
        metrics: metric columns the table must have even when no run has a
            value for them; metrics found in the runs follow.

    Raises:
        SourceError: a parameter or metric name clashes with a table column.
    """
    import pandas as pd

    param_names = _ordered_names(params, (run.params for run in runs))
    metrics = _ordered_names(metrics, (run.metrics for run in runs))
    _check_names(param_names, metrics)
    param_values = {name: [_hashable(run.params.get(name)) for run in runs] for name in param_names}
    for name, values in param_values.items():
        check_param_types(name, values)

    columns: dict[str, Any] = {
        "job": pd.array([run.job for run in runs], dtype="Int64"),
        "job_dir": _objects(run.job_dir for run in runs),
        "seed": _seed_column([run.seed for run in runs]),
    }
    for name, values in param_values.items():
        columns[name] = _param_column(values)
    for name in metrics:
        columns[name] = pd.array([float(run.metrics.get(name, math.nan)) for run in runs], dtype="float64")
    columns["status"] = _objects(run.status.value for run in runs)
    columns["reason"] = _objects(run.reason for run in runs)
    columns["error_type"] = _objects(run.error_type for run in runs)
    columns["duration"] = pd.array([_float_or_nan(run.duration) for run in runs], dtype="float64")

    table = pd.DataFrame(columns)
    table.attrs["seedsweep"] = {**attrs, "params": param_names, "metrics": metrics}
    return table


def _ordered_names(first: Sequence[str], mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {name: None for name in first}
    for mapping in mappings:
        for name in mapping:
            names.setdefault(name, None)
    return list(names)


def _check_names(params: Sequence[str], metrics: Sequence[str]) -> None:
    for name in params:
        if name in RESERVED_COLUMNS:
            raise SourceError(
                f"parameter {name!r} has the name of a run table column; "
                f"if it is the seed, pass --seed-key {name}, else rename it"
            )
    for name in metrics:
        if name in RESERVED_COLUMNS or name in params:
            raise SourceError(
                f"metric {name!r} has the name of a parameter or run table column; rename the metric"
            )


def _objects(values: Iterable[Any]) -> Any:
    import pandas as pd

    # A Series of dtype object keeps None as None under pandas 2 and 3 alike.
    # Pandas 3 would turn a bare list of strings into its str dtype, with NaN for None.
    return pd.Series(list(values), dtype=object)


def _seed_column(seeds: list[Any]) -> Any:
    import pandas as pd

    if all(isinstance(seed, int) for seed in seeds):
        return pd.array(seeds, dtype="int64")
    return pd.array([seed if isinstance(seed, int) else None for seed in seeds], dtype="Int64")


def _param_column(values: list[Any]) -> Any:
    """Make a parameter's column from its values, already passed through ``_hashable``."""
    import pandas as pd

    kinds = {value_kind(value) for value in values if value is not None}
    if kinds == {"int"} and None not in values:
        return pd.array(values, dtype="int64")
    if kinds <= {"int", "float"} and kinds and None not in values:
        return pd.array([float(value) for value in values], dtype="float64")
    if kinds == {"bool"} and None not in values:
        return pd.array(values, dtype="bool")
    return _objects(values)


def _hashable(value: Any) -> Any:
    """Turn a list or mapping value into its compact JSON text, so it can form groups."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return value


def value_kind(value: Any) -> str:
    """Name the type of one cell: int, float, bool, str or other."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def check_param_types(name: str, values: Iterable[Any]) -> None:
    """Raise when one parameter mixes numbers, booleans and text.

    Raises:
        SourceError: the values are of more than one kind (int and float
            count as one kind, and None is ignored).
    """
    examples: dict[str, Any] = {}
    for value in values:
        if value is None:
            continue
        kind = value_kind(value)
        kind = "number" if kind in ("int", "float") else kind
        examples.setdefault(kind, value)
    if len(examples) > 1:
        shown = ", ".join(f"{value!r} ({kind})" for kind, value in examples.items())
        raise SourceError(
            f"parameter {name!r} mixes value types: {shown}; give all its values one type "
            f"(for text, quote the numbers)"
        )


def _float_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def check_seed(value: Any, where: str) -> int | None:
    """Return a seed as an int; None stays None.

    Raises:
        SourceError: the seed is not a whole number.
    """
    if value is None:
        return None
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        raise SourceError(f"seed of {where} is {value!r}; seeds must be whole numbers")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise SourceError(f"seed of {where} is {value!r}; seeds must be whole numbers")
