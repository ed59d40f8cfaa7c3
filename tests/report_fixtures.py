"""Run tables and Analysis-like results for the report and plot tests.

``reference_analysis`` computes every column of the analysis contract with
scipy and statsmodels, so the report tests run without ``seedsweep.stats``
and check the report's numbers against values computed here, not by the
code under test.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

LRS = [1e-4, 3e-4, 1e-3, 1e-2]
BASE_LOSS = {1e-4: 0.62, 3e-4: 0.50, 1e-3: 0.45, 1e-2: 0.46}

# (seed, lr) -> status for the default table; (6, 1e-3) has no row at all.
FAILED_CELLS = {
    (2, 1e-2): ("diverged", "val_loss is NaN"),
    (5, 1e-2): ("diverged", "val_loss is NaN"),
    (6, 1e-4): ("crashed", "raised RuntimeError: CUDA out of memory"),
}
MISSING_CELLS = {(6, 1e-3)}


@dataclass(frozen=True)
class FakeAnalysis:
    """The Analysis result of the contract, filled by ``reference_analysis``."""

    settings: dict[str, Any]
    summary: pd.DataFrame
    trend: pd.DataFrame
    failures: pd.DataFrame
    scores: pd.DataFrame
    groups: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "settings": _plain(self.settings),
            "summary": _records(self.summary),
            "trend": _records(self.trend),
            "failures": _records(self.failures),
            "scores": _records(self.scores),
            "groups": _records(self.groups),
            "notes": list(self.notes),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


# ---------------------------------------------------------------- run tables


def make_runs(
    seeds: Sequence[int] = range(8),
    lrs: Sequence[float] = LRS,
    failed: dict | None = None,
    missing: set | None = None,
    models: Sequence[str] = (),
    job_root: str = "/sweep",
) -> pd.DataFrame:
    """Build a run table of lr x seed (x model) with val_loss to minimize."""
    failed = FAILED_CELLS if failed is None else failed
    missing = MISSING_CELLS if missing is None else missing
    rng = np.random.default_rng(0)
    rows = []
    job = 0
    for model in list(models) or [None]:
        for seed in seeds:
            for lr in lrs:
                if (seed, lr) in missing:
                    continue
                rows.append(_run_row(job, job_root, seed, lr, model, failed, rng))
                job += 1

    runs = pd.DataFrame(rows)
    params = ["lr"] + (["model"] if models else [])
    runs.attrs["seedsweep"] = {
        "params": params,
        "metrics": ["val_loss"],
        "metric": "val_loss",
        "direction": "minimize",
        "seed_key": "seed",
    }
    return runs


def _run_row(job, job_root, seed, lr, model, failed, rng) -> dict[str, Any]:
    status, reason = failed.get((seed, lr), ("ok", None))
    loss = BASE_LOSS.get(lr, 0.5 + 0.05 * math.log10(lr)) + 0.1 * seed + rng.normal(0, 0.02)
    if model == "mlp":
        loss += 0.2
    row = {
        "job": job,
        "job_dir": f"{job_root}/{job}",
        "seed": seed,
        "lr": lr,
        "val_loss": loss if status == "ok" else math.nan,
        "status": status,
        "reason": reason,
        "error_type": "RuntimeError" if status == "crashed" else None,
        "duration": 1.0,
    }
    if model is not None:
        row["model"] = model
    return row


def make_wide_runs(value_count: int = 100, seed_count: int = 50) -> pd.DataFrame:
    """Build a large run table: log-spaced lr values x seeds, a few failures."""
    lrs = list(np.logspace(-5, -1, value_count))
    failed = {(seed, lrs[-1]): ("diverged", "val_loss is NaN") for seed in range(0, seed_count, 7)}
    failed[(3, lrs[10])] = ("crashed", "raised ValueError: bad batch")
    return make_runs(range(seed_count), lrs, failed, {(5, lrs[20])})


def make_factorial_runs() -> pd.DataFrame:
    """Build a run table where lr and wd are both swept, on 6 seeds."""
    rows = []
    job = 0
    for seed in range(6):
        for lr in (1e-3, 1e-2, 1e-1):
            for wd in (0.0, 0.1):
                loss = 0.5 - 0.05 * math.log10(lr) * (1 + wd) + 0.1 * seed + 0.01 * ((seed * 7 + job) % 5)
                rows.append({"job": job, "job_dir": f"/sweep/{job}", "seed": seed, "lr": lr,
                             "wd": wd, "val_loss": loss, "status": "ok", "reason": None})
                job += 1
    runs = pd.DataFrame(rows)
    runs.attrs["seedsweep"] = {"params": ["lr", "wd"], "metric": "val_loss", "direction": "minimize"}
    return runs


# ---------------------------------------------------------------- analysis


def reference_analysis(
    runs: pd.DataFrame,
    params: Sequence[str] = ("lr",),
    groups: Sequence[str] = (),
    baseline: Any = None,
    t_threshold: float = 2.0,
    metric: str = "val_loss",
    direction: str = "minimize",
) -> FakeAnalysis:
    """Compute the contract's tables for ``runs`` with scipy and statsmodels."""
    parts: dict[str, list] = {"summary": [], "trend": [], "failures": [], "scores": [], "groups": []}
    for param in params:
        keys = list(groups) + [other for other in params if other != param]
        for label, frame in _group_frames(runs, keys):
            section = _section(runs, frame, param, label, baseline, t_threshold, metric, direction)
            for name, rows in section.items():
                parts[name].extend(rows)

    notes = []
    if len(params) > 1:
        notes.append(f"{' and '.join(params)} were swept together: their effects may interact.")
    settings = {
        "metric": metric,
        "direction": direction,
        "params": list(params),
        "groups": list(groups),
        "baseline": baseline,
        "scale": "auto",
        "t_threshold": t_threshold,
        "verdict_rule": "seed",
        "seed_key": "seed",
    }
    frames = {name: pd.DataFrame(rows, columns=COLUMNS[name]) for name, rows in parts.items()}
    return FakeAnalysis(settings=settings, notes=notes, **frames)


