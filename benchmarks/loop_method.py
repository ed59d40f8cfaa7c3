"""The same-seed method written as the direct per-seed loop, for comparison with ``seedsweep.analyze``.

This is how the method reads when transcribed step by step. For each group,
select its runs. For each seed, select that seed's runs, keep the seed when
every value succeeded, and z-score its metrics. Then for each value: a
one-sample t-test of its z-scores, the Holm correction, the verdict, and the
paired effect against the reference value with its 95% interval. Last, the
trend: a slope per seed, tested across seeds, and the pooled Pearson and
Spearman correlations. Plain Python and numpy per seed, scipy per value.

It leaves out what ``analyze`` adds beyond the statistics (the seeds a
paired t-test would need, the chance of a false alarm, the failure table,
notes), so it does less work than ``analyze``, and the speed-up measured
against it is a lower bound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats


def loop_analyze(runs: pd.DataFrame, param: str, metric: str, group_key: str, direction: str = "minimize") -> dict[tuple[Any, Any], float]:
    """Run the method group by group and seed by seed.

    Returns:
        ``{(group value, study parameter value): t}`` for every value.
    """
    t_by_value: dict[tuple[Any, Any], float] = {}
    for group in sorted(runs[group_key].unique()):
        group_runs = runs[runs[group_key] == group]
        for value, t in _analyze_group(group_runs, param, metric, direction).items():
            t_by_value[(group, value)] = t
    return t_by_value


def _analyze_group(group_runs: pd.DataFrame, param: str, metric: str, direction: str) -> dict[Any, float]:
    values = sorted(group_runs[param].unique())
    metrics, z_scores, slopes = [], [], []
    x = np.log10(np.asarray(values, dtype=float))

    for seed in sorted(group_runs["seed"].unique()):
        seed_runs = group_runs[group_runs["seed"] == seed]
        by_value = {}
        for value, status, number in zip(seed_runs[param], seed_runs["status"], seed_runs[metric]):
            if status == "ok" and math.isfinite(number):
                by_value[value] = number
        if len(by_value) < len(values):
            continue

        m = np.array([by_value[value] for value in values])
        spread = m.std()
        z = (m - m.mean()) / spread if spread > 0 else np.zeros(len(values))
        metrics.append(m)
        z_scores.append(z)
        slopes.append(np.polyfit(x, z, 1)[0])

    n = len(z_scores)
    t_values, p_values, mean_z = [], [], []
    for index in range(len(values)):
        column = [z[index] for z in z_scores]
        result = scipy.stats.ttest_1samp(column, 0.0)
        t_values.append(float(result.statistic))
        p_values.append(float(result.pvalue))
        mean_z.append(sum(column) / n)

    p_holm = _holm(p_values)
    reference = int(np.argmin(mean_z)) if direction == "minimize" else int(np.argmax(mean_z))
    for index in range(len(values)):
        better = mean_z[index] < 0 if direction == "minimize" else mean_z[index] > 0
        _verdict(n, t_values[index], mean_z[index], better, p_holm[index])
        differences = [m[index] - m[reference] for m in metrics]
        _paired_effect(differences)

    pooled_x = np.tile(x, n)
    pooled_z = np.concatenate(z_scores)
    scipy.stats.pearsonr(pooled_x, pooled_z)
    scipy.stats.spearmanr(pooled_x, pooled_z)
    scipy.stats.ttest_1samp(slopes, 0.0)
    return dict(zip(values, t_values))


def _holm(p_values: list[float]) -> list[float]:
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _verdict(n: int, t: float, mean_z: float, better: bool, p_holm: float) -> str:
    if n == 1:
        return "undetermined"
    if abs(t) > 2.0:
        if n >= 4:
            return "reliably_better" if better else "reliably_worse"
        return "suggestive_better" if better else "suggestive_worse"
    if abs(mean_z) >= 0.5:
        return "inconsistent"
    return "no_effect"


def _paired_effect(differences: list[float]) -> tuple[float, float, float]:
    n = len(differences)
    mean = sum(differences) / n
    spread = float(np.std(differences, ddof=1))
    half_width = scipy.stats.t.ppf(0.975, n - 1) * spread / math.sqrt(n)
    return mean, mean - half_width, mean + half_width
