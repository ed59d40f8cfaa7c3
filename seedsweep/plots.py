"""Figures of a seedsweep analysis, one set per (study parameter, group).

Each figure is two functions: ``*_record`` computes a small immutable record
of exactly what will be drawn from the analysis and the run table, and
``draw_*`` draws that record on a matplotlib figure. Tests check the records;
the drawing stays thin.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg
canvas, never through pyplot, so drawing needs no display and leaves the
caller's pyplot backend and open figures alone.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Callable
from typing import Mapping
from typing import NamedTuple
from typing import Sequence

from seedsweep.report.text import format_value
from seedsweep.report.text import is_missing
from seedsweep.report.text import matches_text
from seedsweep.report.text import p_equals
from seedsweep.report.text import parse_group
from seedsweep.report.text import section_title
from seedsweep.report.text import shorten_values
from seedsweep.report.text import sorted_seeds
from seedsweep.report.text import trend_direction

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from seedsweep.stats import Analysis

log = logging.getLogger(__name__)

STATUSES = ("ok", "diverged", "crashed", "invalid", "missing")
STATUS_COLORS = {
    "ok": "#a6d96a",
    "diverged": "#d7191c",
    "crashed": "#2b2b2b",
    "invalid": "#fdae61",
    "missing": "#f0f0f0",
}
OTHER_STATUS_COLOR = "#8e44ad"
FAILED_MARKERS = {"diverged": "x", "crashed": "X", "invalid": "^", "missing": "s"}
FIGURE_FORMATS = ("png", "svg")

# At most this many tick labels per axis; more values get every n-th label.
MAX_TICK_LABELS = 12
MAX_SEED_LABELS = 25
# Seeds beyond this count get no legend entry each and thinner lines.
MAX_SEED_LEGEND = 10
MAX_STEM_LENGTH = 100
# Title lines are wrapped at this many characters to stay inside the figure.
TITLE_WIDTH = 80


# ---------------------------------------------------------------- records


class SeedLine(NamedTuple):
    """One seed's metric across the values; NaN where the run is not ok."""

    seed: int
    y: tuple[float, ...]
    complete: bool


class FailedRun(NamedTuple):
    """A run that is not ok, at its value's position on the x axis."""

    seed: int
    x: float
    status: str


class ExcludedSeed(NamedTuple):
    """A seed left out of the statistics, with the analysis' reason."""

    seed: int
    reason: str


class PairedLines(NamedTuple):
    """Metric against value, one line per seed, failed runs marked."""

    param: str
    group: str
    metric: str
    direction: str
    labels: tuple[str, ...]
    x: tuple[float, ...]
    numeric: bool
    log_x: bool
    lines: tuple[SeedLine, ...]
    failed: tuple[FailedRun, ...]


class ZPoint(NamedTuple):
    """One complete seed's z-score at one value (``position`` indexes the values)."""

    seed: int
    position: int
    z: float