COLUMNS = {
    "summary": [
        "param", "group", "value", "n", "n_runs", "n_ok", "n_failed", "failure_rate",
        "mean_metric", "std_metric", "mean_z", "std_z", "t", "dof", "p", "p_holm",
        "holm_significant", "verdict", "verdict_text", "reference", "effect",
        "effect_low", "effect_high", "seeds_needed",
    ],
    "trend": [
        "param", "group", "scale", "k", "n", "N", "r", "r_t", "r_p", "slope_t", "slope_p",
        "slope_n", "slope", "spearman_rho", "spearman_p", "clean", "trend_text",
    ],
    "failures": ["param", "group", "value", "seed", "status", "reason", "job_dir"],
    "scores": ["param", "group", "seed", "value", "metric", "z"],
    "groups": [
        "param", "group", "k", "n_seeds", "complete_seeds", "excluded_seeds", "flat_seeds",
        "reference", "false_alarm_chance", "note",
    ],
}

VERDICT_TEXT = {
    "reliably_better": "reliably better",
    "reliably_worse": "reliably worse",
    "suggestive_better": "suggestive: better, fewer than 4 seeds",
    "suggestive_worse": "suggestive: worse, fewer than 4 seeds",
    "inconsistent": "inconsistent: large mean, weak t (lucky seed?)",
    "no_effect": "no consistent effect",
    "undetermined": "undetermined: one seed",
    "no_data": "no data: no complete seed",
}


def _group_frames(runs: pd.DataFrame, keys: list[str]):
    if not keys:
        yield "", runs
        return
    for values, frame in runs.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        yield ", ".join(f"{key}={value}" for key, value in zip(keys, values)), frame


