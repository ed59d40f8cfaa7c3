"""Load a tidy table of runs: CSV, Parquet, JSON lines, or a pandas DataFrame.

One row per run. The ``seed_key`` column is required and becomes ``seed``.
Optional columns with the run table's own names are read as such: ``job``,
``job_dir``, ``status``, ``reason``, ``error_type`` and ``duration``.

Every other column is a parameter or a metric, by this rule:

1. a column named in ``params`` is a parameter, and the column named by
   ``metric`` is a metric;
2. a column of text or booleans is a parameter;
3. a numeric column is a parameter when it has no empty, NaN or inf cell
   and each of its values occurs with at least two different seeds. Every
   value of a swept parameter repeats across seeds, and a metric's values
   rarely do. Any other numeric column is a metric.

The rule can misjudge a table with one seed, where no value repeats, or a
coarse metric whose few values all repeat: name the columns with
``params`` and ``metric`` (``--param``, ``--group-by`` and ``--metric`` on
the command line) to decide them.

Without a ``status`` column, a row's status comes from the metric (or from
every metric column when none is named): an empty cell is ``missing``, NaN
or inf is ``diverged``, text is ``invalid``. A ``status`` column takes
precedence, except that an ``ok`` row is checked the same way, with an
empty cell as ``invalid``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Callable
from typing import Sequence

from seedsweep.records import RunStatus
from seedsweep.records import as_number
from seedsweep.records import check_value
from seedsweep.sources._common import DEFAULT_SEED_KEY
from seedsweep.sources._common import RESERVED_COLUMNS
from seedsweep.sources._common import Run
from seedsweep.sources._common import SourceError
from seedsweep.sources._common import build_table
from seedsweep.sources._common import check_seed
from seedsweep.sources._common import value_kind
from seedsweep.sources._metric import summarize

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# A column name and its cells, None for an empty cell.
Columns = dict[str, list[Any]]

_STATUSES = tuple(status.value for status in RunStatus)


def load_table(
    source: Path | pd.DataFrame,
    *,
    metric: str | None,
    params: Sequence[str],
    seed_key: str | None,
    direction: str | None,
    divergence: float | None,
) -> pd.DataFrame:
    """Load a table file or a DataFrame into the run table.

    Raises:
        SourceError: the file cannot be read, lacks the seed column, or has
            invalid cells (the message names the column and the row).
    """
    seed_key = seed_key or DEFAULT_SEED_KEY
    if isinstance(source, Path):
        columns = read_table_file(source)
        name = str(source)
    else:
        columns = _columns_from_frame(source)
        name = "the DataFrame"
    _check_columns(columns, name, seed_key, metric, params)

    seeds = _read_seeds(columns.pop(seed_key), name)
    param_names, metric_names = split_columns(columns, seeds, metric, params)
    analysed = metric
    if analysed is None and len(metric_names) == 1:
        analysed = metric_names[0]
    if divergence is not None and analysed is None:
        raise SourceError(
            f"a divergence bound needs a metric, and {name} has {len(metric_names)} metric columns "
            f"({', '.join(metric_names) or 'none'}); name one with --metric"
        )

    rows = _RowReader(columns, name)
    targets = [analysed] if analysed is not None else metric_names
    bound = (divergence, direction or "minimize")
    runs = [rows.run(row, seeds[row], param_names, metric_names, targets, bound) for row in range(len(seeds))]

    attrs = {
        "metric": analysed,
        "direction": direction,
        "seed_key": seed_key,
        "divergence": divergence,
        "source": name,
        "unreadable": [],
    }
    log.info(
        "loaded %s from %s (parameters: %s; metrics: %s)",
        summarize(runs),
        name,
        ", ".join(param_names) or "none",
        ", ".join(metric_names) or "none",
    )
    return build_table(runs, param_names, attrs, metric_names)


def _read_seeds(cells: list[Any], name: str) -> list[int]:
    """Check that every row has a whole-number seed.

    Raises:
        SourceError: a seed cell is empty or not a whole number.
    """
    seeds = []
    for row, cell in enumerate(cells):
        if cell is None:
            raise SourceError(f"row {row + 1} of {name} has no seed; give every run its seed")
        seeds.append(check_seed(cell, f"row {row + 1} of {name}"))
    return seeds


def _check_columns(
    columns: Columns, name: str, seed_key: str, metric: str | None, params: Sequence[str]
) -> None:
    """Raise unless the seed column and every named column exist.

    Raises:
        SourceError: a required or named column is absent, or names clash.
    """
    found = ", ".join(columns) or "none"
    if not columns or not next(iter(columns.values())):
        raise SourceError(f"{name} has no rows; expected one row per run with a {seed_key!r} column")
    if seed_key not in columns:
        raise SourceError(
            f"{name} has no {seed_key!r} column (columns: {found}); "
            f"name the column that contains the seed with --seed-key"
        )
    if seed_key != "seed" and "seed" in columns:
        raise SourceError(
            f"{name} has both a {seed_key!r} and a 'seed' column; "
            f"rename or drop the 'seed' column, since {seed_key!r} becomes the seed"
        )
    for column in params:
        if column not in columns:
            raise SourceError(
                f"parameter {column!r} is not a column of {name} (columns: {found}); "
                f"check the name given with --param or --group-by"
            )
    if metric is not None and metric not in columns:
        raise SourceError(
            f"metric {metric!r} is not a column of {name} (columns: {found}); pass one of them with --metric"
        )
    if metric is not None and metric in params:
        raise SourceError(f"{metric!r} is named both as the metric and as a parameter; it can be only one")


# ---------------------------------------------------------------- reading files


def read_table_file(path: Path) -> Columns:
    """Read a CSV, Parquet or JSON lines file into columns of Python values.

    Raises:
        SourceError: unknown extension, or the file does not parse.
    """
    readers: dict[str, Callable[[Path], Columns]] = {
        ".csv": _read_csv,
        ".parquet": _read_parquet,
        ".pq": _read_parquet,
        ".jsonl": _read_json_lines,
        ".ndjson": _read_json_lines,
        ".json": _read_json_lines,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise SourceError(
            f"unknown table format {path.suffix or '(no extension)'!r} of {path}; "
            f"use .csv, .parquet or .jsonl, or pass an Optuna journal file with --study"
        )
    columns = reader(path)
    return {name: _typed_cells(values) for name, values in columns.items()}


def _read_csv(path: Path) -> Columns:
    with open(path, newline="", encoding="utf-8-sig") as stream:
        lines = list(csv.reader(stream))
    if not lines:
        raise SourceError(f"{path} is empty; expected a header row and one row per run")

    header = [name.strip() for name in lines[0]]
    _check_header(header, path)
    columns: Columns = {name: [] for name in header}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise SourceError(
                f"line {number} of {path} has {len(cells)} cells but the header has {len(header)}; "
                f"give every row one cell per column"
            )
        for name, cell in zip(header, cells):
            columns[name].append(_csv_cell(cell))
    return columns


def _check_header(header: list[str], path: Path) -> None:
    if "" in header:
        raise SourceError(f"the header of {path} has an empty column name; name every column")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise SourceError(f"{path} has duplicate columns {duplicates}; give each column its own name")


def _csv_cell(cell: str) -> Any:
    """Turn a CSV cell into int, float, bool or str; an empty cell into None."""
    text = cell.strip()
    if not text:
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _read_parquet(path: Path) -> Columns:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise SourceError(f"reading {path} needs pyarrow; install it with: pip install pyarrow") from None

    try:
        table = parquet.read_table(path)
    except (OSError, ValueError) as error:
        # pyarrow's ArrowInvalid is a ValueError and its I/O errors are OSErrors.
        raise SourceError(
            f"cannot read {path} as Parquet ({error}); check that the file is a complete Parquet file"
        ) from None
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _read_json_lines(path: Path) -> Columns:
    """Read one JSON object per line; a ``.json`` file may also contain one list of objects."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        rows = _parse_json(stripped, path, "the file")
    else:
        lines = enumerate(text.splitlines(), start=1)
        rows = [_parse_json(line, path, f"line {number}") for number, line in lines if line.strip()]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SourceError(f"{path} must contain one JSON object per run, one per line; got something else")

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return {name: [row.get(name) for row in rows] for name in names}


