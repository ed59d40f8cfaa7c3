"""Classification of runs for the metric being analysed.

Runs come with the status their record gave them, for the metric the sweep
ran for. This module reads metrics files a task wrote itself, and classifies
runs again when another metric, or another divergence bound, is analysed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from typing import Iterable
from typing import Mapping
from typing import Sequence

from seedsweep.records import RunStatus
from seedsweep.records import check_value
from seedsweep.records import classify_return
from seedsweep.records import first_line
from seedsweep.sources._common import Problems
from seedsweep.sources._common import Run
from seedsweep.sources._common import SourceError
from seedsweep.sources._common import metric_names
from seedsweep.sources._common import missing_run


def read_metrics_file(path: Path) -> Mapping[str, Any]:
    """Read the metrics a job wrote: a JSON or YAML mapping, or the last row of a CSV.

    Raises:
        ValueError: the file does not parse or contains no mapping.
        OSError: the file cannot be read.
    """
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _last_csv_row(text)
    if suffix in (".yaml", ".yml"):
        data = _parse_yaml(text)
    else:
        data = _parse_json(text)
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise ValueError(f"invalid content: a {kind}, expected a mapping of metric names to numbers")
    return _decode_non_finite(data)


def _decode_non_finite(data: Mapping[str, Any]) -> dict[str, Any]:
    """Read the text ``nan``, ``inf`` and ``-inf`` as numbers, at any depth.

    Python writes NaN as ``nan`` into YAML, which YAML reads as text, and
    run records store non-finite numbers as text too.
    """
    decoded: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _decode_non_finite(value)
        elif isinstance(value, str) and value.strip().lower().lstrip("+-.") in ("nan", "inf", "infinity"):
            value = float(value.strip().replace(".", ""))
        decoded[key] = value
    return decoded


def _parse_json(text: str) -> Any:
    try:
        # NaN and Infinity literals are allowed: a diverged run writes them.
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON ({error.msg} at line {error.lineno})") from None


def _parse_yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"invalid YAML ({first_line(str(error))})") from None


def _last_csv_row(text: str) -> dict[str, Any]:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ValueError("a CSV file without data rows")
    return {key: _csv_number(value) for key, value in rows[-1].items() if key}


def _csv_number(text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return text


def run_from_metrics_file(
    base: Run,
    path: Path,
    metric: str | None,
    direction: str,
    divergence: float | None,
    problems: Problems,
) -> Run:
    """Classify a job from the metrics file it wrote; ``base`` supplies job, seed and params.

    No file gives a ``missing`` run; a file that does not parse gives a
    ``missing`` run with the reason, also added to ``problems``.
    """
    if not path.is_file():
        return missing_run(base.job, base.job_dir, base.seed, base.params, f"no {path.name} in {path.parent}")

    try:
        returned = read_metrics_file(path)
    except (OSError, ValueError) as error:
        problems.add(f"{path}: {error}")
        return missing_run(base.job, base.job_dir, base.seed, base.params, f"unreadable {path.name}: {error}")

    outcome = classify_return(returned, metric, direction, divergence)
    return Run(
        job=base.job,
        job_dir=base.job_dir,
        seed=base.seed,
        params=base.params,
        status=outcome.status,
        metrics=outcome.metrics,
        reason=outcome.reason,
        duration=base.duration,
        classified_for=metric,
    )


def keeps_record_status(run: Run) -> bool:
    """Tell whether a run keeps its status whatever metric is analysed.

    Crashed and missing runs, and runs whose task raised, keep their status.
    """
    if run.status in (RunStatus.CRASHED, RunStatus.MISSING):
        return True
    return run.status == RunStatus.DIVERGED and run.error_type is not None


# ---------------------------------------------------------------- re-classification


def reclassify(runs: Iterable[Run], metric: str, direction: str, divergence: float | None) -> None:
    """Classify each run again for ``metric``, in place (docs/run-table.md).

    Runs that are ``ok``, or ``diverged`` without an exception, get the
    status of ``metrics[metric]``: NaN or inf is ``diverged``, beyond the
    divergence bound is ``diverged``, no value is ``invalid``. An
    ``invalid`` run is classified again only when it has a value for
    ``metric``, so a task that returned no usable number keeps its reason.
    Crashed and missing runs, and runs whose task raised, keep their status.
    """
    for run in runs:
        if keeps_record_status(run):
            continue
        if run.status == RunStatus.INVALID and metric not in run.metrics:
            continue
        run.status, run.reason = _status_for(run.metrics, metric, direction, divergence)
        run.classified_for = metric


def _status_for(
    metrics: Mapping[str, float], metric: str, direction: str, divergence: float | None
) -> tuple[RunStatus, str | None]:
    if metric not in metrics:
        available = ", ".join(sorted(metrics)) or "none"
        return RunStatus.INVALID, f"no value for metric {metric!r} (metrics: {available})"
    return check_value(metrics[metric], metric, direction, divergence)


def check_metric_known(runs: Sequence[Run], metric: str, source: str) -> None:
    """Raise unless some run has ``metric``, when any run has metrics at all.

    Raises:
        SourceError: no run produced ``metric`` but some produced others.
    """
    seen = metric_names(runs)
    if seen and metric not in seen:
        raise SourceError(
            f"metric {metric!r} is in no run of {source}; "
            f"pass one of the metrics found with --metric: {', '.join(seen)}"
        )


def settle_metric(
    runs: Sequence[Run],
    *,
    metric: str | None,
    recorded: str | None,
    direction: str,
    divergence: float | None,
    recorded_divergence: float | None,
    source: str,
) -> tuple[str | None, float | None]:
    """Classify runs again where needed, so every status is for the analysed metric.

    Args:
        runs: the runs, changed in place.
        metric: the metric requested, or None for the one the sweep ran for.
        recorded: the metric the sweep ran for, when known.
        direction: turns the divergence bound.
        divergence: a bound requested; it replaces the recorded one.
        recorded_divergence: the bound the sweep used for ``recorded``.
        source: the source's name, for messages.

    Returns:
        The analysed metric (None when neither requested nor recorded) and
        the divergence bound applied to it.

    Raises:
        SourceError: ``metric`` is in no run, or a bound is requested for
            runs with several metrics and no metric named.
    """
    if metric is not None:
        check_metric_known(runs, metric, source)
    target = metric or recorded
    new_bound = divergence is not None and divergence != recorded_divergence
    if target is None and new_bound:
        target = _only_metric(runs, source)
    if target is None:
        return None, None

    bound = divergence if divergence is not None else None
    if bound is None and target == recorded:
        bound = recorded_divergence
    stale = [run for run in runs if new_bound or run.classified_for != target]
    reclassify(stale, target, direction, bound)
    return target, bound


def _only_metric(runs: Sequence[Run], source: str) -> str:
    names = metric_names(runs)
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise SourceError(
            f"a divergence bound needs a metric, and the runs of {source} have "
            f"{len(names)} (metrics: {found}); name one with --metric"
        )
    return names[0]


def apply_metrics_file(
    runs: Sequence[Run],
    metrics_file: str,
    metric: str | None,
    direction: str,
    divergence: float | None,
    problems: Problems,
) -> list[Run]:
    """Return the runs with metrics and status taken from each job's metrics file.

    Crashed and missing runs, runs whose task raised, and runs without a job
    folder keep their record.

    Raises:
        SourceError: no job folder has the file, which most likely means
            the name is wrong.
    """
    candidates = [run.job_dir for run in runs if run.job_dir is not None and not keeps_record_status(run)]
    check_metrics_file_found(candidates, metrics_file)

    updated = []
    for run in runs:
        if run.job_dir is None or keeps_record_status(run):
            updated.append(run)
            continue
        path = Path(run.job_dir) / metrics_file
        updated.append(run_from_metrics_file(run, path, metric, direction, divergence, problems))
    return updated


def check_metrics_file_found(job_dirs: Sequence[str], metrics_file: str) -> None:
    """Raise when none of ``job_dirs`` has the metrics file.

    Raises:
        SourceError: the file is in no job folder, so its name is most
            likely wrong.
    """
    if not job_dirs or any((Path(job_dir) / metrics_file).is_file() for job_dir in job_dirs):
        return
    raise SourceError(
        f"no job folder has {metrics_file!r} (for example {job_dirs[0]} has none); "
        f"pass the file name each job writes, relative to its job folder, with --metrics-file"
    )


def recorded_metric(runs: list[Run]) -> str | None:
    """Return the metric the records were classified for, when they agree on one."""
    names = {run.classified_for for run in runs if run.status != RunStatus.MISSING}
    return names.pop() if len(names) == 1 else None


def summarize(runs: Iterable[Run]) -> str:
    """Count runs by status, as in "15 runs (13 ok, 2 diverged)"."""
    counts = Counter(run.status.value for run in runs)
    total = sum(counts.values())
    present = [status.value for status in RunStatus if counts[status.value]]
    parts = ", ".join(f"{counts[status]} {status}" for status in present)
    return f"{total} runs ({parts})" if parts else "0 runs"