class ZScores(NamedTuple):
    """Per-seed z-scores by value, with each value's mean and 95% interval."""

    param: str
    group: str
    metric: str
    direction: str
    labels: tuple[str, ...]
    points: tuple[ZPoint, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    n: int
    excluded: tuple[ExcludedSeed, ...]


class TStats(NamedTuple):
    """t-statistic by value, the ±threshold band and the Holm-significant values.

    ``drawn`` is ``t`` with ±inf clipped to ±``limit``; ``clipped`` flags those.
    """

    param: str
    group: str
    labels: tuple[str, ...]
    t: tuple[float, ...]
    drawn: tuple[float, ...]
    clipped: tuple[bool, ...]
    limit: float
    threshold: float
    holm: tuple[bool, ...]
    verdicts: tuple[str, ...]
    n: int
    excluded: tuple[ExcludedSeed, ...]


class TrendPoint(NamedTuple):
    """One complete seed's z-score at one numeric value."""

    seed: int
    x: float
    z: float


class TrendLine(NamedTuple):
    """z-scores against the value with the pooled least-squares line."""

    param: str
    group: str
    log_x: bool
    points: tuple[TrendPoint, ...]
    fit_x: tuple[float, float]
    fit_z: tuple[float, float]
    caption: str
    clean: bool
    excluded: tuple[ExcludedSeed, ...]


class StatusGrid(NamedTuple):
    """The status of every (seed, value) cell; ``statuses[i][j]`` is seed i, value j."""

    param: str
    group: str
    labels: tuple[str, ...]
    seeds: tuple[int, ...]
    statuses: tuple[tuple[str, ...], ...]
    counts: tuple[tuple[str, int], ...]


class FigureFile(NamedTuple):
    """One drawn figure: its files, or the error that stopped it."""

    kind: str
    param: str
    group: str
    title: str
    paths: tuple[Path, ...]
    error: str | None = None


# ---------------------------------------------------------------- selection


def section_values(analysis: Analysis, param: str, group: str) -> list[Any]:
    """Return the values of ``param`` in ``group``, in the summary's order."""
    rows = _rows(analysis.summary, param, group)
    return list(rows["value"])


def section_cells(
    analysis: Analysis, runs: pd.DataFrame, param: str, group: str
) -> pd.DataFrame:
    """Return one row per (seed, value) cell of a section's grid.

    Runs come from the run table, with the status and reason of the
    failures table where it lists the cell. A cell with no run is filled from
    the failures table, or else marked ``missing``. Every seed of the run
    table appears for every value, because every value runs on the same seeds.

    Returns:
        Columns ``seed, position, value, status, metric, reason, job_dir``,
        where ``position`` indexes the section's values.
    """
    import pandas as pd

    values = section_values(analysis, param, group)
    failures = _failure_cells(analysis, param, group, values)
    found = _with_failure_status(_cells_from_runs(analysis, runs, param, group, values), failures)
    seeds = sorted_seeds(list(runs["seed"]) + [seed for seed, _ in failures])
    known = set(zip(found["seed"], found["position"]))

    extra = []
    for seed in seeds:
        for position, value in enumerate(values):
            if (seed, position) in known:
                continue
            extra.append(_absent_cell(failures, seed, position, value))

    if extra:
        cells = pd.concat([found, pd.DataFrame(extra, columns=found.columns)], ignore_index=True)
    else:
        # pandas 2 warns about concatenating an empty frame (its dtypes will count in pandas 3).
        cells = found
    return cells.sort_values(["seed", "position"], kind="stable").reset_index(drop=True)


def _cells_from_runs(
    analysis: Analysis, runs: pd.DataFrame, param: str, group: str, values: list[Any]
) -> pd.DataFrame:
    import pandas as pd

    if param not in runs.columns:
        raise ValueError(
            f"study parameter {param!r} of the analysis is not a column of the run "
            "table; pass the run table the analysis was computed from"
        )
    positions = {value: index for index, value in enumerate(values)}
    selected = runs[_group_mask(analysis, runs, param, group) & runs[param].isin(values)]
    metric = analysis.settings["metric"]

    return pd.DataFrame(
        {
            "seed": [int(seed) for seed in selected["seed"]],
            "position": [positions[value] for value in selected[param]],
            "value": list(selected[param]),
            "status": [str(status) for status in selected["status"]],
            "metric": _column(selected, metric, float("nan")),
            "reason": _column(selected, "reason", None),
            "job_dir": _column(selected, "job_dir", None),
        }
    )


def _column(frame: pd.DataFrame, name: str, default: Any) -> list[Any]:
    if name in frame.columns:
        return list(frame[name])
    return [default] * len(frame)


def _group_mask(analysis: Analysis, runs: pd.DataFrame, param: str, group: str) -> pd.Series:
    import pandas as pd

    mask = pd.Series(True, index=runs.index)
    for key, matches in _group_conditions(analysis, param, group):
        if key not in runs.columns:
            raise ValueError(
                f"group key {key!r} of the analysis is not a column of the run table; "
                "pass the run table the analysis was computed from"
            )
        mask &= runs[key].map(matches).astype(bool)
    return mask


def _group_conditions(
    analysis: Analysis, param: str, group: str
) -> list[tuple[str, Callable[[Any], bool]]]:
    # seedsweep.stats also stores each group's key values in a group_keys
    # column; without it they are read back from the group label.
    keys = getattr(_group_row(analysis, param, group), "group_keys", None)
    if isinstance(keys, Mapping):
        return [(str(key), functools.partial(_same_value, value)) for key, value in keys.items()]
    return [(key, functools.partial(matches_text, text=text)) for key, text in parse_group(group)]


def _same_value(expected: Any, value: Any) -> bool:
    if is_missing(expected):
        return is_missing(value)
    return not is_missing(value) and bool(value == expected)


def _failure_cells(
    analysis: Analysis, param: str, group: str, values: list[Any]
) -> dict[tuple[int, int], tuple[str, Any, Any]]:
    positions = {value: index for index, value in enumerate(values)}
    failures = _rows(analysis.failures, param, group)
    cells = {}
    for row in failures.itertuples(index=False):
        if row.value in positions:
            key = (int(row.seed), positions[row.value])
            cells[key] = (str(row.status), row.reason, row.job_dir)
    return cells


def _with_failure_status(
    cells: pd.DataFrame, failures: dict[tuple[int, int], tuple[str, Any, Any]]
) -> pd.DataFrame:
    # The analysis counts a run with status ok but no finite metric as failed,
    # so the failures table's status and reason win over the run table's.
    cells = cells.copy()
    for index, seed, position in zip(cells.index, cells["seed"], cells["position"]):
        failure = failures.get((seed, position))
        if failure is not None:
            cells.loc[index, ["status", "reason"]] = [failure[0], failure[1]]
    return cells


def _absent_cell(
    failures: dict[tuple[int, int], tuple[str, Any, Any]], seed: int, position: int, value: Any
) -> list[Any]:
    status, reason, job_dir = failures.get((seed, position), ("missing", "no run record", None))
    return [seed, position, value, status, float("nan"), reason, job_dir]


def _rows(frame: pd.DataFrame, param: str, group: str) -> pd.DataFrame:
    return frame[(frame["param"] == param) & (frame["group"] == group)]


def _group_row(analysis: Analysis, param: str, group: str) -> Any:
    rows = _rows(analysis.groups, param, group)
    if rows.empty:
        raise ValueError(f"the analysis has no group row for {section_title(param, group)!r}")
    return next(rows.itertuples(index=False))


def _excluded(analysis: Analysis, param: str, group: str) -> tuple[ExcludedSeed, ...]:
    row = _group_row(analysis, param, group)
    excluded = [ExcludedSeed(int(item["seed"]), str(item["reason"])) for item in row.excluded_seeds]
    return tuple(sorted(excluded))


def tick_label(value: Any) -> str:
    """Return a value as an axis label: floats with 4 significant digits."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        value = item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_value(value)


def is_numeric(values: Sequence[Any]) -> bool:
    """Tell whether every value is a number (bool does not count)."""
    import numbers

    return bool(values) and all(
        isinstance(value, numbers.Real) and not isinstance(value, bool) for value in values
    )


def uses_log_axis(analysis: Analysis, param: str, group: str) -> bool:
    """Tell whether a section's value axis is logarithmic.

    The trend's scale decides when the analysis fitted one; otherwise the
    ``scale`` setting, where ``auto`` means log for positive values with
    max/min >= 100 (log-spaced), as the trend would choose.
    """
    values = section_values(analysis, param, group)
    if not is_numeric(values):
        return False
    trend = _rows(analysis.trend, param, group)
    if not trend.empty:
        return str(trend["scale"].iloc[0]) == "log"

    positive = min(values) > 0
    scale = analysis.settings.get("scale", "auto")
    if scale == "log":
        return positive
    if scale == "linear":
        return False
    return positive and max(values) / min(values) >= 100


def sections(analysis: Analysis) -> list[tuple[str, str]]:
    """Return the (study parameter, group) pairs of the analysis, in its order."""
    return [(str(row.param), str(row.group)) for row in analysis.groups.itertuples(index=False)]


# ---------------------------------------------------------------- paired lines


def paired_lines_record(
    analysis: Analysis, runs: pd.DataFrame, param: str, group: str
) -> PairedLines:
    """Compute the paired-lines figure: metric against value, one line per seed."""
    values = section_values(analysis, param, group)
    cells = section_cells(analysis, runs, param, group)
    numeric = is_numeric(values)
    positions = values if numeric else range(len(values))
    x = tuple(float(position) for position in positions)
    complete = set(_group_row(analysis, param, group).complete_seeds)

    lines = []
    failed = []
    for seed, seed_cells in cells.groupby("seed", sort=True):
        y = [math.nan] * len(values)
        for cell in seed_cells.itertuples(index=False):
            if cell.status == "ok":
                y[cell.position] = float(cell.metric)
            else:
                failed.append(FailedRun(int(seed), x[cell.position], cell.status))
        lines.append(SeedLine(int(seed), tuple(y), int(seed) in complete))

    return PairedLines(
        param=param,
        group=group,
        metric=str(analysis.settings["metric"]),
        direction=str(analysis.settings.get("direction", "minimize")),
        labels=tuple(tick_label(value) for value in values),
        x=x,
        numeric=numeric,
        log_x=uses_log_axis(analysis, param, group),
        lines=tuple(lines),
        failed=tuple(failed),
    )


def draw_paired_lines(record: PairedLines) -> Figure:
    """Draw a paired-lines record; failed runs are markers at the axis bottom."""
    figure, axes = _new_axes(len(record.labels), 4.5)
    many = len(record.lines) > MAX_SEED_LEGEND
    colors = _seed_colors(len(record.lines))

    for line, color in zip(record.lines, colors):
        label = None
        if not many:
            label = f"seed {line.seed}" if line.complete else f"seed {line.seed} (excluded)"
        axes.plot(
            record.x,
            line.y,
            color=color,
            linestyle="-" if line.complete else "--",
            linewidth=0.7 if many else 1.5,
            alpha=_line_alpha(len(record.lines)),
            marker="o",
            markersize=1.5 if many else 3,
            label=label,
        )

    _draw_failed_marks(axes, record.failed)
    _set_value_axis(axes, record.labels, record.x, record.numeric, record.log_x)
    axes.set_xlabel(record.param)
    axes.set_ylabel(f"{record.metric} ({_better_word(record.direction)} is better)")
    axes.set_title(_title(f"{record.metric} by {record.param}, one line per seed", record.group))
    _outside_legend(axes)
    return figure


def _outside_legend(axes: Axes) -> None:
    handles, _ = axes.get_legend_handles_labels()
    if handles:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _draw_failed_marks(axes: Axes, failed: Sequence[FailedRun]) -> None:
    # Failed runs have no metric. Each status gets its own row of markers in
    # a band kept free below the data (x in data units, y in axes units).
    statuses = _ordered_statuses([run.status for run in failed])
    if not statuses:
        return
    band = 0.04 + 0.06 * len(statuses)
    low, high = axes.get_ylim()
    span = high - low
    axes.set_ylim(low - span * band / (1 - band), high)
    axes.axhline(low, color="#bbbbbb", linewidth=0.6, linestyle=":")

    for row, status in enumerate(statuses):
        xs = [run.x for run in failed if run.status == status]
        color = STATUS_COLORS.get(status, OTHER_STATUS_COLOR)
        axes.plot(
            xs,
            [0.04 + 0.06 * row] * len(xs),
            transform=axes.get_xaxis_transform(),
            linestyle="none",
            marker=FAILED_MARKERS.get(status, "D"),
            markersize=7,
            markeredgecolor="black" if status == "missing" else color,
            color=color,
            clip_on=False,
            label=f"{status} ({len(xs)} {'run' if len(xs) == 1 else 'runs'})",
        )


def _seed_colors(count: int) -> list[Any]:
    from matplotlib import colormaps

    if count > MAX_SEED_LEGEND:
        return ["#1f77b4"] * count
    cmap = colormaps["viridis"]
    return [cmap(index / max(count - 1, 1) * 0.9) for index in range(count)]


def _line_alpha(count: int) -> float:
    if count <= MAX_SEED_LEGEND:
        return 0.85
    return max(0.15, 2.5 / math.sqrt(count))


def _better_word(direction: str) -> str:
    return "higher" if direction == "maximize" else "lower"


# ---------------------------------------------------------------- z by value


def z_scores_record(analysis: Analysis, param: str, group: str) -> ZScores:
    """Compute the z-by-value figure: per-seed z, mean and 95% t-interval."""
    from scipy import stats

    values = section_values(analysis, param, group)
    positions = {value: index for index, value in enumerate(values)}
    scores = _rows(analysis.scores, param, group)
    points = tuple(
        ZPoint(int(row.seed), positions[row.value], float(row.z))
        for row in scores.itertuples(index=False)
    )

    summary = _rows(analysis.summary, param, group)
    mean, low, high = [], [], []
    for row in summary.itertuples(index=False):
        n = int(row.n)
        center = float(row.mean_z) if n > 0 else math.nan
        half = math.nan
        if n > 1:
            # Same as scipy.stats.t.interval(0.95, n - 1, mean_z, std_z / sqrt(n)).
            half = float(stats.t.ppf(0.975, n - 1)) * float(row.std_z) / math.sqrt(n)
        mean.append(center)
        low.append(center - half)
        high.append(center + half)

    return ZScores(
        param=param,
        group=group,
        metric=str(analysis.settings["metric"]),
        direction=str(analysis.settings.get("direction", "minimize")),
        labels=tuple(tick_label(value) for value in values),
        points=points,
        mean=tuple(mean),
        low=tuple(low),
        high=tuple(high),
        n=len(_group_row(analysis, param, group).complete_seeds),
        excluded=_excluded(analysis, param, group),
    )


def draw_z_scores(record: ZScores) -> Figure:
    """Draw a z-by-value record: jittered seed points, mean and 95% interval."""
    figure, axes = _new_axes(len(record.labels), 4.5)
    seeds = sorted({point.seed for point in record.points})
    jitter = _jitter(seeds)

    axes.axhline(0, color="grey", linewidth=0.8)
    axes.scatter(
        [point.position + jitter[point.seed] for point in record.points],
        [point.z for point in record.points],
        s=10,
        alpha=_line_alpha(len(seeds)),
        color="#1f77b4",
        label="one seed",
    )
    positions = list(range(len(record.labels)))
    errors = _error_bars(record.mean, record.low, record.high)
    axes.errorbar(
        positions, record.mean, yerr=errors, fmt="o", color="black", capsize=3, label="mean, 95% CI"
    )

    _set_value_axis(axes, record.labels, [float(p) for p in positions], False, False)
    axes.set_xlabel(record.param)
    axes.set_ylabel(f"z-score within seed (negative = lower {record.metric})")
    seeds_note = _seeds_note(record.n, record.excluded)
    headline = f"z-score of {record.metric} by {record.param}"
    axes.set_title(_title(headline, record.group, seeds_note))
    _outside_legend(axes)
    return figure


def _jitter(seeds: Sequence[int]) -> dict[int, float]:
    if len(seeds) < 2:
        return {seed: 0.0 for seed in seeds}
    return {seed: 0.3 * (rank / (len(seeds) - 1) - 0.5) for rank, seed in enumerate(seeds)}


def _error_bars(
    mean: Sequence[float], low: Sequence[float], high: Sequence[float]
) -> list[list[float]]:
    below = [0.0 if math.isnan(lo) else center - lo for center, lo in zip(mean, low)]
    above = [0.0 if math.isnan(hi) else hi - center for center, hi in zip(mean, high)]
    return [below, above]


# ---------------------------------------------------------------- t by value


def t_stats_record(analysis: Analysis, param: str, group: str) -> TStats:
    """Compute the t-by-value figure: t per value, the ±threshold band, Holm marks."""
    summary = _rows(analysis.summary, param, group)
    t = tuple(float(value) if not is_missing(value) else math.nan for value in summary["t"])
    threshold = float(analysis.settings.get("t_threshold", 2.0))

    finite = [abs(value) for value in t if math.isfinite(value)]
    limit = max(finite + [threshold]) * 1.25
    drawn = tuple(math.copysign(limit, value) if math.isinf(value) else value for value in t)

    return TStats(
        param=param,
        group=group,
        labels=tuple(tick_label(value) for value in summary["value"]),
        t=t,
        drawn=drawn,
        clipped=tuple(math.isinf(value) for value in t),
        limit=limit,
        threshold=threshold,
        holm=tuple(bool(value) for value in summary["holm_significant"]),
        verdicts=tuple(str(value) for value in summary["verdict"]),
        n=len(_group_row(analysis, param, group).complete_seeds),
        excluded=_excluded(analysis, param, group),
    )


def draw_t_stats(record: TStats) -> Figure:
    """Draw a t-by-value record: points, the ±threshold band, Holm-significant stars."""
    figure, axes = _new_axes(len(record.labels), 4.5)
    positions = list(range(len(record.labels)))

    axes.axhspan(-record.threshold, record.threshold, color="#e8e8e8")
    axes.axhline(0, color="grey", linewidth=0.8)
    for marker, size, chosen in _t_marker_groups(record):
        colors = [_verdict_color(record.verdicts[i]) for i in chosen]
        axes.scatter(
            chosen,
            [record.drawn[i] for i in chosen],
            marker=marker,
            s=size,
            facecolors="none" if marker == "D" else colors,
            edgecolors=colors,
            zorder=3,
        )
    for i in positions:
        if math.isnan(record.t[i]):
            axes.annotate("n/a", (i, 0), ha="center", va="bottom", fontsize="small", color="grey")

    axes.set_ylim(-record.limit * 1.08, record.limit * 1.08)
    _set_value_axis(axes, record.labels, [float(p) for p in positions], False, False)
    axes.set_xlabel(record.param)
    axes.set_ylabel("t-statistic of the z-scores")
    seeds_note = _seeds_note(record.n, record.excluded)
    axes.set_title(_title(f"t-statistic by {record.param}", record.group, seeds_note))
    axes.legend(
        handles=_t_legend(record), fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    return figure


def _t_marker_groups(record: TStats) -> list[tuple[str, int, list[int]]]:
    # Holm-significant values are stars, the others dots; a t of ±inf is
    # drawn as a hollow diamond at the edge of the axes.
    positions = range(len(record.labels))
    groups = [
        ("*", 110, [i for i in positions if record.holm[i] and not record.clipped[i]]),
        ("o", 30, [i for i in positions if not record.holm[i] and not record.clipped[i]]),
        ("D", 40, [i for i in positions if record.clipped[i]]),
    ]
    return [group for group in groups if group[2]]


def _t_legend(record: TStats) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = {
        "*": "Holm p < 0.05",
        "o": "not Holm-significant",
        "D": "t = ±inf (same effect on every seed)",
    }
    handles = [Patch(facecolor="#e8e8e8", label=f"|t| <= {record.threshold:g}")]
    for marker, _, _ in _t_marker_groups(record):
        face = "none" if marker == "D" else "#555555"
        handles.append(Line2D([], [], linestyle="none", marker=marker, color="#555555",
                              markerfacecolor=face, label=labels[marker]))
    handles.append(Patch(facecolor=_verdict_color("better"), label="better"))
    handles.append(Patch(facecolor=_verdict_color("worse"), label="worse"))
    return handles


def _verdict_color(verdict: str) -> str:
    if verdict.endswith("better"):
        return "#1a9641"
    if verdict.endswith("worse"):
        return "#d7191c"
    return "#555555"


# ---------------------------------------------------------------- trend


def trend_record(analysis: Analysis, param: str, group: str) -> TrendLine | None:
    """Compute the trend figure: z against value with the pooled least-squares line.

    Returns:
        The record, or None when the analysis fitted no trend for the section
        (a non-numeric study parameter or fewer than 3 values) or no seed
        is complete, so there are no points to draw.
    """
    import numpy as np

    trend = _rows(analysis.trend, param, group)
    if trend.empty:
        return None
    row = next(trend.itertuples(index=False))
    log_x = str(row.scale) == "log"

    scores = _rows(analysis.scores, param, group)
    points = tuple(
        TrendPoint(int(row.seed), float(row.value), float(row.z))
        for row in scores.itertuples(index=False)
    )
    xs = np.array([point.x for point in points])
    if len(np.unique(xs)) < 2:
        return None
    fit_on = np.log10(xs) if log_x else xs
    slope, intercept = np.polyfit(fit_on, [point.z for point in points], 1)
    ends = (float(xs.min()), float(xs.max()))
    fit_ends = np.log10(ends) if log_x else np.array(ends)

    return TrendLine(
        param=param,
        group=group,
        log_x=log_x,
        points=points,
        fit_x=ends,
        fit_z=(float(intercept + slope * fit_ends[0]), float(intercept + slope * fit_ends[1])),
        caption=_trend_caption(row, param, str(analysis.settings["metric"])),
        clean=bool(row.clean),
        excluded=_excluded(analysis, param, group),
    )


def _trend_caption(row: Any, param: str, metric: str) -> str:
    direction = trend_direction(param, metric, row.r)
    shape = "clean dose-response" if bool(row.clean) else "not a clean dose-response"
    numbers = f"pooled r = {float(row.r):.2f}, per-seed slope {p_equals(row.slope_p)}"
    return f"{direction}, {shape} ({numbers})"


def draw_trend(record: TrendLine) -> Figure:
    """Draw a trend record: per-seed points and the fitted line."""
    values = sorted({point.x for point in record.points})
    figure, axes = _new_axes(len(values), 4.5)
    seeds = sorted({point.seed for point in record.points})

    axes.axhline(0, color="grey", linewidth=0.8)
    axes.scatter([p.x for p in record.points], [p.z for p in record.points], s=12,
                 alpha=_line_alpha(len(seeds)), color="#1f77b4", label="one seed")
    axes.plot(record.fit_x, record.fit_z, color="#d7191c" if record.clean else "black",
              linewidth=1.5, label="least-squares line")
    _set_value_axis(axes, [tick_label(value) for value in values], values, True, record.log_x)

    axes.set_xlabel(f"{record.param} (log scale)" if record.log_x else record.param)
    axes.set_ylabel("z-score within seed")
    detail = f"{record.caption}\n{_seeds_note(len(seeds), record.excluded)}"
    title = _title(f"trend of z over {record.param}", record.group, detail)
    axes.set_title(title, fontsize="medium")
    _outside_legend(axes)
    return figure


# ---------------------------------------------------------------- status grid


def status_grid_record(
    analysis: Analysis, runs: pd.DataFrame, param: str, group: str
) -> StatusGrid:
    """Compute the status grid: every (seed, value) cell with its status."""
    values = section_values(analysis, param, group)
    cells = section_cells(analysis, runs, param, group)
    seeds = tuple(sorted_seeds(cells["seed"]))
    row_of = {seed: index for index, seed in enumerate(seeds)}

    grid = [["missing"] * len(values) for _ in seeds]
    for cell in cells.itertuples(index=False):
        grid[row_of[int(cell.seed)]][cell.position] = cell.status

    flat = [status for row in grid for status in row]
    counts = tuple((status, flat.count(status)) for status in _ordered_statuses(flat))
    return StatusGrid(
        param=param,
        group=group,
        labels=tuple(tick_label(value) for value in values),
        seeds=seeds,
        statuses=tuple(tuple(row) for row in grid),
        counts=counts,
    )


def _ordered_statuses(statuses: Sequence[str]) -> list[str]:
    present = set(statuses)
    known = [status for status in STATUSES if status in present]
    return known + sorted(present - set(STATUSES))


def draw_status_grid(record: StatusGrid) -> Figure:
    """Draw a status grid: one coloured cell per (seed, value), legend with counts."""
    import numpy as np
    from matplotlib.colors import BoundaryNorm
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    height = min(14.0, 2.0 + 0.2 * len(record.seeds))
    figure, axes = _new_axes(len(record.labels), height)
    codes = {status: index for index, status in enumerate(STATUSES)}
    # A status outside STATUSES (from a newer run record) gets the last colour.
    matrix = np.array(
        [[codes.get(status, len(STATUSES)) for status in row] for row in record.statuses]
    )
    colors = [STATUS_COLORS[status] for status in STATUSES] + [OTHER_STATUS_COLOR]
    cells = matrix.size

    axes.pcolormesh(
        np.arange(len(record.labels) + 1) - 0.5,
        np.arange(len(record.seeds) + 1) - 0.5,
        matrix,
        cmap=ListedColormap(colors),
        norm=BoundaryNorm(np.arange(len(colors) + 1) - 0.5, len(colors)),
        edgecolors="white" if cells <= 2500 else "face",
        linewidth=0.5,
    )
    axes.invert_yaxis()
    positions = [float(i) for i in range(len(record.labels))]
    _set_value_axis(axes, record.labels, positions, False, False)
    _set_seed_axis(axes, record.seeds)

    handles = [
        Patch(facecolor=STATUS_COLORS.get(status, OTHER_STATUS_COLOR), edgecolor="grey",
              label=f"{status} ({n})")
        for status, n in record.counts
    ]
    axes.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.set_xlabel(record.param)
    axes.set_ylabel("seed")
    axes.set_title(_title(f"run status by seed and {record.param}", record.group))
    return figure


def _set_seed_axis(axes: Axes, seeds: Sequence[int]) -> None:
    step = max(1, math.ceil(len(seeds) / MAX_SEED_LABELS))
    labelled = list(range(0, len(seeds), step))
    axes.set_yticks(labelled)
    axes.set_yticklabels([str(seeds[i]) for i in labelled])


# ---------------------------------------------------------------- axes


def _new_axes(value_count: int, height: float) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = min(13.0, 6.5 + 0.06 * value_count)
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _set_value_axis(
    axes: Axes, labels: Sequence[str], x: Sequence[float], numeric: bool, log_x: bool
) -> None:
    # Numeric axes with many values keep matplotlib's own tick locator;
    # otherwise ticks sit at the values and every n-th gets a label.
    from matplotlib.ticker import NullFormatter

    if log_x:
        axes.set_xscale("log")
    if numeric and len(labels) > MAX_TICK_LABELS:
        return

    step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
    labelled = list(range(0, len(labels), step))
    axes.set_xticks([x[i] for i in labelled])
    axes.set_xticks(list(x), minor=True)
    axes.xaxis.set_minor_formatter(NullFormatter())

    texts = shorten_values([labels[i] for i in labelled], 18)
    rotate = sum(len(text) for text in texts) > 60
    axes.set_xticklabels(texts, rotation=40 if rotate else 0, ha="right" if rotate else "center")


def _title(headline: str, group: str, detail: str = "") -> str:
    lines = [headline + (f" ({group})" if group else "")]
    if detail:
        lines.append(detail)
    wrapped = []
    for text in lines:
        for line in text.splitlines():
            wrapped.append(textwrap.fill(line, TITLE_WIDTH, break_on_hyphens=False))
    return "\n".join(wrapped)


def _seeds_note(n: int, excluded: Sequence[ExcludedSeed]) -> str:
    note = f"{n} complete {'seed' if n == 1 else 'seeds'}"
    if not excluded:
        return note
    seeds = ", ".join(str(item.seed) for item in excluded[:8])
    more = f" and {len(excluded) - 8} more" if len(excluded) > 8 else ""
    noun = "seed" if len(excluded) == 1 else "seeds"
    return f"{note}; excluded (see the status grid): {noun} {seeds}{more}"


# ---------------------------------------------------------------- files


def figure_stem(kind: str, param: str, group: str) -> str:
    """Return a file-name stem such as ``paired_lr`` or ``paired_lr__model=resnet``.

    Characters other than letters, digits and ``._=,+-`` become ``_``; a stem
    longer than 100 characters is cut and given a hash of the full name.
    """
    name = f"{kind}_{param}" + (f"__{group.replace(', ', ',')}" if group else "")
    stem = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", name)
    if len(stem) > MAX_STEM_LENGTH:
        stem = f"{stem[: MAX_STEM_LENGTH - 9]}_{_short_hash(name)}"
    return stem


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def figure_records(
    analysis: Analysis, runs: pd.DataFrame, param: str, group: str
) -> list[tuple[str, Any]]:
    """Return ``(kind, record)`` for every figure of one section.

    The trend figure is left out when the analysis fitted no trend.
    """
    records = [
        ("paired", paired_lines_record(analysis, runs, param, group)),
        ("z", z_scores_record(analysis, param, group)),
        ("t", t_stats_record(analysis, param, group)),
        ("trend", trend_record(analysis, param, group)),
        ("status", status_grid_record(analysis, runs, param, group)),
    ]
    return [(kind, record) for kind, record in records if record is not None]


FIGURE_TITLES = {
    "paired": "Paired lines: is the ranking the same on every seed?",
    "z": "z-score by value: how consistent is each value?",
    "t": "t-statistic by value",
    "trend": "Trend of z over the value",
    "status": "Status grid: where did runs fail?",
}

_DRAWERS = {
    PairedLines: draw_paired_lines,
    ZScores: draw_z_scores,
    TStats: draw_t_stats,
    TrendLine: draw_trend,
    StatusGrid: draw_status_grid,
}


def draw(record: Any) -> Figure:
    """Draw any figure record on a new Agg figure."""
    return _DRAWERS[type(record)](record)


def save(figure: Figure, stem: Path, formats: Sequence[str] = ("png",)) -> tuple[Path, ...]:
    """Save ``figure`` as ``stem.png`` (and ``stem.svg``) and return the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        figure.savefig(path, format=fmt, dpi=110)
        paths.append(path)
    return tuple(paths)


def draw_figures(
    analysis: Analysis,
    runs: pd.DataFrame,
    out_dir: Path,
    formats: Sequence[str] = ("png",),
) -> list[FigureFile]:
    """Draw every figure of every section into ``out_dir``.

    Args:
        analysis: the result of ``seedsweep.stats.analyze``.
        runs: the run table the analysis was computed from.
        out_dir: the folder for the figure files (created when absent).
        formats: file formats, ``png`` and/or ``svg``.

    Returns:
        One entry per figure in section order. A figure that fails to draw
        is logged as a warning and returned with its error and no paths, so
        one broken figure does not cost the rest of the report.

    Raises:
        ValueError: an unknown format.
    """
    unknown = [fmt for fmt in formats if fmt not in FIGURE_FORMATS]
    if unknown:
        known = ", ".join(FIGURE_FORMATS)
        raise ValueError(f"unknown figure format {unknown[0]!r}; use one of: {known}")

    drawn: list[FigureFile] = []
    used: set[str] = set()
    for param, group in sections(analysis):
        for kind, record in figure_records(analysis, runs, param, group):
            stem = _unique_stem(figure_stem(kind, param, group), used)
            drawn.append(_draw_one(kind, param, group, record, Path(out_dir) / stem, formats))
    return drawn


def _unique_stem(stem: str, used: set[str]) -> str:
    # Sanitising can map two groups to one stem; the second gets a hash.
    if stem in used:
        stem = f"{stem}_{_short_hash(stem + str(len(used)))}"
    used.add(stem)
    return stem


def _draw_one(
    kind: str, param: str, group: str, record: Any, stem: Path, formats: Sequence[str]
) -> FigureFile:
    title = FIGURE_TITLES[kind]
    try:
        paths = save(draw(record), stem, formats)
    except Exception as error:  # noqa: BLE001 - a plotting bug must not lose the report
        section = section_title(param, group)
        log.warning("could not draw the %s figure of %s: %s", kind, section, error)
        return FigureFile(kind, param, group, title, (), f"{type(error).__name__}: {error}")
    return FigureFile(kind, param, group, title, paths)