def _parse_json(text: str, path: Path, where: str) -> Any:
    try:
        # NaN and Infinity literals are allowed: they mark diverged runs.
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(f"{where} of {path} is not valid JSON ({error.msg}); fix or remove it") from None


def _columns_from_frame(frame: pd.DataFrame) -> Columns:
    """Take a DataFrame's cells as Python values; None and pd.NA are empty, NaN stays NaN."""
    import pandas as pd

    columns: Columns = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype == object or isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
            values = [None if value is None or value is pd.NA else value for value in series.tolist()]
        else:
            values = series.tolist()
        columns[str(name)] = _typed_cells(values)
    return columns


def _typed_cells(values: list[Any]) -> list[Any]:
    """Make a column's cells plain Python values.

    Numpy scalars become int, float or bool. In a column of numbers, the
    text spellings of NaN and inf (``"nan"``, ``"inf"``, as in run records)
    become floats. Other values (dates, lists) become text.
    """
    cells = [_plain(value) for value in values]
    has_numbers = any(value_kind(cell) in ("int", "float") for cell in cells)
    if has_numbers:
        cells = [_non_finite(cell) if isinstance(cell, str) else cell for cell in cells]
    return cells


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return str(value)


def _non_finite(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return number if not math.isfinite(number) else text


# ---------------------------------------------------------------- parameters or metrics


def split_columns(
    columns: Columns, seeds: Sequence[int | None], metric: str | None, params: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Split the columns that are not run table columns into parameters and metrics.

    See the module docstring for the rule.

    Returns:
        The parameter names and the metric names, each in column order.
    """
    param_names = []
    metric_names = []
    for name, cells in columns.items():
        if name in RESERVED_COLUMNS:
            continue
        if name not in params and name != metric:
            _check_not_mixed(name, cells)
        if name in params or (name != metric and _looks_like_parameter(cells, seeds)):
            param_names.append(name)
        else:
            metric_names.append(name)
    return param_names, metric_names


def _check_not_mixed(name: str, cells: list[Any]) -> None:
    """Raise when an unnamed column mixes numbers with text or booleans.

    Raises:
        SourceError: the column is neither a clean parameter nor a metric.
    """
    kinds = {value_kind(cell) for cell in cells if cell is not None}
    if not kinds & {"int", "float"} or kinds <= {"int", "float"}:
        return
    number = next(cell for cell in cells if value_kind(cell) in ("int", "float"))
    other = next(cell for cell in cells if cell is not None and value_kind(cell) not in ("int", "float"))
    raise SourceError(
        f"column {name!r} mixes numbers and other values ({number!r}, {other!r}); give all its values "
        f"one type, or name it with --metric if it is a metric (a cell that is no number makes its run invalid)"
    )


def _looks_like_parameter(cells: list[Any], seeds: Sequence[int | None]) -> bool:
    kinds = {value_kind(cell) for cell in cells if cell is not None}
    if not kinds <= {"int", "float"}:
        return True
    if not kinds or any(cell is None or not math.isfinite(cell) for cell in cells):
        return False

    seeds_by_value: dict[Any, set] = defaultdict(set)
    for cell, seed in zip(cells, seeds):
        seeds_by_value[cell].add(seed)
    return all(len(seed_set) >= 2 for seed_set in seeds_by_value.values())


# ---------------------------------------------------------------- rows


class _RowReader:
    """Turns the rows of a table into runs, checking the run table's own columns."""

    def __init__(self, columns: Columns, name: str) -> None:
        self.columns = columns
        self.name = name
        self._check_statuses()

    def cell(self, column: str, row: int) -> Any:
        values = self.columns.get(column)
        return None if values is None else values[row]

    def run(
        self,
        row: int,
        seed: int | None,
        param_names: list[str],
        metric_names: list[str],
        targets: list[str],
        bound: tuple[float | None, str],
    ) -> Run:
        cells = {name: self.cell(name, row) for name in metric_names}
        status = self.cell("status", row)
        if status is None or status == "ok":
            empty = RunStatus.INVALID if status == "ok" else RunStatus.MISSING
            new_status, reason = _status_from_cells(cells, targets, empty, bound)
        else:
            new_status, reason = RunStatus(status), self._text("reason", row)

        return Run(
            job=self._job(row),
            job_dir=self._text("job_dir", row),
            seed=seed,
            params={name: self.cell(name, row) for name in param_names},
            status=new_status,
            metrics={name: float(value) for name, value in cells.items() if as_number(value) is not None},
            reason=reason,
            error_type=self._text("error_type", row) if new_status != RunStatus.OK else None,
            duration=self._duration(row),
            classified_for=targets[0] if len(targets) == 1 else None,
        )

    def _check_statuses(self) -> None:
        for row, status in enumerate(self.columns.get("status", [])):
            if status not in _STATUSES:
                raise SourceError(
                    f"row {row + 1} of {self.name} has status {status!r}; "
                    f"a status must be one of {', '.join(_STATUSES)} (or drop the status column)"
                )

    def _text(self, column: str, row: int) -> str | None:
        value = self.cell(column, row)
        return None if value is None else str(value)

    def _job(self, row: int) -> int | None:
        value = self.cell("job", row)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise SourceError(f"row {row + 1} of {self.name} has job {value!r}; a job must be a whole number")

    def _duration(self, row: int) -> float | None:
        value = self.cell("duration", row)
        if value is None:
            return None
        number = as_number(value)
        if number is None:
            raise SourceError(
                f"row {row + 1} of {self.name} has duration {value!r}; a duration must be a number of seconds"
            )
        return number


def _status_from_cells(
    cells: dict[str, Any], targets: list[str], empty: RunStatus, bound: tuple[float | None, str]
) -> tuple[RunStatus, str | None]:
    """Classify one row from its metric cells; the first bad target decides."""
    divergence, direction = bound
    for name in targets:
        value = cells.get(name)
        if value is None:
            return empty, f"no value for {name}"
        number = as_number(value)
        if number is None:
            return RunStatus.INVALID, f"{name} is {value!r}, not a number"
        status, reason = check_value(number, name, direction, divergence)
        if status != RunStatus.OK:
            return status, reason
    return RunStatus.OK, None
