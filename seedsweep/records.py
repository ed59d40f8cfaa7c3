"""Run records: what one job produced, how it is classified, and how it is stored.

A run record is one JSON object per job. The callback writes it into the
job's own folder (``<job dir>/seedsweep.json``), and the sweeper appends every
gathered record to the ledger ``seedsweep/runs.jsonl``. Both files are plain
JSON, with one rule: numbers that JSON cannot hold (NaN, +inf, -inf) are
written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.

This module does not depend on statistics or Hydra.
"""

from __future__ import annotations

import enum
import json
import math
import os
import tempfile
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Iterable
from typing import Mapping

RECORD_FILE = "seedsweep.json"
STARTED_FILE = "seedsweep.started.json"
TRACEBACK_FILE = "seedsweep.traceback.txt"
RECORD_SCHEMA = 1

_NON_FINITE_TEXT = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class Diverged(Exception):
    """Raised by a task to say that training diverged.

    The run is recorded as ``diverged``, not ``crashed``.
    """


class RunStatus(str, enum.Enum):
    """The final state of a run."""

    OK = "ok"
    DIVERGED = "diverged"
    CRASHED = "crashed"
    INVALID = "invalid"
    MISSING = "missing"

    def __str__(self) -> str:
        return self.value


# A finished run is not run again on resume, unless it crashed or is missing.
FINISHED_STATUSES = frozenset({RunStatus.OK, RunStatus.DIVERGED, RunStatus.INVALID})


@dataclass
class RunRecord:
    """Everything known about one run.

    ``job_dir`` is the job's folder relative to the sweep dir when it lies
    inside it, else absolute. ``value`` is the metric's number (NaN or inf
    kept as such), or None when the run produced none.
    """

    job: int | None
    job_dir: str | None
    overrides: list[str]
    params: dict[str, Any]
    seed: int | None
    status: RunStatus
    metric: str | None = None
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback_file: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration: float | None = None
    host: str | None = None
    pid: int | None = None
    schema: int = RECORD_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["value"] = encode_number(self.value)
        data["metrics"] = {key: encode_number(v) for key, v in self.metrics.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Build a record from its JSON form.

        Raises:
            ValueError: the mapping is not a run record.
        """
        if not isinstance(data, Mapping) or "status" not in data:
            raise ValueError("not a seedsweep run record (no 'status' field)")
        try:
            status = RunStatus(data["status"])
        except ValueError:
            raise ValueError(f"unknown run status {data['status']!r}") from None

        kwargs = dict(data)
        for key in kwargs.keys() - _RECORD_FIELDS:
            del kwargs[key]
        kwargs["status"] = status
        kwargs["value"] = decode_number(data.get("value"))
        kwargs["metrics"] = {
            key: decode_number(v) for key, v in (data.get("metrics") or {}).items()
        }
        kwargs.setdefault("overrides", [])
        kwargs.setdefault("params", {})
        kwargs.setdefault("job", None)
        kwargs.setdefault("job_dir", None)
        kwargs.setdefault("seed", None)
        return cls(**kwargs)


# The record fields from_dict keeps from a JSON object. It drops every other key.
_RECORD_FIELDS = frozenset(RunRecord.__dataclass_fields__)


def encode_number(value: float | None) -> float | str | None:
    """Return ``value`` in a form strict JSON can hold (non-finite as text)."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def decode_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _NON_FINITE_TEXT.get(value, math.nan)
    return float(value)


# ---------------------------------------------------------------- classification


@dataclass(frozen=True)
class Outcome:
    """The classification of one run's result."""

    status: RunStatus
    value: float | None
    metrics: dict[str, float]
    reason: str | None


def as_number(value: Any) -> float | None:
    """Return ``value`` as a float when it is one number, else None.

    Python ints and floats, numpy scalars, 0-d arrays and objects with
    ``.item()`` (such as a one-element torch tensor) count as numbers.
    bool and str never do, not even ``"1.5"``.
    """
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)

    item = getattr(value, "item", None)
    if callable(item):
        try:
            scalar = item()
        except (TypeError, ValueError, RuntimeError):
            # numpy and torch raise these for arrays of more than one element.
            return None
        if scalar is value:
            return None
        return as_number(scalar)
    return None