def _section(runs, frame, param, label, baseline, t_threshold, metric, direction):
    values = sorted(frame[param].unique().tolist())
    seeds = sorted(int(seed) for seed in runs["seed"].unique())
    cells = {(int(row.seed), getattr(row, param)): row for row in frame.itertuples(index=False)}
    failures = _failures(param, label, values, seeds, cells)

    complete = [s for s in seeds if all(_status(cells, s, v) == "ok" for v in values)]
    excluded = [{"seed": s, "reason": _exclusion_reason(param, values, cells, s)}
                for s in seeds if s not in complete]
    m = np.array([[getattr(cells[(s, v)], metric) for v in values] for s in complete]).reshape(len(complete), len(values))
    z = _z_scores(m)

    summary = _summary_rows(param, label, values, frame, m, z, baseline, t_threshold, direction, cells, seeds)
    reference = summary[0]["reference"] if summary else None
    scores = [{"param": param, "group": label, "seed": s, "value": v, "metric": m[i, j], "z": z[i, j]}
              for i, s in enumerate(complete) for j, v in enumerate(values)]
    trend = _trend_rows(param, label, values, m, z, direction, metric)
    group = {
        "param": param, "group": label, "k": len(values), "n_seeds": len(seeds),
        "complete_seeds": complete, "excluded_seeds": excluded,
        "flat_seeds": [s for i, s in enumerate(complete) if np.std(m[i]) == 0],
        "reference": reference,
        "false_alarm_chance": _false_alarm(len(complete), len(values), t_threshold),
        "note": "one seed: replicate before concluding" if len(complete) == 1 else "",
    }
    return {"summary": summary, "trend": trend, "failures": failures, "scores": scores, "groups": [group]}


def _status(cells, seed, value):
    row = cells.get((seed, value))
    return "missing" if row is None else row.status


def _exclusion_reason(param, values, cells, seed):
    bad = [f"{param}={v if isinstance(v, str) else format(v, 'g')} {_status(cells, seed, v)}"
           for v in values if _status(cells, seed, v) != "ok"]
    return ", ".join(bad)


def _failures(param, label, values, seeds, cells):
    rows = []
    for seed in seeds:
        for value in values:
            row = cells.get((seed, value))
            if row is None:
                rows.append({"param": param, "group": label, "value": value, "seed": seed,
                             "status": "missing", "reason": "no run record", "job_dir": None})
            elif row.status != "ok":
                rows.append({"param": param, "group": label, "value": value, "seed": seed,
                             "status": row.status, "reason": row.reason, "job_dir": row.job_dir})
    return rows


def _z_scores(m: np.ndarray) -> np.ndarray:
    if m.size == 0:
        return m
    std = m.std(axis=1, ddof=0, keepdims=True)
    centered = m - m.mean(axis=1, keepdims=True)
    return np.divide(centered, std, out=np.zeros_like(m), where=std > 0)


def _summary_rows(param, label, values, frame, m, z, baseline, t_threshold, direction, cells, seeds):
    n = m.shape[0]
    sign = 1 if direction == "maximize" else -1
    t, p = _t_tests(z)
    p_holm = multipletests(np.nan_to_num(p, nan=1.0), method="holm")[1] if n > 1 else np.full(len(values), np.nan)
    mean_z = z.mean(axis=0) if n else np.full(len(values), np.nan)
    ref_index = values.index(baseline) if baseline is not None else int(np.argmax(sign * mean_z))
    rows = []
    for j, value in enumerate(values):
        statuses = [_status(cells, s, value) for s in seeds]
        verdict = _verdict(n, t[j], mean_z[j], sign, t_threshold)
        effect, low, high = _effect(m, j, ref_index)
        rows.append({
            "param": param, "group": label, "value": value, "n": n,
            "n_runs": len(statuses), "n_ok": statuses.count("ok"),
            "n_failed": len(statuses) - statuses.count("ok"),
            "failure_rate": 1 - statuses.count("ok") / len(statuses),
            "mean_metric": m[:, j].mean() if n else np.nan,
            "std_metric": m[:, j].std(ddof=1) if n > 1 else np.nan,
            "mean_z": mean_z[j], "std_z": z[:, j].std(ddof=1) if n > 1 else np.nan,
            "t": t[j], "dof": n - 1, "p": p[j], "p_holm": p_holm[j],
            "holm_significant": bool(p_holm[j] < 0.05),
            "verdict": verdict, "verdict_text": VERDICT_TEXT[verdict],
            "reference": values[ref_index], "effect": effect, "effect_low": low, "effect_high": high,
            "seeds_needed": _seeds_needed(m, j, ref_index, verdict),
        })
    return rows


