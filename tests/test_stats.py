"""Tests of seedsweep.stats against scipy and statsmodels computed here."""

from __future__ import annotations

import json
import logging
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from seedsweep.records import RunStatus
from seedsweep.stats import AnalysisError
from seedsweep.stats import analyze
from seedsweep.stats import false_alarm_chance
from seedsweep.stats import holm
from seedsweep.stats import seeds_for_power

# ---------------------------------------------------------------- helpers


def run_table(m, values, *, seeds=None, param="lr", metric="val_loss", fixed=None):
    """Build a run table with one ok run per (seed, value) from m (seeds x values)."""
    seeds = list(range(len(m))) if seeds is None else list(seeds)
    fixed = fixed or {}
    rows = []
    for i, seed in enumerate(seeds):
        for j, value in enumerate(values):
            rows.append({
                "job": len(rows),
                "job_dir": f"/sweep/{seed}_{value}_{len(rows)}",
                "seed": seed,
                param: value,
                **fixed,
                metric: float(m[i][j]),
                "status": "ok",
                "reason": None,
                "error_type": None,
                "duration": 1.0,
            })
    runs = pd.DataFrame(rows)
    runs.attrs["seedsweep"] = {
        "params": [param, *fixed],
        "metrics": [metric],
        "metric": metric,
        "seed_key": "seed",
    }
    return runs


def combine(*tables):
    """Concatenate run tables (say one per group), keeping the first one's attrs."""
    runs = pd.concat(tables, ignore_index=True)
    attrs = dict(tables[0].attrs["seedsweep"])
    attrs["params"] = list(dict.fromkeys(p for t in tables for p in t.attrs["seedsweep"]["params"]))
    runs.attrs["seedsweep"] = attrs
    return runs


