"""Same-seed statistics: the method of seedsweep as pure functions of the run table.

For each study parameter and each group, the analysis pairs the runs by
seed and z-scores the metric within each complete seed. It t-tests each
value's z-scores across seeds and tests the trend of a numeric parameter.
It states each value's effect in metric units against a reference value and
estimates the seeds a paired t-test would need. Failed and missing runs are
listed as failures and never turned into numbers.

This module reads no files and does not depend on Hydra or plotting.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any
from typing import Mapping
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.stats

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Two-sided level of the Holm correction, the seed-level trend test and the
# power calculation.
ALPHA = 0.05
# Power that `seeds_needed` aims for.
POWER = 0.8
# Coverage of the effect's t-interval.
CONFIDENCE = 0.95
# Below this many complete seeds a passing value is only suggestive.
MIN_RELIABLE_SEEDS = 4
# |mean_z| at or above which a value that fails the rule is inconsistent.
INCONSISTENT_MEAN_Z = 0.5
# Pooled |r| at or above which a trend that passes the seed-level test is clean.
CLEAN_TREND_R = 0.8
# max/min of all-positive values at or above which the trend axis is log10.
LOG_SPACING_RATIO = 100.0
# Monte Carlo draws behind `false_alarm_chance`, and the fixed RNG seed that
# makes the figure the same on every call.
FALSE_ALARM_DRAWS = 20_000
FALSE_ALARM_RNG_SEED = 12_345
# Largest n * k for which `false_alarm_chance` simulates the exact null. The
# cost is FALSE_ALARM_DRAWS * n * k normal draws (about 0.15 s at 300).
FALSE_ALARM_EXACT_CELLS = 300
# z-scores have unit scale, so a spread of the z-scores (or of the per-seed
# slopes) below this is rounding error: the values are identical on every seed.
ZERO_SPREAD = 1e-9
# Relative margin by which |t| must exceed t_threshold. Two values give exact
# ties (5 of 6 seeds agreeing is |t| = 2 exactly), and rounding must not
# decide them.
THRESHOLD_MARGIN = 1e-9

RELIABLY_BETTER = "reliably_better"
RELIABLY_WORSE = "reliably_worse"
SUGGESTIVE_BETTER = "suggestive_better"
SUGGESTIVE_WORSE = "suggestive_worse"
INCONSISTENT = "inconsistent"
NO_EFFECT = "no_effect"
UNDETERMINED = "undetermined"
NO_DATA = "no_data"
VERDICTS = (
    RELIABLY_BETTER,
    RELIABLY_WORSE,
    SUGGESTIVE_BETTER,
    SUGGESTIVE_WORSE,
    INCONSISTENT,
    NO_EFFECT,
    UNDETERMINED,
    NO_DATA,
)
RELIABLE_VERDICTS = frozenset({RELIABLY_BETTER, RELIABLY_WORSE})

DIRECTIONS = ("minimize", "maximize")
SCALES = ("auto", "linear", "log")
VERDICT_RULES = ("seed", "strict")

SEED = "seed"
STATUS = "status"
REASON = "reason"
JOB_DIR = "job_dir"
# Columns of the run table that are neither parameters nor metrics.
RUN_TABLE_COLUMNS = frozenset({"job", JOB_DIR, SEED, STATUS, REASON, "error_type", "duration"})

SUMMARY_COLUMNS = [
    "param", "group", "value", "n", "n_runs", "n_ok", "n_failed", "n_missing",
    "failure_rate", "mean_metric", "std_metric", "mean_z", "std_z", "t", "dof",
    "p", "p_holm", "holm_significant", "verdict", "verdict_text", "reference",
    "effect", "effect_low", "effect_high", "seeds_needed", "set_aside",
]
TREND_COLUMNS = [
    "param", "group", "scale", "k", "n", "N", "r", "r_t", "r_p", "slope_t",
    "slope_p", "slope_n", "slope", "spearman_rho", "spearman_p", "clean", "trend_text",
]
FAILURE_COLUMNS = ["param", "group", "value", "seed", "status", "reason", "job_dir"]
SCORE_COLUMNS = ["param", "group", "seed", "value", "metric", "z"]
GROUP_COLUMNS = [
    "param", "group", "group_keys", "k", "n_seeds", "n", "complete_seeds",
    "excluded_seeds", "flat_seeds", "reference", "false_alarm_chance", "note",
]

# Cell states of the seed x value grid.
_OK = 0
_FAILED = 1
_ABSENT = 2

# (group, seed) and (group, value) pairs are numbered by counting every possible
# pair when there are at most this many per row. Above that, they are hashed.
_DENSE_PAIRS_PER_ROW = 4


class AnalysisError(ValueError):
    """The run table or an argument cannot be analysed. The message names the value and the fix."""


@dataclass(frozen=True)
class Analysis:
    """The result of `analyze`: settings, tidy tables and notes.

    Attributes:
        settings: metric, direction, params analysed, groups, baseline, scale,
            t_threshold, verdict_rule, seed_key and the method's constants.
        summary: one row per (param, group, value).
        trend: one row per (param, group) of a numeric parameter with k >= 3.
        failures: one row per run that is not ok and per missing grid cell.
        scores: metric and z-score per (param, group, seed, value), complete
            seeds only.
        groups: one row per (param, group).
        notes: warnings in words (interaction, flat seeds, ...).
    """

    settings: dict[str, Any]
    summary: pd.DataFrame
    trend: pd.DataFrame
    failures: pd.DataFrame
    scores: pd.DataFrame
    groups: pd.DataFrame
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """Return the analysis.json document (schema_version 1).

        The document holds only JSON types: NaN becomes null and ±inf the
        strings "inf" and "-inf", as in run records. ``scores`` is left out.
        docs/analysis-json.md describes every field.
        """
        summary_by_group = {key: rows for key, rows in self.summary.groupby(["param", "group"], sort=False)}
        trend_by_group = {
            (row["param"], row["group"]): row for row in self.trend.to_dict("records")
        }
        groups = []
        for group in self.groups.to_dict("records"):
            key = (group["param"], group["group"])
            values = summary_by_group.get(key, self.summary.iloc[0:0])
            trend = trend_by_group.get(key)
            groups.append(_group_document(group, values, trend))

        return {
            "schema_version": SCHEMA_VERSION,
            "settings": _jsonable(self.settings),
            "groups": groups,
            "failures": [_jsonable(row) for row in self.failures.to_dict("records")],
            "notes": list(self.notes),
        }


def _group_document(group: dict, values: pd.DataFrame, trend: dict | None) -> dict[str, Any]:
    document = _jsonable(group)
    value_fields = [column for column in SUMMARY_COLUMNS if column not in ("param", "group", "reference")]
    document["values"] = [_jsonable(row) for row in values[value_fields].to_dict("records")]
    if trend is None:
        document["trend"] = None
    else:
        document["trend"] = _jsonable({key: trend[key] for key in TREND_COLUMNS[2:]})
    return document


def _jsonable(value: Any) -> Any:
    """Convert to JSON types: numpy scalars to Python, NaN/NA to None, ±inf to text."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    value = _native(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def _native(value: Any) -> Any:
    """Return a numpy scalar as the Python scalar of the same kind."""
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------- public API