def _t_tests(z: np.ndarray):
    if z.shape[0] < 2:
        return np.full(z.shape[1], np.nan), np.full(z.shape[1], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.ttest_1samp(z, 0.0, axis=0)
    return np.asarray(result.statistic, dtype=float), np.asarray(result.pvalue, dtype=float)


def _verdict(n, t, mean_z, sign, t_threshold):
    if n == 0:
        return "no_data"
    if n == 1:
        return "undetermined"
    better = sign * mean_z > 0
    if abs(t) > t_threshold:
        strength = "reliably" if n >= 4 else "suggestive"
        return f"{strength}_{'better' if better else 'worse'}"
    if abs(mean_z) >= 0.5:
        return "inconsistent"
    return "no_effect"


def _effect(m, j, ref_index):
    if m.shape[0] == 0:
        return np.nan, np.nan, np.nan
    d = m[:, j] - m[:, ref_index]
    mean = d.mean()
    if m.shape[0] < 2 or d.std(ddof=1) == 0:
        return mean, mean, mean
    low, high = stats.t.interval(0.95, len(d) - 1, loc=mean, scale=stats.sem(d))
    return mean, low, high


def _seeds_needed(m, j, ref_index, verdict):
    if verdict.startswith("reliably") or m.shape[0] < 2 or j == ref_index:
        return pd.NA
    d = m[:, j] - m[:, ref_index]
    if d.std(ddof=1) == 0 or d.mean() == 0:
        return pd.NA
    size = abs(d.mean()) / d.std(ddof=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        needed = TTestPower().solve_power(effect_size=size, alpha=0.05, power=0.8)
    return pd.NA if not np.isfinite(needed) else int(math.ceil(needed))


def _false_alarm(n, k, t_threshold):
    if n < 2:
        return np.nan
    single = 2 * stats.t.sf(t_threshold, n - 1)
    return 1 - (1 - single) ** k


def _trend_rows(param, label, values, m, z, direction, metric):
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    n, k = z.shape
    if not numeric or k < 3 or n < 2:
        return []
    x = np.asarray(values, dtype=float)
    log = x.min() > 0 and x.max() / x.min() >= 100
    x = np.log10(x) if log else x
    xs = np.tile(x, n)
    r, r_p = stats.pearsonr(xs, z.ravel())
    slopes = np.array([np.polyfit(x, z[i], 1)[0] for i in range(n)])
    slope_test = stats.ttest_1samp(slopes, 0.0)
    metric_slope = np.mean([np.polyfit(x, m[i], 1)[0] for i in range(n)])
    rho, rho_p = stats.spearmanr(xs, z.ravel())
    word = "lower" if metric_slope < 0 else "higher"
    return [{
        "param": param, "group": label, "scale": "log" if log else "linear", "k": k, "n": n,
        "N": n * k, "r": r, "r_t": r * math.sqrt(n * k - 2) / math.sqrt(1 - r * r), "r_p": r_p,
        "slope_t": slope_test.statistic, "slope_p": slope_test.pvalue, "slope_n": n,
        "slope": metric_slope, "spearman_rho": rho, "spearman_p": rho_p,
        "clean": bool(abs(r) >= 0.8 and slope_test.pvalue < 0.05),
        "trend_text": f"higher {param} -> {word} {metric}",
    }]