def scipy_z(m):
    """Within-seed z-scores by scipy; a flat seed gets 0."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = scipy.stats.zscore(m, axis=1, ddof=0)
    z[np.ptp(m, axis=1) == 0] = 0.0
    return z


def scipy_t(z):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy.stats.ttest_1samp(z, 0, axis=0)
    return result.statistic, result.pvalue


def set_cell(runs, seed, value, param="lr", **columns):
    mask = (runs["seed"] == seed) & (runs[param] == value)
    assert mask.sum() == 1
    for column, new in columns.items():
        runs.loc[mask, column] = new


def rows_of(analysis, param=None, group=""):
    summary = analysis.summary
    if param is not None:
        summary = summary[summary["param"] == param]
    return summary[summary["group"] == group].reset_index(drop=True)


def group_of(analysis, param, group=""):
    groups = analysis.groups
    selected = groups[(groups["param"] == param) & (groups["group"] == group)]
    assert len(selected) == 1
    return selected.iloc[0]


# ---------------------------------------------------------------- the main check


VALUES = [1, 2, 3, 4]


@pytest.fixture
def mixed_runs():
    """8 seeds x 4 values with a flat seed, a crash, a missing row and an ok-but-NaN run."""
    rng = np.random.default_rng(7)
    m = rng.normal(size=(8, 4)) + 0.4 * np.array(VALUES)
    m[5] = 0.7  # seed 5 is flat
    runs = run_table(m, VALUES)

    set_cell(runs, 1, 3, status="crashed", val_loss=np.nan, reason="raised RuntimeError: boom")
    runs = runs[~((runs["seed"] == 2) & (runs["lr"] == 1))].copy()
    set_cell(runs, 3, 4, val_loss=np.nan)
    runs.attrs = {"seedsweep": {"params": ["lr"], "metrics": ["val_loss"], "metric": "val_loss"}}
    return runs, m


COMPLETE = [0, 4, 5, 6, 7]


def test_statistics_match_scipy(mixed_runs):
    runs, m_all = mixed_runs
    analysis = analyze(runs)
    summary = rows_of(analysis)
    m = m_all[COMPLETE]
    z = scipy_z(m)
    t, p = scipy_t(z)

    assert summary["value"].tolist() == VALUES
    assert (summary["n"] == 5).all()
    np.testing.assert_allclose(summary["mean_z"], z.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(summary["std_z"], z.std(axis=0, ddof=1), atol=1e-12)
    np.testing.assert_allclose(summary["t"], t, rtol=1e-10)
    np.testing.assert_allclose(summary["p"], p, rtol=1e-10)
    np.testing.assert_allclose(summary["p_holm"], multipletests(p, method="holm")[1], rtol=1e-10)
    assert summary["dof"].tolist() == [4] * 4
    np.testing.assert_allclose(summary["mean_metric"], m.mean(axis=0))
    np.testing.assert_allclose(summary["std_metric"], m.std(axis=0, ddof=1))
    assert summary["holm_significant"].tolist() == (multipletests(p, method="holm")[1] < 0.05).tolist()


def test_trend_matches_scipy(mixed_runs):
    runs, m_all = mixed_runs
    trend = analyze(runs).trend
    m = m_all[COMPLETE]
    z = scipy_z(m)
    x = np.array(VALUES, dtype=float)
    pooled_x = np.tile(x, len(m))

    assert len(trend) == 1
    row = trend.iloc[0]
    pearson = scipy.stats.pearsonr(pooled_x, z.ravel())
    spearman = scipy.stats.spearmanr(pooled_x, z.ravel())
    slopes = [scipy.stats.linregress(x, z_seed).slope for z_seed in z]
    slope_test = scipy.stats.ttest_1samp(slopes, 0)
    metric_slope = np.mean([scipy.stats.linregress(x, m_seed).slope for m_seed in m])

    assert row["scale"] == "linear"
    assert (row["k"], row["n"], row["N"], row["slope_n"]) == (4, 5, 20, 5)
    assert row["r"] == pytest.approx(pearson.statistic, rel=1e-10)
    assert row["r_p"] == pytest.approx(pearson.pvalue, rel=1e-8)
    r = pearson.statistic
    assert row["r_t"] == pytest.approx(r * math.sqrt(18) / math.sqrt(1 - r**2), rel=1e-10)
    assert row["spearman_rho"] == pytest.approx(spearman.statistic, rel=1e-10)
    assert row["spearman_p"] == pytest.approx(spearman.pvalue, rel=1e-8)
    assert row["slope_t"] == pytest.approx(slope_test.statistic, rel=1e-10)
    assert row["slope_p"] == pytest.approx(slope_test.pvalue, rel=1e-10)
    assert row["slope"] == pytest.approx(metric_slope, rel=1e-10)
    expected_clean = abs(r) >= 0.8 and slope_test.pvalue < 0.05
    assert row["clean"] == expected_clean


def test_effects_and_seeds_needed_match_scipy(mixed_runs):
    runs, m_all = mixed_runs
    summary = rows_of(analyze(runs))
    m = m_all[COMPLETE]
    z = scipy_z(m)
    t, _ = scipy_t(z)
    best = int(np.argmin(z.mean(axis=0)))

    assert summary["reference"].tolist() == [VALUES[best]] * 4
    for v in range(4):
        row = summary.iloc[v]
        if v == best:
            assert row["effect"] == 0
            assert pd.isna(row["seeds_needed"])
            continue
        test = scipy.stats.ttest_rel(m[:, v], m[:, best])
        low, high = test.confidence_interval(0.95)
        difference = m[:, v] - m[:, best]
        assert row["effect"] == pytest.approx(difference.mean(), rel=1e-12)
        assert row["effect_low"] == pytest.approx(low, rel=1e-10)
        assert row["effect_high"] == pytest.approx(high, rel=1e-10)

        reliable = abs(t[v]) > 2
        if reliable:
            assert pd.isna(row["seeds_needed"])
        else:
            d = difference.mean() / difference.std(ddof=1)
            expected = TTestPower().solve_power(effect_size=abs(d), alpha=0.05, power=0.8)
            assert row["seeds_needed"] == math.ceil(expected)


def test_failures_and_excluded_seeds_are_listed(mixed_runs):
    runs, _ = mixed_runs
    analysis = analyze(runs)
    group = group_of(analysis, "lr")
    failures = analysis.failures

    assert group["complete_seeds"] == COMPLETE
    assert group["excluded_seeds"] == [
        {"seed": 1, "reason": "lr=3 crashed"},
        {"seed": 2, "reason": "lr=1 missing"},
        {"seed": 3, "reason": "lr=4 diverged"},
    ]
    assert group["flat_seeds"] == [5]
    assert (group["n_seeds"], group["n"], group["k"]) == (8, 5, 4)
    assert "flat seeds 5" in group["note"]
    assert "3 of 8 seeds left out" in group["note"]

    assert failures[["seed", "value", "status"]].values.tolist() == [
        [1, 3, "crashed"],
        [2, 1, "missing"],
        [3, 4, "diverged"],
    ]
    assert failures["reason"].tolist() == [
        "raised RuntimeError: boom",
        "no run record for this seed and value",
        "val_loss is NaN",
    ]
    assert failures["job_dir"].iloc[0].startswith("/sweep/1_3")
    assert pd.isna(failures["job_dir"].iloc[1])
    assert any("status ok but no finite val_loss" in note for note in analysis.notes)


def test_run_counts_include_failed_and_missing(mixed_runs):
    runs, _ = mixed_runs
    summary = rows_of(analyze(runs))

    assert summary["n_runs"].tolist() == [8, 8, 8, 8]
    assert summary["n_ok"].tolist() == [7, 8, 7, 7]
    assert summary["n_failed"].tolist() == [1, 0, 1, 1]
    assert summary["n_missing"].tolist() == [1, 0, 0, 0]
    np.testing.assert_allclose(summary["failure_rate"], [1 / 8, 0, 1 / 8, 1 / 8])


def test_shuffled_rows_give_identical_statistics(mixed_runs):
    runs, _ = mixed_runs
    expected = analyze(runs)

    shuffled = runs.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled.attrs = runs.attrs
    actual = analyze(shuffled)

    pd.testing.assert_frame_equal(actual.summary, expected.summary)
    pd.testing.assert_frame_equal(actual.trend, expected.trend)
    pd.testing.assert_frame_equal(actual.groups, expected.groups)
    pd.testing.assert_frame_equal(actual.failures, expected.failures)


def test_pairing_uses_seed_identity_not_position():
    rng = np.random.default_rng(11)
    m = rng.normal(size=(5, 3)) + np.array([0.0, 0.3, 0.6])
    runs = run_table(m, [1, 2, 3])
    expected = analyze(runs)

    # Rows for value 2 list the seeds backwards and with new row numbers.
    value_2 = runs[runs["lr"] == 2].iloc[::-1]
    reordered = pd.concat([runs[runs["lr"] != 2], value_2], ignore_index=True)
    reordered.attrs = runs.attrs
    actual = analyze(reordered)

    pd.testing.assert_frame_equal(actual.summary, expected.summary)
    z = scipy_z(m)
    np.testing.assert_allclose(actual.summary["t"], scipy_t(z)[0], rtol=1e-10)


def test_scores_hold_complete_seeds_only(mixed_runs):
    runs, m_all = mixed_runs
    scores = analyze(runs).scores

    assert sorted(set(scores["seed"])) == COMPLETE
    assert len(scores) == 5 * 4
    seed_4 = scores[scores["seed"] == 4].sort_values("value")
    np.testing.assert_allclose(seed_4["metric"], m_all[4])
    np.testing.assert_allclose(seed_4["z"], scipy_z(m_all[[4]])[0])


# ---------------------------------------------------------------- two values


def test_two_values_identical_on_every_seed():
    rng = np.random.default_rng(5)
    a = rng.normal(size=6)
    b = a - rng.uniform(0.1, 0.5, size=6)  # b lower on every seed
    runs = run_table(np.column_stack([a, b]), ["adam", "sgd"], param="optimizer")
    analysis = analyze(runs)
    summary = rows_of(analysis)
    t, _ = scipy_t(scipy_z(np.column_stack([a, b])))

    assert summary["t"].tolist() == [math.inf, -math.inf]
    assert np.sign(t).tolist() == [1, -1]
    assert (np.abs(t) > 1e8).all()
    paired = scipy.stats.ttest_rel(a, b)
    assert summary["p"].tolist() == pytest.approx([paired.pvalue, paired.pvalue], rel=1e-10)
    assert summary["p_holm"].tolist() == pytest.approx(multipletests([paired.pvalue] * 2, method="holm")[1], rel=1e-10)
    assert summary["verdict"].tolist() == ["reliably_worse", "reliably_better"]
    assert summary["reference"].tolist() == ["sgd", "sgd"]

    interval = scipy.stats.ttest_rel(a, b).confidence_interval(0.95)
    assert summary["effect"].iloc[0] == pytest.approx((a - b).mean())
    assert summary["effect_low"].iloc[0] == pytest.approx(interval.low)
    assert summary["effect_high"].iloc[0] == pytest.approx(interval.high)
    assert "read the paired difference" in group_of(analysis, "optimizer")["note"]
    assert analysis.trend.empty


def test_two_values_noise_does_not_survive_holm():
    # Four seeds of noise on which sgd happens to be lower every time.
    a = np.array([0.3, -1.2, 0.8, 0.1])
    b = a - np.array([0.05, 0.9, 0.02, 1.4])
    summary = rows_of(analyze(run_table(np.column_stack([a, b]), ["adam", "sgd"], param="optimizer")))

    assert summary["t"].tolist() == [math.inf, -math.inf]
    assert summary["p"].iloc[1] == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue, rel=1e-10)
    assert summary["p"].iloc[1] > 0.05
    assert summary["holm_significant"].tolist() == [False, False]
    assert summary["verdict_text"].iloc[1] == "reliably better; does not survive the Holm correction"


def test_two_values_tie_at_threshold_does_not_pass():
    # 5 of 6 seeds agree: mean_z = 2/3, std_z = sqrt(2/3), so |t| = 2 exactly.
    rng = np.random.default_rng(4)
    a = rng.normal(size=6)
    b = a - rng.uniform(0.1, 0.5, size=6)
    b[0] = a[0] + 0.3
    summary = rows_of(analyze(run_table(np.column_stack([a, b]), ["adam", "sgd"], param="optimizer")))

    assert summary["t"].abs().tolist() == pytest.approx([2.0, 2.0], rel=1e-12)
    assert summary["verdict"].tolist() == ["inconsistent", "inconsistent"]


def test_two_values_with_three_seeds_ask_for_more():
    rng = np.random.default_rng(6)
    a = rng.normal(size=3)
    b = a - rng.uniform(0.1, 0.5, size=3)
    summary = rows_of(analyze(run_table(np.column_stack([a, b]), ["adam", "sgd"], param="optimizer")))

    assert summary["verdict"].tolist() == ["suggestive_worse", "suggestive_better"]
    d = (a - b).mean() / (a - b).std(ddof=1)
    expected = TTestPower().solve_power(effect_size=abs(d), alpha=0.05, power=0.8)
    assert summary["seeds_needed"].iloc[0] == math.ceil(expected)
    assert pd.isna(summary["seeds_needed"].iloc[1])


# ---------------------------------------------------------------- verdicts


def test_one_seed_is_undetermined():
    analysis = analyze(run_table([[0.3, 0.1, 0.2]], [1, 2, 3]))
    summary = rows_of(analysis)

    assert summary["verdict"].tolist() == ["undetermined"] * 3
    assert summary["t"].isna().all()
    assert summary["dof"].isna().all()
    assert summary["seeds_needed"].isna().all()
    assert "one seed: replicate before concluding" in group_of(analysis, "lr")["note"]
    assert math.isnan(group_of(analysis, "lr")["false_alarm_chance"])


def test_fewer_than_four_seeds_is_suggestive():
    m = np.array([[1.0, 2.0, 3.1], [1.1, 2.1, 3.0], [0.9, 2.0, 3.2]])
    summary = rows_of(analyze(run_table(m, [1, 2, 3])))
    t, _ = scipy_t(scipy_z(m))

    assert abs(t[0]) > 2
    assert abs(t[2]) > 2
    assert summary["verdict"].tolist()[0] == "suggestive_better"
    assert summary["verdict"].tolist()[2] == "suggestive_worse"
    assert "only 3 seeds" in summary["verdict_text"].iloc[0]


STRICT_CASE = [[0.19, -0.02, 0.59], [-2.44, 2.3, 2.14], [-0.33, 1.27, 1.28], [-0.55, 1.48, 0.69]]


def test_strict_rule_needs_holm():
    m = np.array(STRICT_CASE)
    t, p = scipy_t(scipy_z(m))
    p_holm = multipletests(p, method="holm")[1]
    assert abs(t[0]) > 2
    assert p_holm[0] >= 0.05
    assert abs(t[2]) > 2
    assert p_holm[2] >= 0.05

    seed_rule = rows_of(analyze(run_table(m, [1, 2, 3])))
    strict_rule = rows_of(analyze(run_table(m, [1, 2, 3]), verdict_rule="strict"))

    assert seed_rule["verdict"].tolist() == ["reliably_better", "no_effect", "reliably_worse"]
    assert "does not survive the Holm correction" in seed_rule["verdict_text"].iloc[0]
    assert not seed_rule["holm_significant"].any()
    assert strict_rule["verdict"].tolist() == ["inconsistent", "no_effect", "inconsistent"]


def test_strict_rule_passes_with_small_holm_p():
    rng = np.random.default_rng(8)
    m = rng.normal(size=(10, 3)) * 0.2 + np.array([0.0, 1.0, 2.0])
    summary = rows_of(analyze(run_table(m, [1, 2, 3]), verdict_rule="strict"))
    p_holm = multipletests(scipy_t(scipy_z(m))[1], method="holm")[1]

    assert p_holm[0] < 0.05
    assert summary["verdict"].iloc[0] == "reliably_better"
    assert "survives the Holm correction" in summary["verdict_text"].iloc[0]


def test_lucky_seed_is_inconsistent():
    m = np.array([
        [-5.0, -0.13, 0.64],
        [0.1, -0.54, 0.36],
        [1.3, 0.95, -0.7],
        [-1.27, -0.62, 0.04],
        [-2.33, -0.22, -1.25],
    ])
    z = scipy_z(m)
    t, _ = scipy_t(z)
    assert abs(z[:, 0].mean()) >= 0.5
    assert abs(t[0]) <= 2

    summary = rows_of(analyze(run_table(m, [1, 2, 3])))
    assert summary["verdict"].iloc[0] == "inconsistent"
    assert summary["verdict"].iloc[1] == "no_effect"


def test_maximize_flips_better_and_worse():
    rng = np.random.default_rng(9)
    m = rng.normal(size=(6, 3)) * 0.1 + np.array([0.0, 1.0, 2.0])
    runs = run_table(m, [1, 2, 3], metric="accuracy")

    minimize = rows_of(analyze(runs))
    maximize = rows_of(analyze(runs, direction="maximize"))

    assert minimize["verdict"].tolist() == ["reliably_better", "no_effect", "reliably_worse"]
    assert maximize["verdict"].tolist() == ["reliably_worse", "no_effect", "reliably_better"]
    assert minimize["reference"].iloc[0] == 1
    assert maximize["reference"].iloc[0] == 3
    # The effect is m[v] - m[ref] in both directions: not turned.
    assert maximize["effect"].iloc[0] == pytest.approx((m[:, 0] - m[:, 2]).mean())


def test_t_threshold_is_configurable():
    m = np.array(STRICT_CASE)
    summary = rows_of(analyze(run_table(m, [1, 2, 3]), t_threshold=5.0))
    t, _ = scipy_t(scipy_z(m))

    assert (np.abs(t) < 5).all()
    assert "reliably_better" not in summary["verdict"].tolist()


def test_verdict_rule_false_alarm_chance_reported():
    m = np.array(STRICT_CASE)
    seed_rule = group_of(analyze(run_table(m, [1, 2, 3])), "lr")
    strict_rule = group_of(analyze(run_table(m, [1, 2, 3]), verdict_rule="strict"), "lr")

    assert seed_rule["false_alarm_chance"] == false_alarm_chance(4, 3, 2.0, "seed")
    assert strict_rule["false_alarm_chance"] == false_alarm_chance(4, 3, 2.0, "strict")
    assert strict_rule["false_alarm_chance"] < seed_rule["false_alarm_chance"]


# ---------------------------------------------------------------- failures are findings


def test_positive_infinity_is_never_best():
    rng = np.random.default_rng(12)
    m = rng.normal(size=(5, 3))
    runs = run_table(m, [1, 2, 3], metric="accuracy")
    set_cell(runs, 0, 2, accuracy=np.inf)
    analysis = analyze(runs, direction="maximize")
    group = group_of(analysis, "lr")

    assert 0 not in group["complete_seeds"]
    assert group["excluded_seeds"] == [{"seed": 0, "reason": "lr=2 diverged"}]
    assert analysis.failures["reason"].tolist() == ["accuracy is +inf"]
    z = scipy_z(m[1:])
    assert group["reference"] == [1, 2, 3][int(np.argmax(z.mean(axis=0)))]


def test_failed_rows_are_never_turned_into_numbers():
    rng = np.random.default_rng(13)
    m = rng.normal(size=(5, 3))
    runs = run_table(m, [1, 2, 3])
    # A crashed run that still carries a (stale) number must not count.
    set_cell(runs, 2, 1, status="crashed", reason="raised ValueError: x")
    summary = rows_of(analyze(runs))
    z = scipy_z(m[[0, 1, 3, 4]])

    np.testing.assert_allclose(summary["mean_z"], z.mean(axis=0), atol=1e-12)
    assert summary["n"].tolist() == [4, 4, 4]


def test_run_status_members_are_accepted():
    rng = np.random.default_rng(14)
    runs = run_table(rng.normal(size=(4, 3)), [1, 2, 3])
    runs["status"] = [RunStatus.OK] * len(runs)
    set_cell(runs, 1, 2, status=RunStatus.CRASHED, val_loss=np.nan)
    analysis = analyze(runs)

    assert group_of(analysis, "lr")["complete_seeds"] == [0, 2, 3]
    assert analysis.failures["status"].tolist() == ["crashed"]


@pytest.mark.parametrize("dtype", [object, "string"])
def test_missing_status_is_not_ok(dtype):
    rng = np.random.default_rng(27)
    m = rng.normal(size=(5, 3))
    runs = run_table(m, [1, 2, 3])
    runs["status"] = pd.array(["ok"] * 14 + [pd.NA], dtype=dtype)
    analysis = analyze(runs)

    assert rows_of(analysis)["n"].tolist() == [4, 4, 4]
    np.testing.assert_allclose(rows_of(analysis)["t"], scipy_t(scipy_z(m[:4]))[0], rtol=1e-10)


def test_no_complete_seed_gives_no_data():
    rng = np.random.default_rng(15)
    runs = run_table(rng.normal(size=(2, 3)), [1, 2, 3])
    set_cell(runs, 0, 1, status="crashed", val_loss=np.nan)
    set_cell(runs, 1, 2, status="diverged", val_loss=np.nan)
    analysis = analyze(runs)

    assert rows_of(analysis)["verdict"].tolist() == ["no_data"] * 3
    assert "no complete seed" in group_of(analysis, "lr")["note"]


def test_every_run_failed_raises():
    runs = run_table(np.zeros((2, 2)), [1, 2])
    runs["status"] = "crashed"
    runs["val_loss"] = np.nan

    with pytest.raises(AnalysisError, match="every run failed \\(4 crashed\\)"):
        analyze(runs)


def test_duplicate_cell_raises_naming_it():
    runs = run_table(np.zeros((2, 2)) + [[0, 1], [1, 0]], [1, 2])
    duplicated = combine(runs, runs.iloc[[3]])

    with pytest.raises(AnalysisError, match="2 runs for one cell of the grid \\(seed 1, lr=2\\)"):
        analyze(duplicated)


# ---------------------------------------------------------------- trend axis


@pytest.mark.parametrize(
    ("values", "scale", "expected"),
    [
        ([1e-4, 1e-3, 1e-2], "auto", "log"),
        ([0.5, 5.0, 50.0], "auto", "log"),
        ([1.0, 2.0, 3.0], "auto", "linear"),
        ([1.0, 10.0, 99.0], "auto", "linear"),
        ([0.0, 1.0, 1000.0], "auto", "linear"),
        ([1e-4, 1e-3, 1e-2], "linear", "linear"),
        ([1.0, 2.0, 3.0], "log", "log"),
    ],
)
def test_trend_scale_detection(values, scale, expected):
    rng = np.random.default_rng(16)
    trend = analyze(run_table(rng.normal(size=(4, 3)), values), scale=scale).trend

    assert trend["scale"].tolist() == [expected]


def test_log_trend_slope_is_per_decade():
    rng = np.random.default_rng(17)
    values = [1e-4, 1e-3, 1e-2, 1e-1]
    x = np.log10(values)
    m = -0.05 * x + rng.normal(size=(6, 1)) + rng.normal(size=(6, 4)) * 0.01
    analysis = analyze(run_table(m, values))
    row = analysis.trend.iloc[0]
    z = scipy_z(m)

    expected_slope = np.mean([scipy.stats.linregress(x, m_seed).slope for m_seed in m])
    assert row["slope"] == pytest.approx(expected_slope, rel=1e-10)
    assert row["slope"] == pytest.approx(-0.05, abs=0.01)
    assert row["r"] == pytest.approx(scipy.stats.pearsonr(np.tile(x, 6), z.ravel()).statistic)
    assert row["clean"]
    assert row["trend_text"] == "higher lr -> lower val_loss"


def test_log_scale_rejects_non_positive_values():
    runs = run_table(np.arange(9.0).reshape(3, 3), [0.0, 1.0, 2.0])

    with pytest.raises(AnalysisError, match="scale='log' needs positive values"):
        analyze(runs, scale="log")


def test_spearman_ties_match_scipy():
    # Metrics on a coarse grid tie within and across seeds, and seed 0 is flat.
    rng = np.random.default_rng(28)
    values = [0.5, 1, 2, 4, 8]
    m = np.round(rng.normal(size=(30, 5)) + 0.3 * np.arange(5), 1)
    m[0] = 1.0
    row = analyze(run_table(m, values), scale="linear").trend.iloc[0]
    spearman = scipy.stats.spearmanr(np.tile(values, 30), scipy_z(m).ravel())

    assert row["spearman_rho"] == pytest.approx(spearman.statistic, rel=1e-10)
    assert row["spearman_p"] == pytest.approx(spearman.pvalue, rel=1e-8)


def test_noisy_trend_is_not_clean():
    rng = np.random.default_rng(18)
    trend = analyze(run_table(rng.normal(size=(5, 4)), [1, 2, 3, 4])).trend.iloc[0]

    assert not trend["clean"]
    assert trend["trend_text"].startswith("no clean trend (higher lr -> ")


def test_string_parameter_has_no_trend():
    rng = np.random.default_rng(19)
    analysis = analyze(run_table(rng.normal(size=(4, 3)), ["adam", "lion", "sgd"], param="optimizer"))

    assert analysis.trend.empty
    assert list(analysis.trend.columns)[:3] == ["param", "group", "scale"]
    assert rows_of(analysis)["value"].tolist() == ["adam", "lion", "sgd"]


# ---------------------------------------------------------------- groups and factorials


def factorial_runs():
    rng = np.random.default_rng(20)
    tables = []
    for wd in [0.0, 0.01]:
        m = rng.normal(size=(5, 3)) + np.array([0.0, 0.5, 1.0]) * (1 if wd == 0 else -1)
        tables.append(run_table(m, [0.1, 0.2, 0.3], fixed={"wd": wd}))
    return combine(*tables)


def test_factorial_analyses_each_parameter_in_turn():
    runs = factorial_runs()
    analysis = analyze(runs)

    assert analysis.settings["params"] == ["lr", "wd"]
    assert analysis.settings["held_fixed"] == {"lr": ["wd"], "wd": ["lr"]}
    assert analysis.groups[["param", "group"]].values.tolist() == [
        ["lr", "wd=0.0"],
        ["lr", "wd=0.01"],
        ["wd", "lr=0.1"],
        ["wd", "lr=0.2"],
        ["wd", "lr=0.3"],
    ]
    interaction = [note for note in analysis.notes if "may interact" in note]
    assert [note.split(":")[0] for note in interaction] == ["lr", "wd"]


def test_factorial_group_equals_its_subset():
    runs = factorial_runs()
    analysis = analyze(runs)

    for wd in [0.0, 0.01]:
        subset = runs[runs["wd"] == wd].reset_index(drop=True)
        subset.attrs = runs.attrs
        alone = rows_of(analyze(subset, param="lr"))
        within = rows_of(analysis, "lr", f"wd={wd}")
        columns = ["value", "n", "mean_z", "std_z", "t", "p", "p_holm", "verdict", "effect", "effect_low"]
        pd.testing.assert_frame_equal(within[columns], alone[columns])


def test_named_parameter_holds_other_swept_fixed():
    analysis = analyze(factorial_runs(), param="lr")

    assert analysis.settings["params"] == ["lr"]
    assert set(analysis.summary["group"]) == {"wd=0.0", "wd=0.01"}
    assert any("wd also swept" in note for note in analysis.notes)


def test_explicit_groups_are_never_compared():
    rng = np.random.default_rng(21)
    a = run_table(rng.normal(size=(4, 3)), [1, 2, 3], fixed={"model": "resnet"})
    b = run_table(rng.normal(size=(4, 3)) + 10, [1, 2, 3], fixed={"model": "vit"})
    runs = combine(a, b)
    analysis = analyze(runs, groups=["model"])

    assert analysis.settings["params"] == ["lr"]
    assert analysis.groups["group"].tolist() == ["model=resnet", "model=vit"]
    assert analysis.groups["group_keys"].tolist() == [{"model": "resnet"}, {"model": "vit"}]
    assert not any("interact" in note for note in analysis.notes)
    alone = rows_of(analyze(b.reset_index(drop=True)))
    within = rows_of(analysis, "lr", "model=vit")
    np.testing.assert_allclose(within["t"], alone["t"])
    np.testing.assert_allclose(within["effect"], alone["effect"])


@pytest.mark.parametrize("groups", [2, 15])
def test_groups_own_seeds_match_scipy(groups):
    # 15 groups of 3 seeds each leave the grid sparse in (group, seed) pairs, 2 groups do not.
    rng = np.random.default_rng(25)
    blocks = [rng.normal(size=(3, 3)) + [0.0, 0.5, 1.0] for _ in range(groups)]
    tables = [
        run_table(m, [1, 2, 3], seeds=range(3 * g, 3 * g + 3), fixed={"model": f"m{g:02d}"})
        for g, m in enumerate(blocks)
    ]
    analysis = analyze(combine(*tables), groups=["model"])

    for g, m in enumerate(blocks):
        t, p = scipy_t(scipy_z(m))
        summary = rows_of(analysis, "lr", f"model=m{g:02d}")
        np.testing.assert_allclose(summary["t"], t, rtol=1e-10)
        np.testing.assert_allclose(summary["p"], p, rtol=1e-10)
        assert group_of(analysis, "lr", f"model=m{g:02d}")["complete_seeds"] == list(range(3 * g, 3 * g + 3))


def test_missing_group_key_forms_group():
    rng = np.random.default_rng(26)
    with_model = run_table(rng.normal(size=(4, 3)), [1, 2, 3], fixed={"model": "vit"})
    without = run_table(rng.normal(size=(4, 3)), [1, 2, 3], fixed={"model": None})
    analysis = analyze(combine(with_model, without), groups=["model"])

    assert analysis.groups["group"].tolist() == ["model=vit", "model=nan"]
    alone = rows_of(analyze(without.drop(columns="model")))
    np.testing.assert_allclose(rows_of(analysis, "lr", "model=nan")["t"], alone["t"])


def test_group_label_lists_groups_before_held_keys():
    rng = np.random.default_rng(22)
    tables = [
        run_table(rng.normal(size=(3, 2)), [1, 2], fixed={"wd": wd, "model": model})
        for model in ["a", "b"]
        for wd in [0, 1]
    ]
    analysis = analyze(combine(*tables), param="lr", groups=["model"])

    labels = ["model=a, wd=0", "model=a, wd=1", "model=b, wd=0", "model=b, wd=1"]
    assert analysis.groups["group"].tolist() == labels


def test_value_absent_from_one_group_is_noted():
    runs = factorial_runs()
    runs = runs[~((runs["wd"] == 0.01) & (runs["lr"] == 0.3))].reset_index(drop=True)
    runs.attrs = factorial_runs().attrs
    analysis = analyze(runs, param="lr")

    assert group_of(analysis, "lr", "wd=0.01")["k"] == 2
    assert "lr=0.3: no run in this group" in group_of(analysis, "lr", "wd=0.01")["note"]


# ---------------------------------------------------------------- settings and arguments


def test_column_unique_per_run_is_noted(caplog):
    rng = np.random.default_rng(29)
    runs = run_table(rng.normal(size=(4, 3)), [1, 2, 3])
    runs["note"] = [f"run {row}" for row in range(len(runs))]
    runs.attrs["seedsweep"]["params"] = ["lr", "note"]

    with caplog.at_level(logging.WARNING, logger="seedsweep"):
        analysis = analyze(runs, param="lr")
    expected = "note has a different value in every run, so no value of it runs on two seeds"
    assert expected in analysis.notes[0]
    assert expected in caplog.text
    assert not any("different value in every run" in note for note in analyze(runs.drop(columns="note")).notes)


def test_attrs_supply_missing_arguments():
    rng = np.random.default_rng(23)
    m = rng.normal(size=(5, 3)) * 0.1 + np.array([0.0, 1.0, 2.0])
    runs = run_table(m, [1, 2, 3], metric="accuracy")
    runs.attrs["seedsweep"].update({"direction": "maximize", "verdict_rule": "strict", "t_threshold": 3.0})
    analysis = analyze(runs)

    assert analysis.settings["direction"] == "maximize"
    assert analysis.settings["verdict_rule"] == "strict"
    assert analysis.settings["t_threshold"] == 3.0
    assert rows_of(analysis)["reference"].iloc[0] == 3
    assert analyze(runs, direction="minimize").settings["direction"] == "minimize"


def test_table_without_attrs_needs_names():
    rng = np.random.default_rng(24)
    runs = run_table(rng.normal(size=(3, 3)), [1, 2, 3])
    runs.attrs = {}

    assert analyze(runs, param="lr").settings["metric"] == "val_loss"
    assert analyze(runs, metric="val_loss").settings["params"] == ["lr"]
    with pytest.raises(AnalysisError, match="name one"):
        analyze(runs)


def test_baseline_sets_the_reference():
    rng = np.random.default_rng(25)
    m = rng.normal(size=(5, 3))
    analysis = analyze(run_table(m, [0.001, 0.01, 0.1]), baseline="1e-2")
    summary = rows_of(analysis)

    assert summary["reference"].tolist() == [0.01] * 3
    assert summary["effect"].iloc[1] == 0
    assert summary["effect"].iloc[2] == pytest.approx((m[:, 2] - m[:, 1]).mean())
    assert pd.isna(summary["seeds_needed"].iloc[1])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"param": "lrr"}, "unknown parameter 'lrr': the run table's parameters are lr"),
        ({"metric": "loss"}, "unknown metric 'loss': the run table's metric columns are val_loss"),
        ({"direction": "min"}, "direction must be one of 'minimize', 'maximize', got 'min'"),
        ({"scale": "ln"}, "scale must be one of 'auto', 'linear', 'log', got 'ln'"),
        ({"verdict_rule": "holm"}, "verdict_rule must be one of 'seed', 'strict', got 'holm'"),
        ({"t_threshold": 0}, "t_threshold must be a positive finite number, got 0"),
        ({"t_threshold": "two"}, "t_threshold must be a positive number, got 'two'"),
        ({"baseline": 0.5}, "baseline 0.5 is not among the values of 'lr' \\(1, 2, 3\\)"),
        ({"groups": ["model"]}, "unknown group key 'model': the run table's other columns are lr, val_loss"),
        ({"groups": ["lr"], "param": "lr"}, "'lr' is both the study parameter and a group key"),
        ({"param": "seed"}, "'seed' is the seed axis"),
        ({"param": 3}, "param must be a column name or a list of them, got 3"),
    ],
)
def test_bad_arguments_raise(arguments, message):
    runs = run_table(np.arange(6.0).reshape(2, 3), [1, 2, 3])

    with pytest.raises(AnalysisError, match=message):
        analyze(runs, **arguments)


def test_bad_tables_raise():
    runs = run_table(np.arange(6.0).reshape(2, 3), [1, 2, 3])

    with pytest.raises(AnalysisError, match="runs must be a pandas DataFrame"):
        analyze(runs.to_dict())
    with pytest.raises(AnalysisError, match="the run table has no runs"):
        analyze(runs.iloc[0:0])
    with pytest.raises(AnalysisError, match="no 'seed' column"):
        analyze(runs.drop(columns="seed"))
    with pytest.raises(AnalysisError, match="parameter 'lr' has one value only \\(1\\)"):
        analyze(runs[runs["lr"] == 1], param="lr")
    with pytest.raises(AnalysisError, match="no swept study parameter"):
        analyze(runs[runs["lr"] == 1])
    no_seed = runs.astype({"seed": float})
    no_seed.loc[0, "seed"] = np.nan
    with pytest.raises(AnalysisError, match="1 run has no seed"):
        analyze(no_seed)


def test_analysis_error_is_a_value_error():
    assert issubclass(AnalysisError, ValueError)


def test_value_types_are_kept():
    rng = np.random.default_rng(26)
    ints = rows_of(analyze(run_table(rng.normal(size=(3, 3)), [8, 16, 32], param="batch")))
    bools = rows_of(analyze(run_table(rng.normal(size=(3, 2)), [True, False], param="warmup")))

    assert [type(v) for v in ints["value"].tolist()] == [int, int, int]
    assert bools["value"].tolist() == [False, True]


# ---------------------------------------------------------------- library functions


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.04])

    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    with_nan = holm([0.01, np.nan, 0.04])
    assert math.isnan(with_nan[1])
    np.testing.assert_allclose(with_nan[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])


@pytest.mark.parametrize("d", [0.01, 0.03, 0.2, 0.5, 0.8, 1.5, 3.0, 5.0, -0.7])
def test_seeds_for_power_matches_statsmodels(d):
    expected = TTestPower().solve_power(effect_size=abs(d), alpha=0.05, power=0.8, alternative="two-sided")

    assert seeds_for_power([d])[0] == math.ceil(expected)


def upper_tail_power(d, n):
    """P(T > t_crit) for the noncentral t: at most the power, and at least power - 0.025."""
    critical = scipy.stats.t.isf(0.025, n - 1)
    return scipy.stats.nct.sf(critical, n - 1, d * math.sqrt(n))


def test_seeds_for_power_large_effects():
    # statsmodels returns NaN for d >= 10 (its lower tail is NaN in scipy),
    # so the upper tail alone brackets the result.
    d = np.array([5.0, 10.0, 20.0, 40.0])
    needed = seeds_for_power(d)

    assert np.all(np.diff(needed) <= 0)
    assert needed.min() >= 2
    for effect, n in zip(d, needed):
        assert upper_tail_power(effect, n) >= 0.8
        if n > 2:
            assert upper_tail_power(effect, n - 1) + 0.025 < 0.8


def independent_false_alarm(n, k, rule, draws, seed):
    """Simulate the chance that some value passes the rule, with scipy and statsmodels."""
    rng = np.random.default_rng(seed)
    metrics = rng.standard_normal((draws, n, k))
    z = scipy.stats.zscore(metrics, axis=2, ddof=0)
    if k == 2:
        z = np.sign(z)  # exactly ±1, so that ties at |t| = 2 stay ties
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy.stats.ttest_1samp(z, 0, axis=1)
    if rule == "seed":
        # Strictly above 2: rounding must not lift an exact |t| = 2 over it.
        return float((np.abs(result.statistic) > 2.0 + 1e-9).any(axis=1).mean())
    p_values = result.pvalue
    if k == 2:
        # Two values take the p of the paired t-test of their metrics.
        paired = scipy.stats.ttest_rel(metrics[:, :, 0], metrics[:, :, 1], axis=1).pvalue
        p_values = np.column_stack([paired, paired])

    # Holm step-down per draw, written out here; statsmodels is too slow for
    # thousands of calls and is compared with `holm` in its own test.
    ordered = np.sort(p_values, axis=1) * (k - np.arange(k))
    adjusted = np.minimum(np.maximum.accumulate(ordered, axis=1), 1.0)
    return float((adjusted < 0.05).any(axis=1).mean())


def test_false_alarm_chance_matches_design_figure():
    # With 4 seeds and 5 values, about half of the sweeps without any real
    # effect have at least one value with |t| > 2.
    assert 0.45 <= false_alarm_chance(4, 5) <= 0.6


@pytest.mark.parametrize(
    ("n", "k", "rule"),
    [(4, 5, "seed"), (3, 3, "strict"), (6, 2, "seed"), (5, 2, "strict"), (8, 10, "seed"), (40, 12, "seed")],
)
def test_false_alarm_chance_matches_simulation(n, k, rule):
    expected = independent_false_alarm(n, k, rule, draws=6000, seed=99)

    assert false_alarm_chance(n, k, 2.0, rule) == pytest.approx(expected, abs=0.035)


def test_false_alarm_chance_is_undefined_below_two_seeds():
    assert math.isnan(false_alarm_chance(1, 5))
    with pytest.raises(AnalysisError, match="verdict_rule must be one of"):
        false_alarm_chance(4, 5, verdict_rule="holm")


# ---------------------------------------------------------------- analysis.json


def test_to_json_is_strict_json(mixed_runs):
    runs, _ = mixed_runs
    document = analyze(runs).to_json()
    text = json.dumps(document, allow_nan=False)

    assert json.loads(text)["schema_version"] == 1
    assert set(document) == {"schema_version", "settings", "groups", "failures", "notes"}
    group = document["groups"][0]
    assert group["param"] == "lr"
    assert group["group"] == ""
    assert group["group_keys"] == {}
    assert group["excluded_seeds"][0] == {"seed": 1, "reason": "lr=3 crashed"}
    assert [value["value"] for value in group["values"]] == VALUES
    trend_fields = {"r", "r_t", "r_p", "N", "slope_t", "slope_p", "slope_n", "slope", "spearman_rho", "clean"}
    assert trend_fields <= set(group["trend"])
    assert document["failures"][1]["status"] == "missing"
    assert document["failures"][1]["job_dir"] is None


def test_to_json_writes_infinity_as_text():
    rng = np.random.default_rng(27)
    a = rng.normal(size=4)
    document = analyze(run_table(np.column_stack([a, a + 1]), [1, 2])).to_json()
    values = document["groups"][0]["values"]

    assert [value["t"] for value in values] == ["-inf", "inf"]
    assert document["groups"][0]["trend"] is None
    json.dumps(document, allow_nan=False)


# ---------------------------------------------------------------- size


def test_large_table_counts_every_failure():
    # 4 groups x 50 values x 500 seeds = 100k runs, 1% of them crashed.
    rng = np.random.default_rng(28)
    groups, values, seeds = 4, 50, 500
    size = groups * values * seeds
    runs = pd.DataFrame({
        "seed": np.tile(np.arange(seeds), groups * values),
        "model": np.repeat([f"m{g}" for g in range(groups)], values * seeds),
        "lr": np.tile(np.repeat(np.logspace(-4, -1, values), seeds), groups),
        "val_loss": rng.normal(size=size),
        "status": np.where(rng.random(size) < 0.01, "crashed", "ok"),
    })
    runs.attrs["seedsweep"] = {"params": ["model", "lr"], "metrics": ["val_loss"], "metric": "val_loss"}
    analysis = analyze(runs, groups=["model"])

    assert len(analysis.summary) == groups * values
    crashed = runs[runs["status"] == "crashed"]
    assert len(analysis.failures) == len(crashed)
    group = group_of(analysis, "lr", "model=m0")
    m0 = runs[runs["model"] == "m0"]
    bad_seeds = set(m0.loc[m0["status"] != "ok", "seed"])
    assert group["n"] == seeds - len(bad_seeds)


def test_unorderable_values_sort_by_type_then_text():
    rng = np.random.default_rng(29)
    values = [(1, 2), "a", 1]
    summary = rows_of(analyze(run_table(rng.normal(size=(3, 3)), values, param="shape")))

    assert summary["value"].tolist() == [1, "a", (1, 2)]


def test_seeds_for_power_huge_effects_return():
    # Differences with a spread of rounding error give d near 1e16, where
    # scipy's noncentral t returns NaN. Two seeds are still enough there.
    needed = seeds_for_power([50.0, 1e16, math.inf])

    assert list(needed) == [2.0, 2.0, 2.0]
    assert upper_tail_power(50.0, 2) >= 0.8


def test_constant_differences_analysed():
    rows = []
    for seed in range(4):
        for lr, loss in [(0.001, 0.10), (0.003, 0.30), (0.01, 1.00)]:
            rows.append({"seed": seed, "lr": lr, "val_loss": loss + 0.01 * seed, "status": "ok"})
    analysis = analyze(pd.DataFrame(rows), param="lr", metric="val_loss")

    assert len(analysis.summary) == 3


def test_value_failing_everywhere_is_set_aside():
    rng = np.random.default_rng(3)
    rows = []
    for seed in range(5):
        for lr in (0.01, 0.03, 0.1, 0.15):
            diverged = lr == 0.15
            loss = math.nan if diverged else lr * 10 + rng.normal(0, 0.05)
            rows.append({"seed": seed, "lr": lr, "val_loss": loss, "status": "diverged" if diverged else "ok"})
    runs = pd.DataFrame(rows)
    analysis = analyze(runs, param="lr", metric="val_loss")

    summary = analysis.summary.set_index("value")
    assert summary.loc[0.15, "verdict"] == "no_data"
    assert summary.loc[0.15, "n_failed"] == 5
    assert list(summary["n"]) == [5, 5, 5, 0]
    assert list(summary["set_aside"]) == [False, False, False, True]
    assert "lr=0.15: every run failed" in analysis.groups["note"].iloc[0]
    assert analysis.groups["k"].iloc[0] == 3

    kept = runs[runs["lr"] != 0.15]
    z = kept.pivot(index="seed", columns="lr", values="val_loss")
    z = z.sub(z.mean(axis=1), axis=0).div(z.std(axis=1, ddof=0), axis=0)
    for lr in (0.01, 0.03, 0.1):
        expected = scipy.stats.ttest_1samp(z[lr], 0)
        assert summary.loc[lr, "t"] == pytest.approx(expected.statistic)
        assert summary.loc[lr, "p"] == pytest.approx(expected.pvalue)
    assert len(analysis.trend) == 1
    assert analysis.trend["k"].iloc[0] == 3
    assert set(analysis.failures["value"]) == {0.15}