def analyze(
    runs: pd.DataFrame,
    *,
    param: str | Sequence[str] | None = None,
    metric: str | None = None,
    direction: str | None = None,
    groups: Sequence[str] = (),
    baseline: Any = None,
    scale: str = "auto",
    t_threshold: float = 2.0,
    verdict_rule: str = "seed",
) -> Analysis:
    """Compare the values of each study parameter on the same seeds.

    An argument left at its default takes the setting the sweep recorded in
    ``runs.attrs["seedsweep"]`` when there is one: None for param, metric,
    direction and baseline, ``()`` for groups, and "auto", 2.0 and "seed"
    for scale, t_threshold and verdict_rule.

    Args:
        runs: the run table (one row per run: seed, parameter columns, metric
            columns, status, reason, job_dir).
        param: the study parameter(s). None analyses every swept parameter
            that is not in ``groups``, each in turn with the other swept
            parameters held fixed as groups.
        metric: the metric column. None: the sweep's metric, else the only
            metric column.
        direction: "minimize" (the default) or "maximize".
        groups: parameters that only form groups; groups are never compared.
        baseline: reference value of the study parameter for the effects.
            None: the best value by mean z-score in each group. With several
            study parameters, the baseline applies to each parameter whose
            values contain it; a mapping {param: value} sets one per parameter.
        scale: trend axis, "auto" (log10 when log-spaced), "linear" or "log".
        t_threshold: the |t| a value must exceed under the "seed" rule.
        verdict_rule: "seed" (|t| > t_threshold) or "strict" (Holm p < 0.05).

    Returns:
        The analysis: settings, summary, trend, failures, scores, groups, notes.

    Raises:
        AnalysisError: an argument or the run table cannot be analysed; the
            message names the value and the fix.
    """
    codes = _Codes(runs)
    settings = _resolve_settings(
        runs,
        codes,
        param=param,
        metric=metric,
        direction=direction,
        groups=groups,
        baseline=baseline,
        scale=scale,
        t_threshold=t_threshold,
        verdict_rule=verdict_rule,
    )

    rows = _classify_rows(runs, settings)
    if not rows.ok.any():
        raise AnalysisError(_every_run_failed(rows))
    results = [_analyze_param(runs, rows, codes, settings, name) for name in settings.params]

    return _assemble(settings, rows, results, _one_run_per_value_notes(runs, codes, settings))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return Holm-adjusted p-values; NaN entries stay NaN and are not counted.

    Same as ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``
    on the non-NaN entries.

    Args:
        p_values: p-values of one family, shape (k,).

    Returns:
        The adjusted p-values, shape (k,), in the input order.
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p_values))
    m = len(valid)
    if m == 0:
        return adjusted

    order = valid[np.argsort(p_values[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p_values[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def false_alarm_chance(n: int, k: int, t_threshold: float = 2.0, verdict_rule: str = "seed") -> float:
    """Return the chance that at least one of k values passes the verdict rule by luck.

    "By luck" means no real effect: every metric is an independent standard
    normal draw, pushed through the same z-score and t pipeline as the data.
    Under the "seed" rule a value passes when |t| > t_threshold. Under
    "strict" it passes when its Holm-adjusted p < ALPHA, and some value does
    exactly when the largest |t| exceeds the Bonferroni critical value
    ``scipy.stats.t.isf(ALPHA / (2 * k), n - 1)``.

    The figure is exact for k = 2 (z is ±1, so it is a sum over binomial
    outcomes, and under "strict" the paired t-test's p passes Holm with
    chance ALPHA / 2), a Monte Carlo of FALSE_ALARM_DRAWS draws of the exact null
    for n * k <= FALSE_ALARM_EXACT_CELLS, and beyond that the large-n limit
    described in `_limit_max_abs_t`.

    Args:
        n: complete seeds.
        k: values of the study parameter.
        t_threshold: the |t| of the "seed" rule.
        verdict_rule: "seed" or "strict".

    Returns:
        The chance in [0, 1]; NaN when n < 2 or k < 2 (no t-statistic).

    Raises:
        AnalysisError: verdict_rule is neither "seed" nor "strict".
    """
    _check_choice(verdict_rule, VERDICT_RULES, "verdict_rule")
    if n < 2 or k < 2:
        return math.nan
    if k == 2 and verdict_rule == "strict":
        # Both values share the paired t-test's p, so Holm passes them when p < ALPHA / 2.
        return ALPHA / k
    if verdict_rule == "strict":
        critical = float(scipy.stats.t.isf(ALPHA / (2 * k), n - 1))
    else:
        critical = float(t_threshold) * (1 + THRESHOLD_MARGIN)

    if k == 2:
        return _two_value_false_alarm(n, critical)

    maxima = _null_max_abs_t(n, k)
    if maxima is None:
        maxima = _limit_max_abs_t(k)
        # The same tail probability on the standard normal as on t(n - 1).
        critical = float(scipy.stats.norm.isf(scipy.stats.t.sf(critical, n - 1)))
    passed = len(maxima) - np.searchsorted(maxima, critical, side="right")
    return float(passed / len(maxima))


def _two_value_false_alarm(n: int, critical: float) -> float:
    """Return P(|t| > critical) for k = 2, where z = ±1 on every seed.

    With j of n seeds at +1, mean_z = (2j - n) / n and the sample variance is
    n / (n - 1) * (1 - mean_z²); j = 0 and j = n give an infinite t.
    """
    j = np.arange(n + 1)
    mean_z = (2 * j - n) / n
    variance = n / (n - 1) * (1 - mean_z**2)
    with np.errstate(divide="ignore"):
        t = np.abs(mean_z) / np.sqrt(variance / n)
    t[[0, n]] = np.inf
    probability = scipy.stats.binom.pmf(j, n, 0.5)
    return float(probability[t > critical].sum())


@functools.lru_cache(maxsize=64)
def _null_max_abs_t(n: int, k: int) -> np.ndarray | None:
    """Simulate max_v |t_v| under the exact null; None when n * k is too large.

    Returns the sorted maxima of FALSE_ALARM_DRAWS draws, each an n x k table
    of independent standard normal metrics.
    """
    if n * k > FALSE_ALARM_EXACT_CELLS:
        return None

    rng = np.random.default_rng(FALSE_ALARM_RNG_SEED)
    draws_per_chunk = max(1, 1_000_000 // (n * k))
    maxima = []
    for start in range(0, FALSE_ALARM_DRAWS, draws_per_chunk):
        size = min(draws_per_chunk, FALSE_ALARM_DRAWS - start)
        metrics = rng.standard_normal((size, n, k))
        z = (metrics - metrics.mean(axis=2, keepdims=True)) / metrics.std(axis=2, keepdims=True)
        t = z.mean(axis=1) / (z.std(axis=1, ddof=1) / math.sqrt(n))
        maxima.append(np.abs(t).max(axis=1))
    return np.sort(np.concatenate(maxima))


@functools.lru_cache(maxsize=64)
def _limit_max_abs_t(k: int) -> np.ndarray:
    """Simulate max_v |t_v| in the large-n limit, where t is normal.

    As n grows, the vector of t-statistics tends to a normal vector with unit
    variances and correlation -1/(k - 1), because each seed's z-scores sum to
    zero. That vector is (x - mean(x)) * sqrt(k / (k - 1)) for independent
    standard normal x. `false_alarm_chance` moves the threshold so that each
    value's tail matches Student's t(n - 1).

    NOTE: this limit is an approximation. Checked against simulations of the
    exact null with n * k between 300 and 2000, it was within about 0.015 of
    them (the largest gaps at k near 10).
    """
    rng = np.random.default_rng(FALSE_ALARM_RNG_SEED)
    draws = rng.standard_normal((FALSE_ALARM_DRAWS, k))
    limit = (draws - draws.mean(axis=1, keepdims=True)) * math.sqrt(k / (k - 1))
    return np.sort(np.abs(limit).max(axis=1))


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class _Settings:
    metric: str
    direction: str
    params: list[str]
    groups: list[str]
    held_fixed: dict[str, list[str]]
    baselines: dict[str, Any]
    baseline: Any
    scale: str
    t_threshold: float
    verdict_rule: str
    seed_key: str
    swept: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "params": list(self.params),
            "groups": list(self.groups),
            "held_fixed": {name: list(keys) for name, keys in self.held_fixed.items()},
            "baseline": _native(self.baseline),
            "scale": self.scale,
            "t_threshold": self.t_threshold,
            "verdict_rule": self.verdict_rule,
            "seed_key": self.seed_key,
            "alpha": ALPHA,
            "power": POWER,
            "confidence": CONFIDENCE,
            "min_reliable_seeds": MIN_RELIABLE_SEEDS,
            "false_alarm_draws": FALSE_ALARM_DRAWS,
        }


def _resolve_settings(runs: Any, codes: _Codes, **arguments: Any) -> _Settings:
    _check_table(runs)
    recorded = dict(runs.attrs.get("seedsweep") or {})

    direction = _recorded_or(arguments["direction"], None, recorded, "direction", "minimize")
    scale = _recorded_or(arguments["scale"], "auto", recorded, "scale", "auto")
    t_threshold = _recorded_or(arguments["t_threshold"], 2.0, recorded, "t_threshold", 2.0)
    verdict_rule = _recorded_or(arguments["verdict_rule"], "seed", recorded, "verdict_rule", "seed")
    baseline = _recorded_or(arguments["baseline"], None, recorded, "baseline", None)
    groups = _as_names(arguments["groups"], "groups") or _as_names(recorded.get("groups"), "groups")
    named = _as_names(arguments["param"], "param")

    _check_choice(direction, DIRECTIONS, "direction")
    _check_choice(scale, SCALES, "scale")
    _check_choice(verdict_rule, VERDICT_RULES, "verdict_rule")
    t_threshold = _check_threshold(t_threshold)

    metric, params = _resolve_columns(runs, recorded, named, arguments["metric"], groups)
    _check_groups(runs, groups, metric)
    swept = [name for name in params if codes.distinct(name) > 1]
    analysed = _analysed_params(runs, codes, named, swept, groups, params)
    held_fixed = {name: groups + [q for q in swept if q != name and q not in groups] for name in analysed}
    baselines = _resolve_baselines(runs, baseline, analysed)
    if scale == "log":
        _check_log_scale(runs, analysed)

    return _Settings(
        metric=metric,
        direction=direction,
        params=analysed,
        groups=groups,
        held_fixed=held_fixed,
        baselines=baselines,
        baseline=baseline,
        scale=scale,
        t_threshold=t_threshold,
        verdict_rule=verdict_rule,
        seed_key=str(recorded.get("seed_key") or SEED),
        swept=swept,
    )


def _check_table(runs: Any) -> None:
    if not isinstance(runs, pd.DataFrame):
        raise AnalysisError(f"runs must be a pandas DataFrame (the run table), got {type(runs).__name__}")
    if runs.empty:
        raise AnalysisError("the run table has no runs: there is nothing to analyse")
    if SEED not in runs.columns:
        raise AnalysisError(
            f"the run table has no {SEED!r} column: name the seed column {SEED!r} "
            f"(columns: {', '.join(map(str, runs.columns))})"
        )
    if runs[SEED].isna().any():
        count = _count(int(runs[SEED].isna().sum()), "run has", "runs have")
        raise AnalysisError(f"{count} no seed (empty {SEED!r}): give every run its seed or drop those rows")


def _recorded_or(value: Any, default: Any, recorded: Mapping[str, Any], key: str, fallback: Any) -> Any:
    """Return the argument unless it is the default, then the recorded setting, then the fallback."""
    if value is not None and value != default:
        return value
    if recorded.get(key) is not None:
        return recorded[key]
    return fallback if value is None else value


def _as_names(value: Any, argument: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        names = list(value)
    except TypeError:
        raise AnalysisError(f"{argument} must be a column name or a list of them, got {value!r}") from None
    for name in names:
        if not isinstance(name, str):
            raise AnalysisError(f"{argument} must contain column names (str), got {name!r}")
    return names


def _check_choice(value: Any, choices: Sequence[str], argument: str) -> None:
    if value not in choices:
        options = ", ".join(repr(choice) for choice in choices)
        raise AnalysisError(f"{argument} must be one of {options}, got {value!r}")


def _check_threshold(value: Any) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise AnalysisError(f"t_threshold must be a positive number, got {value!r}") from None
    if not math.isfinite(threshold) or threshold <= 0:
        raise AnalysisError(f"t_threshold must be a positive finite number, got {value!r}")
    return threshold


def _resolve_columns(
    runs: pd.DataFrame, recorded: Mapping[str, Any], named: list[str], metric: str | None, groups: list[str]
) -> tuple[str, list[str]]:
    """Return the metric column and the parameter columns of the run table."""
    candidates = [str(c) for c in runs.columns if c not in RUN_TABLE_COLUMNS]
    metrics = [m for m in (recorded.get("metrics") or []) if m in runs.columns]
    params = [p for p in (recorded.get("params") or []) if p in runs.columns and p != SEED]

    if metric is None:
        metric = recorded.get("metric")
    if metric is None:
        metric = _only_metric(candidates, metrics, params or named + groups)
    if not isinstance(metric, str) or metric not in runs.columns:
        choices = ", ".join(metrics or [c for c in candidates if c not in params + named + groups]) or "none"
        raise AnalysisError(f"unknown metric {metric!r}: the run table's metric columns are {choices}")
    if metric == SEED or metric in named + groups:
        raise AnalysisError(
            f"{metric!r} cannot be both the metric and the seed, a study parameter or a group key"
        )
    params = [p for p in params if p != metric]

    if not params:
        params = [c for c in candidates if c != metric and c not in metrics]
    for name in named + groups:
        if name in runs.columns and name not in params and name not in (metric, SEED):
            params.append(name)
    return metric, params


def _only_metric(candidates: list[str], metrics: list[str], params: list[str]) -> str:
    if not metrics:
        metrics = [c for c in candidates if c not in params]
    if len(metrics) == 1:
        return metrics[0]
    if not metrics:
        raise AnalysisError(
            "no run produced a number to analyse (no metric column); the failures table lists "
            "each run's reason"
        )
    listed = ", ".join(metrics)
    raise AnalysisError(
        f"no metric named and the run table has several candidate columns ({listed}): name one "
        "(metric= in Python, --metric for seedsweep analyze, hydra.sweeper.metric in a sweep)"
    )


def _check_groups(runs: pd.DataFrame, groups: list[str], metric: str) -> None:
    for name in groups:
        if name not in runs.columns:
            columns = ", ".join(str(column) for column in runs.columns if column not in RUN_TABLE_COLUMNS)
            raise AnalysisError(f"unknown group key {name!r}: the run table's other columns are {columns or 'none'}")
        if name in (SEED, metric):
            raise AnalysisError(f"{name!r} cannot form groups: it is the seed or the metric")


def _analysed_params(
    runs: pd.DataFrame, codes: _Codes, named: list[str], swept: list[str], groups: list[str], params: list[str]
) -> list[str]:
    if not named:
        analysed = [name for name in swept if name not in groups]
        if not analysed:
            constants = [f"{name}={value!r}" for name, value in _first_values(runs, params)]
            raise AnalysisError(
                "no swept study parameter: every parameter outside groups has one value "
                f"({', '.join(constants) or 'none'}); sweep at least two values of one parameter"
            )
        return analysed

    for name in named:
        _check_study_param(runs, codes, name, groups, params)
    return named


def _first_values(runs: pd.DataFrame, params: list[str]) -> list[tuple[str, Any]]:
    return [(name, _native(runs[name].dropna().iloc[0])) for name in params if runs[name].notna().any()]


def _check_study_param(runs: pd.DataFrame, codes: _Codes, name: str, groups: list[str], params: list[str]) -> None:
    if name == SEED:
        raise AnalysisError(f"{SEED!r} is the seed axis and cannot be the study parameter")
    if name not in runs.columns or name not in params:
        known = ", ".join(params) or "none"
        raise AnalysisError(f"unknown parameter {name!r}: the run table's parameters are {known}")
    if name in groups:
        raise AnalysisError(f"{name!r} is both the study parameter and a group key: remove it from groups")
    if codes.distinct(name) < 2:
        values = codes[name][1].dropna()
        only = repr(_native(values[0])) if len(values) else "none"
        raise AnalysisError(
            f"parameter {name!r} has one value only ({only}): sweep at least two values to compare"
        )


def _resolve_baselines(runs: pd.DataFrame, baseline: Any, analysed: list[str]) -> dict[str, Any]:
    """Map each study parameter to its baseline value (as in the table), or omit it."""
    if baseline is None:
        return {}
    if isinstance(baseline, Mapping):
        unknown = [name for name in baseline if name not in analysed]
        if unknown:
            raise AnalysisError(f"baseline names {unknown} but the study parameters are {analysed}")
        requested = dict(baseline)
    else:
        requested = {name: baseline for name in analysed}

    baselines = {}
    for name, value in requested.items():
        values = _sorted_unique(runs[name])
        index = _find_value(value, values)
        if index is not None:
            baselines[name] = values[index]
        elif len(analysed) == 1 or isinstance(baseline, Mapping):
            raise AnalysisError(
                f"baseline {value!r} is not among the values of {name!r} ({', '.join(map(str, values))}): "
                "pass one of them"
            )
    if not baselines:
        raise AnalysisError(
            f"baseline {baseline!r} is not among the values of any study parameter ({', '.join(analysed)})"
        )
    return baselines


def _find_value(target: Any, values: Sequence[Any]) -> int | None:
    """Return the index of ``target`` in ``values``, matching "1e-3" to 0.001."""
    for index, value in enumerate(values):
        if _same_value(target, value):
            return index
    return None


def _same_value(target: Any, value: Any) -> bool:
    target = _native(target)
    value = _native(value)
    if isinstance(value, bool) or isinstance(target, bool):
        return str(target).lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return math.isclose(float(target), float(value), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return str(target) == str(value)


def _check_log_scale(runs: pd.DataFrame, analysed: list[str]) -> None:
    for name in analysed:
        values = _sorted_unique(runs[name])
        if _is_numeric(values) and min(values) <= 0:
            raise AnalysisError(
                f"scale='log' needs positive values, but {name!r} has {min(values)!r}: "
                "use scale='linear' or 'auto'"
            )


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class _Rows:
    """Per-row facts of the run table for the metric analysed."""

    metric: np.ndarray  # float64: the metric where the run is usable, else NaN
    ok: np.ndarray  # bool: status ok and a finite metric
    runs: pd.DataFrame
    relabelled: dict[int, tuple[str, str]]  # row -> (status, reason) for ok rows with no finite metric

    def describe(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the status, reason and job dir of the given rows (None where unknown)."""
        status = _column_values(self.runs, STATUS, rows, default="ok")
        reason = _column_values(self.runs, REASON, rows)
        job_dir = _column_values(self.runs, JOB_DIR, rows)
        for position in np.flatnonzero(np.isin(rows, list(self.relabelled))):
            status[position], reason[position] = self.relabelled[int(rows[position])]
        return status, reason, job_dir


def _classify_rows(runs: pd.DataFrame, settings: _Settings) -> _Rows:
    """Decide which rows are usable; a row with status ok but NaN or inf counts as diverged."""
    raw = runs[settings.metric]
    metric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(metric)

    status_ok = _status_ok(runs[STATUS]) if STATUS in runs.columns else np.ones(len(runs), dtype=bool)
    ok = status_ok & finite

    relabelled = {}
    for row in np.flatnonzero(status_ok & ~finite).tolist():
        relabelled[row] = _unusable_metric(settings.metric, metric[row], raw.iloc[row])
    if relabelled:
        count = _count(len(relabelled), "run has", "runs have")
        log.warning("%s status ok but no finite %s: counted as failed", count, settings.metric)
    return _Rows(np.where(ok, metric, np.nan), ok, runs, relabelled)


def _status_ok(status: pd.Series) -> np.ndarray:
    """Return where the status is ok; RunStatus members compare equal to their text."""
    if status.dtype == object:
        try:
            # numpy compares an object column in one pass (measured: 10 ms against 33 ms for 1e6 rows).
            return np.asarray(status.to_numpy() == "ok", dtype=bool)
        except TypeError:
            pass  # pd.NA has no truth value, so pandas' comparison below handles it.
    return (status == "ok").to_numpy(dtype=bool, na_value=False)


def _column_values(runs: pd.DataFrame, column: str, rows: np.ndarray, default: Any = None) -> np.ndarray:
    """Return a column's values at the given rows as text, None where empty."""
    if column not in runs.columns:
        return np.full(len(rows), default, dtype=object)
    values = runs[column].iloc[rows].to_numpy(dtype=object)
    empty = pd.isna(values)
    return np.array([None if gap else str(value) for value, gap in zip(values, empty)], dtype=object)


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _unusable_metric(name: str, number: float, raw: Any) -> tuple[str, str]:
    """Return the status and reason of an ok row whose metric is no finite number."""
    if math.isnan(number) and raw is not None and not _is_nan(raw):
        return "invalid", f"{name} is not a number ({raw!r})"
    if math.isnan(number):
        return "diverged", f"{name} is NaN"
    return "diverged", f"{name} is {'+' if number > 0 else '-'}inf"


def _is_nan(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- grid


@dataclass(frozen=True)
class _Grid:
    """The seed x value grid of every group for one study parameter.

    Group g owns the cells ``offsets[g]:offsets[g + 1]`` of the flat arrays,
    laid out row-major as (the group's seeds) x (the group's values). A
    group's seeds and values are those that occur in its rows.
    """

    param: str
    keys: list[str]
    labels: list[str]
    key_values: list[dict[str, Any]]
    values: pd.Index  # every value of the study parameter, natural order
    seeds: pd.Index  # every seed, ascending
    seed_codes: np.ndarray  # codes into seeds, group after group
    seed_starts: np.ndarray  # group g's seeds: seed_codes[seed_starts[g]:seed_starts[g + 1]]
    value_codes: np.ndarray  # codes into values, group after group
    value_starts: np.ndarray
    offsets: np.ndarray
    metric: np.ndarray  # flat float64, NaN unless the cell's run is ok
    state: np.ndarray  # flat int8: _OK, _FAILED or _ABSENT
    row: np.ndarray  # flat int64: the cell's row in the run table, -1 when absent

    def block(self, group: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the group's seed codes, value codes, metric and state (seeds x values)."""
        seeds = self.seed_codes[self.seed_starts[group] : self.seed_starts[group + 1]]
        values = self.value_codes[self.value_starts[group] : self.value_starts[group + 1]]
        cells = slice(self.offsets[group], self.offsets[group + 1])
        shape = (len(seeds), len(values))
        return seeds, values, self.metric[cells].reshape(shape), self.state[cells].reshape(shape)


def _build_grid(runs: pd.DataFrame, rows: _Rows, codes: _Codes, param: str, keys: list[str]) -> _Grid:
    _check_param_values(runs, param)
    group_codes, labels, key_values = _group_codes(codes, keys, len(runs))
    seed_codes, seeds = codes[SEED]
    if seeds.dtype.kind == "f" and np.all(seeds == np.round(seeds)):
        # Seeds read back as floats (1.0) are shown as the ints they are.
        seeds = seeds.astype(np.int64)
    value_codes, values = codes[param]
    n_groups = len(labels)

    seed_local, group_seeds, seed_starts = _local_codes(group_codes, seed_codes, len(seeds), n_groups)
    value_local, group_values, value_starts = _local_codes(group_codes, value_codes, len(values), n_groups)
    n_seeds = np.diff(seed_starts)
    n_values = np.diff(value_starts)
    offsets = np.concatenate([[0], np.cumsum(n_seeds * n_values)])

    flat = offsets[group_codes] + seed_local * n_values[group_codes] + value_local
    _reject_duplicate_cells(runs, flat, int(offsets[-1]), param, labels, group_codes)

    state = np.full(offsets[-1], _ABSENT, dtype=np.int8)
    state[flat] = np.where(rows.ok, _OK, _FAILED)
    metric = np.full(offsets[-1], np.nan)
    metric[flat] = rows.metric
    row = np.full(offsets[-1], -1, dtype=np.int64)
    row[flat] = np.arange(len(runs))

    return _Grid(
        param=param,
        keys=keys,
        labels=labels,
        key_values=key_values,
        values=values,
        seeds=seeds,
        seed_codes=group_seeds,
        seed_starts=seed_starts,
        value_codes=group_values,
        value_starts=value_starts,
        offsets=offsets,
        metric=metric,
        state=state,
        row=row,
    )


def _check_param_values(runs: pd.DataFrame, param: str) -> None:
    missing = runs[param].isna()
    if missing.any():
        raise AnalysisError(
            f"{_count(int(missing.sum()), 'run has', 'runs have')} no value of {param!r} (empty cells): "
            "fill in the value each run used, or drop those rows"
        )


def _group_codes(
    codes: _Codes, keys: list[str], n_rows: int
) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Return each row's group code and each group's label and key values, groups in key order."""
    if not keys:
        return np.zeros(n_rows, dtype=np.int64), [""], [{}]

    combined = np.zeros(n_rows, dtype=np.int64)
    uniques_per_key = []
    for key in keys:
        key_codes, uniques = codes[key]
        combined = combined * len(uniques) + key_codes
        uniques_per_key.append(uniques)
    if len(keys) == 1:
        # One key's codes already number its groups 0, 1, ... in order.
        group_codes, combos = combined, np.arange(len(uniques_per_key[0]))
    else:
        group_codes, combos = pd.factorize(combined, sort=True)

    key_values = []
    for combo in combos:
        digits = []
        for uniques in reversed(uniques_per_key):
            combo, digit = divmod(int(combo), len(uniques))
            digits.append(_native(uniques[digit]))
        key_values.append(dict(zip(keys, reversed(digits))))
    labels = [", ".join(f"{key}={_format_value(value)}" for key, value in kv.items()) for kv in key_values]
    return group_codes.astype(np.int64), labels, key_values


class _Codes:
    """Each column's codes into its distinct values in natural order, worked out once per analysis."""

    def __init__(self, runs: pd.DataFrame) -> None:
        self._runs = runs
        self._factorized: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def __getitem__(self, column: str) -> tuple[np.ndarray, pd.Index]:
        if column not in self._factorized:
            self._factorized[column] = _factorize_sorted(self._runs[column])
        return self._factorized[column]

    def distinct(self, column: str) -> int:
        """Count the column's distinct values, leaving out NaN and None."""
        _, uniques = self[column]
        return int(uniques.notna().sum())


def _factorize_sorted(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Return codes into the column's distinct values in their natural order (NaN last)."""
    try:
        codes, uniques = _factorize_keeping_na(column, sort=True)
    except TypeError:
        # Mixed types (say int and str) have no natural order: sort by type, then text.
        codes, uniques = _factorize_keeping_na(column, sort=False)
        order = sorted(range(len(uniques)), key=lambda i: (type(uniques[i]).__name__, str(uniques[i])))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        codes = remap[codes]
        uniques = uniques.take(order)
    return codes.astype(np.int64), pd.Index(uniques, tupleize_cols=False)


def _factorize_keeping_na(column: pd.Series, sort: bool) -> tuple[np.ndarray, Any]:
    """Factorize with NaN and None as one more value, trying the call that is twice as fast first."""
    codes, uniques = pd.factorize(column, sort=sort)
    if codes.min(initial=0) < 0:
        codes, uniques = pd.factorize(column, sort=sort, use_na_sentinel=False)
    return codes, uniques


def _sorted_unique(column: pd.Series) -> list[Any]:
    _, uniques = _factorize_sorted(column.dropna())
    return [_native(value) for value in uniques]


def _local_codes(
    group_codes: np.ndarray, codes: np.ndarray, size: int, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Number the codes that occur in each group 0, 1, ... in ascending order.

    Returns:
        The local code of each row, the global codes group after group, and
        the start of each group in them (length n_groups + 1).
    """
    pairs = group_codes * size + codes
    if n_groups * size <= _DENSE_PAIRS_PER_ROW * len(pairs):
        # Counting every possible pair takes a few array passes instead of a hash table.
        present = np.bincount(pairs, minlength=n_groups * size) > 0
        pair_codes = (np.cumsum(present) - 1)[pairs]
        unique_pairs = np.flatnonzero(present)
    else:
        pair_codes, unique_pairs = pd.factorize(pairs, sort=True)
        unique_pairs = np.asarray(unique_pairs, dtype=np.int64)
    starts = np.searchsorted(unique_pairs // size, np.arange(n_groups + 1))
    local = pair_codes - starts[group_codes]
    return local, unique_pairs % size, starts


def _reject_duplicate_cells(
    runs: pd.DataFrame, flat: np.ndarray, n_cells: int, param: str, labels: list[str], group_codes: np.ndarray
) -> None:
    counts = np.bincount(flat, minlength=n_cells)
    if counts.max() <= 1:
        return

    cell = int(np.argmax(counts > 1))
    duplicates = np.flatnonzero(flat == cell)
    first = duplicates[0]
    group = labels[group_codes[first]]
    where = f"group {group!r}, " if group else ""
    jobs = ""
    if JOB_DIR in runs.columns:
        jobs = f" (job dirs: {', '.join(str(runs[JOB_DIR].iloc[i]) for i in duplicates)})"
    raise AnalysisError(
        f"{len(duplicates)} runs for one cell of the grid ({where}seed {_native(runs[SEED].iloc[first])!r}, "
        f"{param}={_native(runs[param].iloc[first])!r}){jobs}: keep one run per seed and value, "
        "or add the parameter that tells them apart to groups"
    )


def _format_value(value: Any) -> str:
    return str(_native(value))


# ---------------------------------------------------------------- one study parameter


@dataclass
class _GroupResult:
    summary: dict[str, Any]
    trend: dict[str, Any] | None
    group: dict[str, Any]
    scores: dict[str, np.ndarray]
    notes: list[str]


@dataclass
class _ParamResult:
    param: str
    grid: _Grid
    groups: list[_GroupResult]
    failures: pd.DataFrame
    notes: list[str]


def _analyze_param(
    runs: pd.DataFrame, rows: _Rows, codes: _Codes, settings: _Settings, param: str
) -> _ParamResult:
    grid = _build_grid(runs, rows, codes, param, settings.held_fixed[param])
    failures, failure_cells = _failures(grid, rows)
    numeric = _is_numeric(list(grid.values))

    results = []
    for group in range(len(grid.labels)):
        group_failures = failure_cells.get(group, {})
        results.append(_analyze_group(grid, group, group_failures, settings, numeric))

    notes = []
    other_swept = ", ".join(key for key in settings.held_fixed[param] if key not in settings.groups)
    if other_swept:
        notes.append(
            f"{param}: {other_swept} also swept, so {param} is compared within each setting of "
            f"{other_swept}. "
            "Effects may interact: a value better in one group may not be better in another"
        )
    return _ParamResult(param, grid, results, failures, notes)


def _is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(_native(v), (int, float)) and not isinstance(_native(v), bool) for v in values)


def _failures(grid: _Grid, rows: _Rows) -> tuple[pd.DataFrame, dict[int, dict[int, list[str]]]]:
    """List every failed run and missing cell of the grid.

    Returns:
        The failures table, and per group {seed code: ["lr=0.1 crashed", ...]}
        for the excluded seeds' reasons.
    """
    cells = np.flatnonzero(grid.state != _OK)
    group = np.searchsorted(grid.offsets, cells, side="right") - 1
    within = cells - grid.offsets[group]
    n_values = np.diff(grid.value_starts)[group]
    seed = grid.seed_codes[grid.seed_starts[group] + within // n_values]
    value = grid.value_codes[grid.value_starts[group] + within % n_values]
    order = np.lexsort((value, seed, group))
    cells, group, seed, value = cells[order], group[order], seed[order], value[order]

    row = grid.row[cells]
    absent = row < 0
    status, reason, job_dir = rows.describe(np.where(absent, 0, row))
    status[absent] = "missing"
    reason[absent] = "no run record for this seed and value"
    job_dir[absent] = None

    columns = {
        "param": grid.param,
        "group": np.asarray(grid.labels, dtype=object)[group],
        "value": grid.values.take(value).to_numpy(),
        "seed": grid.seeds.take(seed).to_numpy(),
        "status": status,
        "reason": reason,
        "job_dir": job_dir,
    }
    table = pd.DataFrame(columns, columns=FAILURE_COLUMNS)

    value_texts = [f"{grid.param}={_format_value(item)}" for item in grid.values]
    by_group: dict[int, dict[int, list[str]]] = {}
    for g, s, v, label in zip(group.tolist(), seed.tolist(), value.tolist(), status):
        by_group.setdefault(g, {}).setdefault(s, []).append(f"{value_texts[v]} {label}")
    return table, by_group


def _analyze_group(
    grid: _Grid, group: int, failures: dict[int, list[str]], settings: _Settings, numeric: bool
) -> _GroupResult:
    seed_codes, value_codes, metric, state = grid.block(group)
    values = grid.values.take(value_codes).tolist()
    compared = _compared_values(state)
    compared_values = [value for value, keep in zip(values, compared) if keep]
    complete = (state[:, compared] == _OK).all(axis=1)
    m = metric[complete][:, compared]

    comparison = _expand_comparison(_compare_values(m, settings, grid.param, compared_values), compared)
    comparison["set_aside"] = ~compared
    summary = {"value_codes": value_codes, **_run_counts(state), **comparison}

    trend = None
    if numeric and len(compared_values) >= 3:
        trend = _trend(np.asarray(compared_values, dtype=float), m, comparison["_z"], settings, grid.param)
        trend = {"param": grid.param, "group": grid.labels[group], **trend}

    record, notes = _group_record(grid, group, seed_codes, complete, failures, comparison, settings)
    scores = _score_arrays(seed_codes[complete], value_codes[compared], m, comparison["_z"], group)
    return _GroupResult(summary, trend, record, scores, notes)


def _compared_values(state: np.ndarray) -> np.ndarray:
    """Return which values enter the comparison: all, unless some failed on every seed.

    A value with no ok run carries no information about the others but would
    leave no complete seed, so it is set aside when at least two values
    remain. It keeps its summary row (verdict ``no_data``) and a note names it.
    """
    has_ok = (state == _OK).any(axis=0)
    if has_ok.all() or has_ok.sum() < 2:
        return np.ones(state.shape[1], dtype=bool)
    return has_ok


def _expand_comparison(comparison: dict[str, Any], compared: np.ndarray) -> dict[str, Any]:
    """Spread the per-value arrays of a comparison over every value, set-aside ones included."""
    if compared.all():
        return comparison

    k = len(compared)
    expanded = dict(comparison)
    fills = {
        "n": 0,
        "dof": comparison["dof"][0],
        "holm_significant": False,
        "verdict": NO_DATA,
        "verdict_text": "no data: every run of this value failed",
    }
    for key, column in comparison.items():
        if key.startswith("_") or key == "reference":
            continue
        column = np.asarray(column, dtype=object if key.startswith("verdict") else None)
        full = np.full(k, fills.get(key, np.nan), dtype=column.dtype if key in fills else float)
        full[compared] = column
        expanded[key] = full
    expanded["reference"] = [comparison["_reference_value"]] * k
    expanded["_set_aside"] = np.flatnonzero(~compared)
    return expanded


def _group_record(
    grid: _Grid,
    group: int,
    seed_codes: np.ndarray,
    complete: np.ndarray,
    failures: dict[int, list[str]],
    comparison: dict[str, Any],
    settings: _Settings,
) -> tuple[dict[str, Any], list[str]]:
    """Return the group's row of the groups table and its notes."""
    n = int(complete.sum())
    k = len(comparison["mean_z"]) - len(comparison.get("_set_aside", ()))
    complete_codes = seed_codes[complete]
    flat_codes = complete_codes[comparison["_flat"]]
    excluded_codes = seed_codes[~complete].tolist()
    excluded_seeds = grid.seeds.take(excluded_codes).tolist()
    excluded = [
        {"seed": seed, "reason": ", ".join(failures[code])}
        for seed, code in zip(excluded_seeds, excluded_codes)
    ]

    notes = _group_notes(grid, group, n, excluded, flat_codes, comparison, settings)
    record = {
        "param": grid.param,
        "group": grid.labels[group],
        "group_keys": grid.key_values[group],
        "k": k,
        "n_seeds": len(seed_codes),
        "n": n,
        "complete_seeds": grid.seeds.take(complete_codes).tolist(),
        "excluded_seeds": excluded,
        "flat_seeds": grid.seeds.take(flat_codes).tolist(),
        "reference": comparison["_reference_value"],
        "false_alarm_chance": false_alarm_chance(n, k, settings.t_threshold, settings.verdict_rule),
        "note": "; ".join(notes),
    }
    return record, notes


def _run_counts(state: np.ndarray) -> dict[str, np.ndarray]:
    """Count runs per value: every seed of the group is one run, present or missing."""
    n_runs = np.full(state.shape[1], state.shape[0], dtype=np.int64)
    n_ok = (state == _OK).sum(axis=0)
    n_missing = (state == _ABSENT).sum(axis=0)
    return {
        "n_runs": n_runs,
        "n_ok": n_ok,
        "n_failed": n_runs - n_ok,
        "n_missing": n_missing,
        "failure_rate": (n_runs - n_ok) / n_runs,
    }


def _score_arrays(seeds: np.ndarray, values: np.ndarray, m: np.ndarray, z: np.ndarray, group: int) -> dict:
    n, k = m.shape
    return {
        "group": np.full(n * k, group, dtype=np.int64),
        "seed": np.repeat(seeds, k),
        "value": np.tile(values, n),
        "metric": m.ravel(),
        "z": z.ravel(),
    }


# ---------------------------------------------------------------- steps 2 to 6


def _compare_values(m: np.ndarray, settings: _Settings, param: str, values: list[Any]) -> dict[str, Any]:
    """Run steps 2, 3, 5 and 6 and the verdicts on one group's complete seeds.

    Args:
        m: metric, shape (n complete seeds, k values).
        settings: the resolved settings.
        param: the study parameter.
        values: the group's values, length k.

    Returns:
        The summary columns (arrays of length k); keys starting with "_"
        carry z-scores, flat seeds and the reference to the caller.
    """
    n, k = m.shape
    z, flat = _within_seed_z(m)
    mean_z, std_z, t, p = _t_statistics(z)
    if k == 2:
        p = _paired_p(m)
    if k < 2:
        # One value leaves nothing to compare: its z-scores are 0 by construction.
        mean_z, std_z, t, p = (np.full(k, np.nan) for _ in range(4))
        flat[:] = False
    p_holm = holm(p)
    verdict = _verdicts(n, k, mean_z, t, p_holm, settings)
    holm_significant = p_holm < ALPHA

    reference = _reference_index(values, mean_z, settings.direction, settings.baselines.get(param))
    effect, low, high, d = _paired_effects(m, reference)
    needed = _seeds_needed(d, verdict, reference)

    return {
        "n": np.full(k, n, dtype=np.int64),
        "mean_metric": _column_mean(m),
        "std_metric": _column_std(m),
        "mean_z": mean_z,
        "std_z": std_z,
        "t": t,
        "dof": np.full(k, n - 1 if n >= 2 else -1, dtype=np.int64),
        "p": p,
        "p_holm": p_holm,
        "holm_significant": holm_significant,
        "verdict": verdict,
        "verdict_text": [_verdict_text(code, passed, n) for code, passed in zip(verdict, holm_significant)],
        "reference": [None if reference is None else values[reference]] * k,
        "effect": effect,
        "effect_low": low,
        "effect_high": high,
        "seeds_needed": needed,
        "_z": z,
        "_flat": flat,
        "_reference_value": None if reference is None else values[reference],
        "_reference_index": reference,
    }


def _within_seed_z(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score each seed's metrics across values (population std, ddof = 0).

    Same as ``scipy.stats.zscore(m, axis=1, ddof=0)``, except that a flat seed
    (all its metrics equal) gets z = 0 instead of NaN.

    Returns:
        z with the shape of m, and a bool per seed: flat.
    """
    if m.size == 0:
        return np.zeros(m.shape), np.zeros(m.shape[0], dtype=bool)
    flat = m.max(axis=1) == m.min(axis=1)
    centred = m - m.mean(axis=1, keepdims=True)
    if m.shape[1] == 2:
        # Two values have z = ±1 exactly; dividing would add rounding error.
        return np.sign(centred), flat
    spread = m.std(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = centred / spread
    z[flat] = 0.0
    return z, flat


def _t_statistics(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-sample t-test of each value's z-scores against 0, across seeds.

    Same as ``scipy.stats.ttest_1samp(z, 0, axis=0)`` (sample std ddof = 1,
    dof n - 1, two-sided p). A spread below ZERO_SPREAD counts as 0: t is
    ±inf with p = 0 when mean_z is not 0 either, else NaN.

    Returns:
        mean_z, std_z, t, p, each of shape (k,); all NaN but mean_z when n < 2.
    """
    n, k = z.shape
    nan = np.full(k, np.nan)
    if n == 0:
        return nan, nan, nan, nan
    mean_z = z.mean(axis=0)
    if n == 1:
        return mean_z, nan, nan, nan

    std_z = z.std(axis=0, ddof=1)
    identical = std_z <= ZERO_SPREAD
    std_z = np.where(identical, 0.0, std_z)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean_z / (std_z / math.sqrt(n))
    t = np.where(identical & (np.abs(mean_z) > ZERO_SPREAD), np.copysign(np.inf, mean_z), t)
    t = np.where(identical & (np.abs(mean_z) <= ZERO_SPREAD), np.nan, t)
    p = 2 * scipy.stats.t.sf(np.abs(t), n - 1)
    return mean_z, std_z, t, p


def _paired_p(m: np.ndarray) -> np.ndarray:
    """Return the p of the paired t-test of two values' metrics, for both values.

    With two values every z-score is ±1, so the t-test of z only counts the
    seeds on which each value wins. When one value wins on every seed its t
    is infinite and its p 0 whatever the margins, so Holm and the strict rule
    would pass 4 seeds of noise. The paired t-test of the metric difference
    weighs the margins. Same as ``scipy.stats.ttest_rel(m[:, 0], m[:, 1])``.
    """
    _, _, _, p = _t_statistics((m[:, 0] - m[:, 1])[:, None])
    return np.repeat(p, 2)


def _verdicts(
    n: int, k: int, mean_z: np.ndarray, t: np.ndarray, p_holm: np.ndarray, settings: _Settings
) -> np.ndarray:
    """Apply the verdict table; "better" is turned by the direction."""
    if n == 0 or k < 2:
        return np.full(k, NO_DATA, dtype=object)
    if n == 1:
        return np.full(k, UNDETERMINED, dtype=object)

    if settings.verdict_rule == "strict":
        passes = p_holm < ALPHA
    else:
        passes = np.abs(t) > settings.t_threshold * (1 + THRESHOLD_MARGIN)
    better = mean_z < 0 if settings.direction == "minimize" else mean_z > 0
    reliable = n >= MIN_RELIABLE_SEEDS

    conditions = [
        passes & reliable & better,
        passes & reliable,
        passes & better,
        passes,
        np.abs(mean_z) >= INCONSISTENT_MEAN_Z,
    ]
    choices = [RELIABLY_BETTER, RELIABLY_WORSE, SUGGESTIVE_BETTER, SUGGESTIVE_WORSE, INCONSISTENT]
    return np.select(conditions, choices, default=NO_EFFECT).astype(object)


def _verdict_text(code: str, holm_significant: bool, n: int) -> str:
    if code in RELIABLE_VERDICTS:
        way = "better" if code == RELIABLY_BETTER else "worse"
        holm_text = "survives" if holm_significant else "does not survive"
        return f"reliably {way}; {holm_text} the Holm correction"
    texts = {
        SUGGESTIVE_BETTER: f"suggestive: better, but only {n} seeds (fewer than {MIN_RELIABLE_SEEDS})",
        SUGGESTIVE_WORSE: f"suggestive: worse, but only {n} seeds (fewer than {MIN_RELIABLE_SEEDS})",
        INCONSISTENT: "inconsistent: large mean z, weak t (lucky seed?)",
        NO_EFFECT: "no consistent effect",
        UNDETERMINED: "undetermined: one seed, replicate before concluding",
        NO_DATA: "no data: no complete seed",
    }
    return texts[code]


def _reference_index(values: list[Any], mean_z: np.ndarray, direction: str, baseline: Any) -> int | None:
    """Return the reference value's index: the baseline, else the best by mean_z."""
    if baseline is not None:
        index = _find_value(baseline, values)
        if index is not None:
            return index
    if len(mean_z) == 0 or np.all(np.isnan(mean_z)):
        return None
    if direction == "minimize":
        return int(np.nanargmin(mean_z))
    return int(np.nanargmax(mean_z))


def _paired_effects(m: np.ndarray, reference: int | None) -> tuple[np.ndarray, ...]:
    """Mean paired difference m[s, v] - m[s, ref] with its 95% t-interval.

    The interval is the same as ``scipy.stats.t.interval(0.95, n - 1,
    loc=mean, scale=sem)`` of the differences, that is the interval of
    ``scipy.stats.ttest_rel(m[:, v], m[:, ref])``.

    Returns:
        effect, low, high and the standardized effect d = mean / sd (ddof = 1),
        each of shape (k,).
    """
    n, k = m.shape
    nan = np.full(k, np.nan)
    if reference is None or n == 0:
        return nan, nan, nan, nan

    difference = m - m[:, [reference]]
    effect = difference.mean(axis=0)
    if n == 1:
        return effect, nan, nan, nan

    spread = difference.std(axis=0, ddof=1)
    half_width = scipy.stats.t.ppf((1 + CONFIDENCE) / 2, n - 1) * spread / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = effect / spread
    return effect, effect - half_width, effect + half_width, d


def _seeds_needed(d: np.ndarray, verdict: np.ndarray, reference: int | None) -> np.ndarray:
    """Seeds for 80% power of a paired t-test, for values whose verdict is not reliable.

    Returns:
        A float array of whole numbers, NaN where not applicable (reliable
        verdicts, the reference, d zero or undefined).
    """
    applicable = np.isfinite(d) & (d != 0) & ~np.isin(verdict, list(RELIABLE_VERDICTS))
    if reference is not None:
        applicable[reference] = False
    needed = np.full(len(d), np.nan)
    needed[applicable] = seeds_for_power(d[applicable])
    return needed


def seeds_for_power(
    d: np.ndarray | Sequence[float], alpha: float = ALPHA, power: float = POWER
) -> np.ndarray:
    """Return the smallest n >= 2 at which a paired t-test has the given power.

    Power of the two-sided one-sample t-test on n paired differences with
    standardized effect d, from the noncentral t (dof n - 1, noncentrality
    d * sqrt(n)). Same as ``ceil(statsmodels.stats.power.TTestPower()
    .solve_power(effect_size=d, alpha=alpha, power=power))``.

    Args:
        d: standardized effects mean / sd, shape (m,), nonzero.
        alpha: two-sided level.
        power: target power.

    Returns:
        The seed counts as floats, shape (m,).
    """
    d = np.abs(np.asarray(d, dtype=float))
    normal_n = ((scipy.stats.norm.isf(alpha / 2) + scipy.stats.norm.isf(1 - power)) / d) ** 2
    needed = np.full(d.shape, np.nan)

    # NOTE: far out, one more seed changes the power by less than scipy's
    # noncentral t can resolve (about 1e-6 near 1e5 seeds). So from 1e4 seeds
    # on, Guenther's approximation n0 + z²/2 is used. For n0 from 30 to 1e5
    # it gave the same whole number as the noncentral t and statsmodels.
    large = normal_n > 1e4
    needed[large] = np.ceil(normal_n[large] + scipy.stats.norm.isf(alpha / 2) ** 2 / 2)

    # The t-test needs at least the normal-theory n and, for any d, at most a
    # few seeds more (2 to 4 for d from 0.05 to 3). So the result is usually in
    # a short window from floor(normal_n), and the loop moves on when it is not.
    # An effect of 50 standard deviations or more has power above 0.99999 with
    # two seeds, and scipy's noncentral t returns NaN far beyond that (d = 1e16),
    # which would never reach the target power below.
    huge = d >= 50
    needed[huge] = 2.0

    pending = np.flatnonzero(~large & ~huge)
    start = np.maximum(2, np.floor(normal_n[pending]))
    window = np.arange(6)
    while len(pending):
        candidates = start[:, None] + window[None, :]
        enough = _paired_power(d[pending, None], candidates, alpha) >= power
        found = enough.any(axis=1)
        needed[pending[found]] = candidates[found, np.argmax(enough[found], axis=1)]
        pending, start = pending[~found], start[~found] + len(window)
    return needed


def _paired_power(d: np.ndarray, n: np.ndarray, alpha: float) -> np.ndarray:
    """Two-sided power of the one-sample t-test; same as statsmodels TTestPower().power."""
    dof = n - 1
    critical = scipy.stats.t.isf(alpha / 2, dof)
    noncentrality = d * np.sqrt(n)
    upper = scipy.stats.nct.sf(critical, dof, noncentrality)
    # P(T < -c | nc) written as P(T > c | -nc): scipy 1.17's nct.cdf returns
    # NaN there for a large nc with few dof (nc = 17, dof = 2).
    lower = scipy.stats.nct.sf(critical, dof, -noncentrality)
    return upper + lower


def _column_mean(m: np.ndarray) -> np.ndarray:
    if m.shape[0] == 0:
        return np.full(m.shape[1], np.nan)
    return m.mean(axis=0)


def _column_std(m: np.ndarray) -> np.ndarray:
    if m.shape[0] < 2:
        return np.full(m.shape[1], np.nan)
    return m.std(axis=0, ddof=1)


# ---------------------------------------------------------------- step 4: trend


def _trend(
    values: np.ndarray, m: np.ndarray, z: np.ndarray, settings: _Settings, param: str
) -> dict[str, Any]:
    """Test the trend of z on x = value (or log10 value) over one group's complete seeds.

    Args:
        values: the numeric values, shape (k,).
        m: metric, shape (n, k).
        z: z-scores, shape (n, k).
        settings: the resolved settings.
        param: the study parameter, for the text.

    Returns:
        The trend columns after param and group.
    """
    scale = _trend_scale(values, settings.scale)
    x = np.log10(values) if scale == "log" else values
    n, k = z.shape
    centred_x = x - x.mean()
    sum_squares_x = float((centred_x**2).sum())

    r, r_t, r_p = _pooled_pearson(centred_x, sum_squares_x, z)
    slope_t, slope_p = _seed_slope_test(z @ centred_x / sum_squares_x)
    slope = float((m @ centred_x / sum_squares_x).mean()) if n else math.nan
    rho, rho_p = _pooled_spearman(x, z)
    clean = bool(abs(r) >= CLEAN_TREND_R and slope_p < ALPHA) if n >= 2 else False

    return {
        "scale": scale,
        "k": k,
        "n": n,
        "N": n * k,
        "r": r,
        "r_t": r_t,
        "r_p": r_p,
        "slope_t": slope_t,
        "slope_p": slope_p,
        "slope_n": n,
        "slope": slope,
        "spearman_rho": rho,
        "spearman_p": rho_p,
        "clean": clean,
        "trend_text": _trend_text(param, settings.metric, r, slope_p, clean, n),
    }


def _trend_scale(values: np.ndarray, scale: str) -> str:
    """Return "log" when asked, or when auto and the values are positive and span >= 100x."""
    if scale != "auto":
        return scale
    if values.min() > 0 and values.max() / values.min() >= LOG_SPACING_RATIO:
        return "log"
    return "linear"


def _pooled_pearson(centred_x: np.ndarray, sum_squares_x: float, z: np.ndarray) -> tuple[float, float, float]:
    """Pearson r over all (x_v, z[s, v]) pairs with t = r sqrt(N-2) / sqrt(1-r²).

    Same as ``scipy.stats.pearsonr(np.tile(x, n), z.ravel())``.
    """
    n, k = z.shape
    total = n * k
    centred_z = z - z.mean() if z.size else z
    denominator = math.sqrt(n * sum_squares_x * float((centred_z**2).sum()))
    if total < 3 or denominator == 0:
        return math.nan, math.nan, math.nan

    r = float(np.clip((centred_z @ centred_x).sum() / denominator, -1.0, 1.0))
    with np.errstate(divide="ignore"):
        t = r * math.sqrt(total - 2) / math.sqrt(1 - r**2) if abs(r) < 1 else math.copysign(math.inf, r)
    p = float(2 * scipy.stats.t.sf(abs(t), total - 2))
    return r, t, p


def _seed_slope_test(slopes: np.ndarray) -> tuple[float, float]:
    """One-sample t-test of the per-seed slopes against 0.

    Each slope is the least-squares slope of one seed's z on x (same as
    ``scipy.stats.linregress(x, z[s]).slope``); the test is
    ``scipy.stats.ttest_1samp(slopes, 0)``.
    """
    n = len(slopes)
    if n < 2:
        return math.nan, math.nan
    mean = float(slopes.mean())
    spread = float(slopes.std(ddof=1))
    if spread <= ZERO_SPREAD:
        if abs(mean) <= ZERO_SPREAD:
            return math.nan, math.nan
        return math.copysign(math.inf, mean), 0.0
    t = mean / (spread / math.sqrt(n))
    return t, float(2 * scipy.stats.t.sf(abs(t), n - 1))


def _pooled_spearman(x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Spearman's rho over all (x_v, z[s, v]) pairs; same as scipy.stats.spearmanr.

    Rho is Pearson's r of the ranks, its p comes from t with N - 2 degrees
    of freedom, as in scipy. Every value occurs once per seed, so the value
    in place j of the sorted x takes the n ranks j·n + 1 … j·n + n, and
    their average j·n + (n + 1) / 2 is its rank. Only z needs sorting.
    """
    n, k = z.shape
    if n * k < 3 or np.all(z == z.flat[0]):
        return math.nan, math.nan
    x_rank = np.empty(k)
    x_rank[np.argsort(x)] = np.arange(k) * n + (n + 1) / 2
    centred_x = x_rank - x_rank.mean()
    z_rank = _average_ranks(z.ravel()).reshape(n, k)
    r, _, p = _pooled_pearson(centred_x, float((centred_x**2).sum()), z_rank)
    return r, p


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Return ranks from 1, tied values sharing their average rank; same as scipy.stats.rankdata."""
    order = np.argsort(values)
    ordered = values[order]
    starts_tie = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    first = np.flatnonzero(starts_tie)
    last = np.append(first[1:], len(values))
    ranks = np.empty(len(values))
    ranks[order] = ((first + 1 + last) / 2)[np.cumsum(starts_tie) - 1]
    return ranks


def _trend_text(param: str, metric: str, r: float, slope_p: float, clean: bool, n: int) -> str:
    if n == 0:
        return "no trend: no complete seed"
    if math.isnan(r):
        return f"no trend: {metric} is the same for every {param} on every seed"
    if r == 0:
        return "no trend (r = 0)"
    way = f"higher {param} -> {'lower' if r < 0 else 'higher'} {metric}"
    if clean:
        return way
    return f"no clean trend ({way}, r = {r:.2f}, seed-level p = {slope_p:.2g})"


# ---------------------------------------------------------------- notes


def _group_notes(
    grid: _Grid,
    group: int,
    n: int,
    excluded: list[dict[str, Any]],
    flat_codes: np.ndarray,
    comparison: dict[str, Any],
    settings: _Settings,
) -> list[str]:
    _, value_codes, _, _ = grid.block(group)
    values = grid.values.take(value_codes).tolist()
    k = len(values)
    notes = []
    if k < 2:
        notes.append(f"only one value of {grid.param} in this group: nothing to compare")
    if n == 0:
        notes.append("no complete seed: every seed has a failed or missing run")
    elif n == 1:
        notes.append("one seed: replicate before concluding")
    elif n < MIN_RELIABLE_SEEDS:
        notes.append(f"only {n} complete seeds: a passing value is suggestive, not reliable")

    if excluded:
        notes.append(f"{len(excluded)} of {len(excluded) + n} seeds left out (failed or missing runs)")
    if len(flat_codes):
        flat_seeds = ", ".join(_format_value(grid.seeds[code]) for code in flat_codes)
        notes.append(
            f"flat seeds {flat_seeds}: the same {settings.metric} for every value, so their z-scores are 0"
        )
    set_aside = [values[i] for i in comparison.get("_set_aside", ())]
    if set_aside:
        listed = ", ".join(_format_value(v) for v in set_aside)
        notes.append(
            f"{grid.param}={listed}: every run failed, so it is left out of the comparison "
            "and the other values are compared on their complete seeds"
        )
    notes.extend(_identical_notes(grid.param, values, comparison, k))
    notes.extend(_coverage_notes(grid, value_codes, values, comparison, settings))
    return notes


def _identical_notes(param: str, values: list[Any], comparison: dict[str, Any], k: int) -> list[str]:
    identical = [values[i] for i in np.flatnonzero(np.isinf(comparison["t"]))]
    if not identical:
        return []
    if k == 2:
        return [
            "two values: z is ±1 on every seed, so t is infinite when every seed agrees; "
            "p comes from the paired t-test of the metrics, so read the paired difference"
        ]
    listed = ", ".join(_format_value(v) for v in identical)
    return [f"{param}={listed}: identical on every seed (t is infinite); read the paired difference"]


def _coverage_notes(
    grid: _Grid, value_codes: np.ndarray, values: list[Any], comparison: dict[str, Any], settings: _Settings
) -> list[str]:
    notes = []
    absent = grid.values.delete(value_codes).tolist()
    if absent:
        listed = ", ".join(_format_value(v) for v in absent)
        notes.append(f"{grid.param}={listed}: no run in this group, left out of its comparison")

    baseline = settings.baselines.get(grid.param)
    reference = comparison["_reference_value"]
    if baseline is not None and _find_value(baseline, values) is None and reference is not None:
        notes.append(
            f"baseline {grid.param}={_format_value(baseline)} has no run in this group: "
            f"the reference is the best value, {_format_value(reference)}"
        )
    return notes


# ---------------------------------------------------------------- assembly


def _assemble(settings: _Settings, rows: _Rows, results: list[_ParamResult], table_notes: list[str]) -> Analysis:
    summary = _concat([_summary_frame(result) for result in results], SUMMARY_COLUMNS)
    trend_rows = [g.trend for result in results for g in result.groups if g.trend is not None]
    trend = pd.DataFrame(trend_rows, columns=TREND_COLUMNS)
    failures = _concat([result.failures for result in results], FAILURE_COLUMNS)
    scores = _concat([_scores_frame(result) for result in results], SCORE_COLUMNS)
    groups = pd.DataFrame([g.group for result in results for g in result.groups], columns=GROUP_COLUMNS)

    notes = list(table_notes)
    if rows.relabelled:
        notes.append(
            f"{_count(len(rows.relabelled), 'run has', 'runs have')} status ok but no finite "
            f"{settings.metric}: counted as failed (diverged or invalid)"
        )
    for result in results:
        notes.extend(result.notes)
        for group in result.groups:
            label = group.group["group"]
            where = f"{result.param}, {label}" if label else result.param
            notes.extend(f"{where}: {note}" for note in group.notes)

    return Analysis(settings.as_dict(), summary, trend, failures, scores, groups, notes)


def _one_run_per_value_notes(runs: pd.DataFrame, codes: _Codes, settings: _Settings) -> list[str]:
    """Warn about swept columns with a different value in every run, such as a free-text note.

    No value of such a column runs on two seeds, and held fixed it puts each
    run in a group of its own, so nothing that involves it can be compared.
    """
    notes = []
    for name in settings.swept:
        if len(runs) > 2 and codes.distinct(name) == len(runs):
            note = (
                f"{name} has a different value in every run, so no value of it runs on two seeds and "
                "each run is a group of its own; if it is not a parameter, drop that column "
                "(or name the parameters with param=)"
            )
            log.warning(note)
            notes.append(note)
    return notes


def _every_run_failed(rows: _Rows) -> str:
    status, _, _ = rows.describe(np.arange(len(rows.ok)))
    statuses, counts = np.unique(status.astype(str), return_counts=True)
    described = ", ".join(f"{count} {status}" for status, count in zip(statuses, counts))
    return (
        f"every run failed ({described}): there is no metric to compare; "
        "fix the failing runs (see their reasons) and sweep again"
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(columns=columns)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _summary_frame(result: _ParamResult) -> pd.DataFrame:
    parts = [group.summary for group in result.groups]
    grid = result.grid
    lengths = [len(part["value_codes"]) for part in parts]
    group_codes = np.repeat(np.arange(len(parts)), lengths)

    columns: dict[str, Any] = {
        "param": result.param,
        "group": np.asarray(grid.labels, dtype=object)[group_codes],
        "value": grid.values.take(np.concatenate([part["value_codes"] for part in parts])).to_numpy(),
    }
    for name in SUMMARY_COLUMNS[3:]:
        if name in ("verdict", "verdict_text", "reference"):
            # Lists, because numpy would turn tuple values into a 2-d array.
            columns[name] = [item for part in parts for item in part[name]]
        else:
            columns[name] = np.concatenate([part[name] for part in parts])

    frame = pd.DataFrame(columns, columns=SUMMARY_COLUMNS)
    frame["dof"] = _nullable_int(frame["dof"].to_numpy(dtype=float))
    frame["seeds_needed"] = _nullable_int(frame["seeds_needed"].to_numpy(dtype=float))
    return frame


def _nullable_int(numbers: np.ndarray) -> pd.arrays.IntegerArray:
    """Return whole numbers as pandas' nullable Int64, NaN and negatives as NA."""
    missing = np.isnan(numbers) | (numbers < 0)
    return pd.arrays.IntegerArray(np.where(missing, 0, numbers).astype(np.int64), missing)


def _scores_frame(result: _ParamResult) -> pd.DataFrame:
    grid = result.grid
    parts = [group.scores for group in result.groups]
    group_codes = np.concatenate([part["group"] for part in parts])
    return pd.DataFrame(
        {
            "param": result.param,
            "group": np.asarray(grid.labels, dtype=object)[group_codes],
            "seed": grid.seeds.take(np.concatenate([part["seed"] for part in parts])).to_numpy(),
            "value": grid.values.take(np.concatenate([part["value"] for part in parts])).to_numpy(),
            "metric": np.concatenate([part["metric"] for part in parts]),
            "z": np.concatenate([part["z"] for part in parts]),
        },
        columns=SCORE_COLUMNS,
    )
