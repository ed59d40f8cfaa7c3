"""Figure records and drawings of seedsweep.plots."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from seedsweep import plots
from tests.report_fixtures import FAILED_CELLS
from tests.report_fixtures import LRS
from tests.report_fixtures import MISSING_CELLS
from tests.report_fixtures import make_runs
from tests.report_fixtures import make_wide_runs
from tests.report_fixtures import reference_analysis

REPO = Path(__file__).resolve().parents[1]

# Every cell of the default run table that is not ok, as (seed, lr, status).
NOT_OK = {(seed, lr, status) for (seed, lr), (status, _) in FAILED_CELLS.items()} | {
    (seed, lr, "missing") for seed, lr in MISSING_CELLS
}
EXCLUDED_SEEDS = {seed for seed, _, _ in NOT_OK}


@pytest.fixture(scope="module")
def runs():
    return make_runs()


@pytest.fixture(scope="module")
def analysis(runs):
    return reference_analysis(runs, baseline=3e-4)


@pytest.fixture(scope="module")
def wide():
    runs = make_wide_runs()
    return runs, reference_analysis(runs)


def test_status_grid_has_every_cell(runs, analysis):
    record = plots.status_grid_record(analysis, runs, "lr", "")

    assert record.seeds == tuple(range(8))
    assert all(len(row) == len(LRS) for row in record.statuses)
    assert dict(record.counts) == {"ok": 28, "diverged": 2, "crashed": 1, "missing": 1}


def test_status_grid_shows_failed_runs(runs, analysis):
    record = plots.status_grid_record(analysis, runs, "lr", "")

    for seed, lr, status in NOT_OK:
        assert record.statuses[seed][LRS.index(lr)] == status
    not_ok = sum(status != "ok" for row in record.statuses for status in row)
    assert not_ok == len(NOT_OK)


def test_status_grid_fills_cells_absent_everywhere(analysis):
    # Seed 6 at lr=0.001 has no run row; drop it from the failures table too.
    runs = make_runs()
    failures = analysis.failures[analysis.failures["status"] != "missing"]
    thinned = dataclasses.replace(analysis, failures=failures)

    record = plots.status_grid_record(thinned, runs, "lr", "")

    assert record.statuses[6][LRS.index(1e-3)] == "missing"


def test_status_grid_takes_status_from_failures(analysis):
    # A run the table calls ok but without a finite metric is failed for the analysis.
    runs = make_runs()
    broken = (runs["seed"] == 2) & (runs["lr"] == 1e-2)
    runs.loc[broken, ["status", "reason"]] = ["ok", None]

    record = plots.status_grid_record(analysis, runs, "lr", "")
    lines = plots.paired_lines_record(analysis, runs, "lr", "")

    assert record.statuses[2][LRS.index(1e-2)] == "diverged"
    assert (2, 1e-2, "diverged") in {(run.seed, run.x, run.status) for run in lines.failed}


def test_paired_lines_mark_failed_runs(runs, analysis):
    record = plots.paired_lines_record(analysis, runs, "lr", "")

    marked = {(run.seed, run.x, run.status) for run in record.failed}
    assert marked == {(seed, float(lr), status) for seed, lr, status in NOT_OK}


def test_paired_lines_break_at_failed_runs(runs, analysis):
    record = plots.paired_lines_record(analysis, runs, "lr", "")
    lines = {line.seed: line for line in record.lines}

    assert set(lines) == set(range(8))
    for seed, lr, _ in NOT_OK:
        assert math.isnan(lines[seed].y[LRS.index(lr)])
    assert not lines[2].complete
    assert lines[0].complete


def test_paired_lines_use_run_table_metrics(runs, analysis):
    record = plots.paired_lines_record(analysis, runs, "lr", "")
    line = next(line for line in record.lines if line.seed == 3)

    expected = [float(runs[(runs.seed == 3) & (runs.lr == lr)]["val_loss"].iloc[0]) for lr in LRS]
    assert line.y == pytest.approx(expected)
    assert record.x == tuple(LRS)


def test_paired_lines_select_the_group():
    runs = make_runs(models=["mlp", "resnet"])
    analysis = reference_analysis(runs, groups=["model"])

    record = plots.paired_lines_record(analysis, runs, "lr", "model=resnet")

    line = next(line for line in record.lines if line.seed == 0)
    chosen = runs[(runs.model == "resnet") & (runs.seed == 0) & (runs.lr == LRS[0])]
    assert line.y[0] == pytest.approx(float(chosen["val_loss"].iloc[0]))
    assert len(record.failed) == len(NOT_OK)


def test_unknown_group_key_names_it(runs, analysis):
    other = dataclasses.replace(analysis, groups=analysis.groups.assign(group="model=resnet"))

    with pytest.raises(ValueError, match="group key 'model'"):
        plots.section_cells(other, runs, "lr", "model=resnet")


def test_log_axis_for_log_spaced_values(runs, analysis):
    assert plots.paired_lines_record(analysis, runs, "lr", "").log_x
    assert plots.trend_record(analysis, "lr", "").log_x


def test_linear_axis_for_linear_values():
    runs = make_runs(lrs=[1.0, 2.0, 3.0, 4.0], failed={}, missing=set())
    analysis = reference_analysis(runs)

    assert not plots.paired_lines_record(analysis, runs, "lr", "").log_x
    assert not plots.trend_record(analysis, "lr", "").log_x


def test_log_axis_without_trend():
    # Two values fit no trend; the auto rule still finds max/min >= 100.
    runs = make_runs(lrs=[1e-4, 1e-2], failed={}, missing=set())
    analysis = reference_analysis(runs)

    assert analysis.trend.empty
    assert plots.uses_log_axis(analysis, "lr", "")
    assert plots.trend_record(analysis, "lr", "") is None


def test_categorical_values_use_positions():
    runs = make_runs(failed={}, missing=set())
    runs["opt"] = runs["lr"].map({lr: name for lr, name in zip(LRS, "abcd")})
    runs = runs.drop(columns=["lr"]).rename(columns={"opt": "lr"})
    analysis = reference_analysis(runs)

    record = plots.paired_lines_record(analysis, runs, "lr", "")

    assert not record.numeric
    assert not record.log_x
    assert record.x == (0.0, 1.0, 2.0, 3.0)
    assert record.labels == ("a", "b", "c", "d")


def test_statistics_records_name_excluded_seeds(analysis):
    z = plots.z_scores_record(analysis, "lr", "")
    t = plots.t_stats_record(analysis, "lr", "")
    trend = plots.trend_record(analysis, "lr", "")

    for record in (z, t, trend):
        assert {item.seed for item in record.excluded} == EXCLUDED_SEEDS
    assert {point.seed for point in z.points} == set(range(8)) - EXCLUDED_SEEDS
    assert len(z.points) == 5 * len(LRS)
    assert len(trend.points) == 5 * len(LRS)


def test_z_interval_matches_scipy(analysis):
    record = plots.z_scores_record(analysis, "lr", "")
    scores = analysis.scores

    for position, lr in enumerate(LRS):
        z = scores[scores["value"] == lr]["z"].to_numpy()
        low, high = stats.t.interval(0.95, len(z) - 1, loc=z.mean(), scale=stats.sem(z))
        assert record.mean[position] == pytest.approx(z.mean())
        assert record.low[position] == pytest.approx(low)
        assert record.high[position] == pytest.approx(high)


def test_t_record_marks_holm_and_clips_inf(analysis):
    summary = analysis.summary.copy()
    summary.loc[summary["value"] == 1e-3, "t"] = -math.inf
    record = plots.t_stats_record(dataclasses.replace(analysis, summary=summary), "lr", "")

    assert record.holm == tuple(bool(value) for value in analysis.summary["holm_significant"])
    assert record.clipped == (False, False, True, False)
    assert record.drawn[2] == -record.limit
    assert record.limit > max(abs(t) for t in record.t if math.isfinite(t))
    assert record.threshold == 2.0


def test_trend_line_is_least_squares(analysis):
    record = plots.trend_record(analysis, "lr", "")
    x = np.log10([point.x for point in record.points])
    fit = stats.linregress(x, [point.z for point in record.points])

    assert record.fit_x == (min(LRS), max(LRS))
    assert record.fit_z[0] == pytest.approx(fit.intercept + fit.slope * math.log10(min(LRS)))
    assert record.fit_z[1] == pytest.approx(fit.intercept + fit.slope * math.log10(max(LRS)))
    assert "not a clean dose-response" in record.caption


def test_figure_stem_sanitises():
    assert plots.figure_stem("paired", "lr", "") == "paired_lr"
    assert plots.figure_stem("paired", "lr", "model=resnet") == "paired_lr__model=resnet"
    assert plots.figure_stem("z", "optim.lr", "data=a/b c, opt=adam") == (
        "z_optim.lr__data=a_b_c,opt=adam"
    )


def test_figure_stem_cuts_long_names():
    stem = plots.figure_stem("status", "lr", "model=" + "x" * 300)

    assert len(stem) == plots.MAX_STEM_LENGTH
    assert stem != plots.figure_stem("status", "lr", "model=" + "x" * 301)


def test_draw_figures_writes_png_and_svg(runs, analysis, tmp_path):
    drawn = plots.draw_figures(analysis, runs, tmp_path, ("png", "svg"))

    assert [figure.kind for figure in drawn] == ["paired", "z", "t", "trend", "status"]
    for figure in drawn:
        assert figure.error is None
        png, svg = figure.paths
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
        assert b"<svg" in svg.read_bytes()[:2000]
    assert (tmp_path / "paired_lr.png").exists()


def test_draw_figures_rejects_unknown_format(runs, analysis, tmp_path):
    with pytest.raises(ValueError, match="unknown figure format 'jpg'"):
        plots.draw_figures(analysis, runs, tmp_path, ("jpg",))


def test_draw_figures_per_group(tmp_path):
    runs = make_runs(models=["mlp", "resnet"])
    analysis = reference_analysis(runs, groups=["model"])

    drawn = plots.draw_figures(analysis, runs, tmp_path)

    names = sorted(path.name for figure in drawn for path in figure.paths)
    assert "paired_lr__model=mlp.png" in names
    assert "status_lr__model=resnet.png" in names
    assert len(names) == 10


def _overlapping_labels(figure, axis_name):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    axis = axes.xaxis if axis_name == "x" else axes.yaxis
    boxes = [
        label.get_window_extent(renderer)
        for label in axis.get_ticklabels()
        if label.get_visible() and label.get_text()
    ]
    overlaps = [(a, b) for a, b in zip(boxes, boxes[1:]) if a.overlaps(b)]
    return boxes, overlaps


def test_wide_sweep_tick_labels_do_not_overlap(wide):
    runs, analysis = wide
    records = plots.figure_records(analysis, runs, "lr", "")

    for kind, record in records:
        figure = plots.draw(record)
        boxes, overlaps = _overlapping_labels(figure, "x")
        assert boxes, kind
        assert len(boxes) <= plots.MAX_TICK_LABELS + 1, kind
        assert not overlaps, kind


def test_wide_status_grid_seed_labels_do_not_overlap(wide):
    runs, analysis = wide
    figure = plots.draw(plots.status_grid_record(analysis, runs, "lr", ""))

    boxes, overlaps = _overlapping_labels(figure, "y")

    assert len(boxes) <= plots.MAX_SEED_LABELS
    assert not overlaps


def test_wide_sweep_lines_thin_and_transparent(wide):
    runs, analysis = wide
    figure = plots.draw(plots.paired_lines_record(analysis, runs, "lr", ""))
    seed_lines = [line for line in figure.axes[0].get_lines() if line.get_linestyle() in ("-", "--")]

    assert len(seed_lines) >= 50
    assert all(line.get_linewidth() < 1 for line in seed_lines)
    assert all(line.get_alpha() < 0.5 for line in seed_lines)


def test_drawing_leaves_pyplot_alone(tmp_path):
    script = (
        "import sys\n"
        "from tests.report_fixtures import make_runs, reference_analysis\n"
        "from seedsweep import plots\n"
        "runs = make_runs()\n"
        f"plots.draw_figures(reference_analysis(runs), runs, {str(tmp_path)!r})\n"
        "print('pyplot' if 'matplotlib.pyplot' in sys.modules else 'no pyplot')\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(REPO)

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no pyplot"
    assert (tmp_path / "status_lr.png").exists()


def test_group_keys_select_runs():
    # A comma in a value breaks the group label apart; group_keys does not.
    runs = make_runs(models=["a, b", "c"], failed={}, missing=set())
    analysis = reference_analysis(runs, groups=["model"])
    keys = [{"model": label.split("=", 1)[1]} for label in analysis.groups["group"]]
    analysis = dataclasses.replace(analysis, groups=analysis.groups.assign(group_keys=keys))

    record = plots.paired_lines_record(analysis, runs, "lr", "model=a, b")

    chosen = runs[(runs.model == "a, b") & (runs.seed == 0)]
    assert record.lines[0].y == pytest.approx(list(chosen["val_loss"]))
    assert len(record.lines) == 8


def test_no_complete_seed_draws_without_trend(tmp_path):
    import pandas as pd

    from seedsweep.stats import analyze

    rows = []
    for seed in range(3):
        for lr in (0.01, 0.03, 0.1):
            diverged = lr == 0.1
            rows.append(
                {
                    "seed": seed,
                    "lr": lr,
                    "loss": math.nan if diverged else lr + seed,
                    "status": "diverged" if diverged else "ok",
                    "reason": "loss is NaN" if diverged else None,
                    "job_dir": None,
                }
            )
    runs = pd.DataFrame(rows)
    analysis = analyze(runs, param="lr", metric="loss")

    assert plots.trend_record(analysis, "lr", "") is None
    written = plots.draw_figures(analysis, runs, tmp_path, ("png",))
    assert any("status" in str(figure) for figure in written)