def numeric_metrics(returned: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten every number in a (nested) mapping into ``{"a.b": value}``."""
    found: dict[str, float] = {}
    for key, value in returned.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(numeric_metrics(value, prefix=f"{name}."))
            continue
        number = as_number(value)
        if number is not None:
            found[name] = number
    return found


def lookup_metric(returned: Mapping[str, Any], metric: str) -> tuple[bool, Any]:
    """Find ``metric`` in a returned mapping.

    The path rule: an exact key wins (``"val/loss"``, ``"val.loss"``); otherwise
    the dots in ``metric`` walk nested mappings (``"val.loss"`` reads
    ``returned["val"]["loss"]``).

    Returns:
        ``(found, value)``.
    """
    if metric in returned:
        return True, returned[metric]

    node: Any = returned
    for part in metric.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_value(
    value: float, metric: str | None, direction: str, divergence: float | None
) -> tuple[RunStatus, str | None]:
    """Classify one number: ``ok``, or ``diverged`` with the reason.

    ``divergence`` is a bound in the metric's units. For ``minimize`` a value
    above it diverged, for ``maximize`` a value below it.
    """
    name = metric or "the result"
    if math.isnan(value):
        return RunStatus.DIVERGED, f"{name} is NaN"
    if math.isinf(value):
        return RunStatus.DIVERGED, f"{name} is {'+' if value > 0 else '-'}inf"
    if divergence is None:
        return RunStatus.OK, None
    if direction == "minimize" and value > divergence:
        return RunStatus.DIVERGED, f"{name} = {value:g} is above the divergence bound {divergence:g}"
    if direction == "maximize" and value < divergence:
        return RunStatus.DIVERGED, f"{name} = {value:g} is below the divergence bound {divergence:g}"
    return RunStatus.OK, None


def classify_return(
    returned: Any,
    metric: str | None,
    direction: str = "minimize",
    divergence: float | None = None,
) -> Outcome:
    """Classify what a task returned.

    Args:
        returned: the task's return value.
        metric: the key of the metric in a returned mapping, or None when the
            task returns one number. With None and a mapping, every number in
            it is checked and the run diverged if any is NaN or inf.
        direction: ``minimize`` or ``maximize``; turns the divergence bound.
        divergence: bound beyond which a finite metric counts as diverged.

    Returns:
        The outcome: status ``ok``, ``diverged`` or ``invalid``, the metric's
        value and every numeric metric returned.
    """
    if isinstance(returned, Mapping):
        return _classify_mapping(returned, metric, direction, divergence)

    number = as_number(returned)
    if number is None:
        described = _describe(returned)
        if metric is not None:
            reason = f"returned {described}, expected a mapping with key {metric!r}"
        else:
            reason = f"returned {described}, expected one number"
        return Outcome(RunStatus.INVALID, None, {}, reason)

    name = metric or "value"
    status, reason = check_value(number, name, direction, divergence)
    return Outcome(status, number, {name: number}, reason)


def _classify_mapping(
    returned: Mapping[str, Any], metric: str | None, direction: str, divergence: float | None
) -> Outcome:
    metrics = numeric_metrics(returned)

    if metric is None:
        for name, number in metrics.items():
            if not math.isfinite(number):
                status, reason = check_value(number, name, direction, None)
                return Outcome(status, None, metrics, reason)
        if not metrics:
            return Outcome(RunStatus.INVALID, None, metrics, "returned a mapping with no numbers")
        return Outcome(RunStatus.OK, None, metrics, None)

    found, raw = lookup_metric(returned, metric)
    if not found:
        available = ", ".join(sorted(metrics)) or "none"
        reason = f"metric {metric!r} not in the returned mapping (numeric keys: {available})"
        return Outcome(RunStatus.INVALID, None, metrics, reason)

    number = as_number(raw)
    if number is None:
        reason = f"metric {metric!r} is {_describe(raw)}, expected one number"
        return Outcome(RunStatus.INVALID, None, metrics, reason)

    status, reason = check_value(number, metric, direction, divergence)
    return Outcome(status, number, metrics, reason)


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (str, bool)):
        return f"{type(value).__name__} {value!r}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    return f"a {type(value).__name__}"


def classify_exception(error: BaseException) -> tuple[RunStatus, str]:
    """Classify an exception raised by a task: ``diverged`` or ``crashed``."""
    message = first_line(str(error))
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if isinstance(error, Diverged):
        return RunStatus.DIVERGED, f"raised {text}"
    return RunStatus.CRASHED, f"raised {text}"


def first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


# ---------------------------------------------------------------- files


def dump_json(data: Any) -> str:
    """Serialise to strict JSON: a NaN that slipped through raises ValueError."""
    return json.dumps(data, allow_nan=False, sort_keys=False, default=_json_default)


def _json_default(value: Any) -> Any:
    number = as_number(value)
    if number is not None:
        return encode_number(number)
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_json_atomic(path: Path, data: Any, sync: bool = True) -> None:
    """Write JSON to ``path`` so that readers see the old file or the new one."""
    write_text_atomic(path, dump_json(data) + "\n", sync=sync)


def write_text_atomic(path: Path, text: str, sync: bool = True) -> None:
    """Write UTF-8 text to ``path`` through a temporary file and a rename.

    The rename is atomic on POSIX file systems, so a killed process leaves
    either the old file or the new one. With ``sync``, the text is also
    flushed to disk before the rename, so a power cut leaves one of the two as well.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            if sync:
                os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); records and reports are shared like any output.
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


def append_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append one JSON line per row, then flush them to disk.

    Each line is handed to the operating system before the next is written,
    so a killed process leaves at most a torn last line. Such a line is
    closed with a newline first, so the new lines stay readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_newline = _ends_without_newline(path)
    with open(path, "a", encoding="utf-8") as stream:
        if needs_newline:
            stream.write("\n")
        for row in rows:
            stream.write(dump_json(row) + "\n")
            stream.flush()
        os.fsync(stream.fileno())


def _ends_without_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as stream:
        stream.seek(-1, os.SEEK_END)
        return stream.read(1) != b"\n"


@dataclass(frozen=True)
class Unreadable:
    """A record file or ledger line that could not be parsed."""

    path: str
    line: int | None
    error: str

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.error}"


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[Unreadable]]:
    """Read a ledger, skipping lines that do not parse.

    Returns:
        The parsed rows in file order, and one ``Unreadable`` per skipped line.
    """
    rows: list[dict[str, Any]] = []
    problems: list[Unreadable] = []
    with open(path, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(Unreadable(str(path), number, f"invalid JSON ({error.msg})"))
                continue
            if not isinstance(row, dict):
                problems.append(Unreadable(str(path), number, "not a JSON object"))
                continue
            rows.append(row)
    return rows, problems


def read_record(path: Path) -> RunRecord:
    """Read one per-job record.

    Raises:
        ValueError: the file is not valid JSON or not a run record.
        OSError: the file cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON ({error.msg})") from None
    return RunRecord.from_dict(data)
