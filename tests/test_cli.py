"""Tests of the ``seedsweep`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from seedsweep.records import RECORD_FILE
from tests.sweep_builders import REPO_ROOT
from tests.sweep_builders import child_env
from tests.sweep_builders import make_sweep
from tests.sweep_builders import run_hydra_multirun


def seedsweep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m seedsweep`` with ``args`` and return the finished process."""
    command = [sys.executable, "-m", "seedsweep", *map(str, args)]
    return subprocess.run(command, cwd=cwd or REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=120)


def assert_input_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Check exit 2, no traceback, and one error line that contains every fragment."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == error_lines[0]
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


@pytest.fixture(scope="module")
def hydra_multirun(tmp_path_factory) -> Path:
    """Six basic-sweeper jobs (lr 0.001 and 0.01, seeds 0-2) that write results.json."""
    root = tmp_path_factory.mktemp("hydra_cli")
    return run_hydra_multirun(root, ["seed=0,1,2", "lr=0.001,0.01", "noise=0.05"])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GRID_CSV = "seed,lr,val_loss\n0,0.1,0.5\n0,0.2,0.4\n1,0.1,0.52\n1,0.2,0.41\n2,0.1,0.55\n2,0.2,0.38\n"


# ---------------------------------------------------------------- help and usage


def test_help_is_fast():
    started = time.perf_counter()
    result = seedsweep("--help")
    elapsed = time.perf_counter() - started

    assert result.returncode == 0
    assert "analyze" in result.stdout
    assert "report" in result.stdout
    # The child's own start-up (about 0.05 s here) is well under the 0.3 s
    # target; the bound leaves room for a loaded machine.
    assert elapsed < 1.5


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from seedsweep.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [name for name in ('pandas', 'numpy', 'scipy', 'matplotlib', 'optuna', 'hydra') if name in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == "[]", result.stderr


def test_analyze_help_lists_options():
    result = seedsweep("analyze", "--help")

    assert result.returncode == 0
    for option in ("--param", "--metric", "--seed-key", "--group-by", "--direction", "--baseline", "--scale",
                   "--t-threshold", "--verdict-rule", "--divergence", "--metrics-file", "--study",
                   "--list-studies", "--out", "--no-plots", "--json"):
        assert option in result.stdout


# ---------------------------------------------------------------- bad input: exit 2, one line


def test_no_command():
    result = seedsweep()

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


@pytest.mark.parametrize(
    "option, value",
    [("--direction", "minimise"), ("--scale", "cubic"), ("--verdict-rule", "loose"), ("--t-threshold", "two")],
)
def test_bad_option_value(tmp_path, option, value):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), option, value)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert value in result.stderr.splitlines()[-1]


def test_missing_dir(tmp_path):
    assert_input_error(seedsweep("analyze", tmp_path / "nope"), "does not exist", "nope")


def test_empty_dir(tmp_path):
    assert_input_error(seedsweep("analyze", tmp_path), "is empty")


def test_folder_that_is_not_a_sweep(tmp_path):
    write(tmp_path / "train.py", "print('hi')\n")
    (tmp_path / "data").mkdir()

    assert_input_error(seedsweep("analyze", tmp_path), "contains no sweep", "hydra.sweep.dir")


def test_single_hydra_run(hydra_multirun):
    assert_input_error(seedsweep("analyze", hydra_multirun / "0"), "single Hydra run")


def test_csv_without_seed_column(tmp_path):
    path = write(tmp_path / "runs.csv", "lr,val_loss\n0.1,0.5\n")

    assert_input_error(seedsweep("analyze", path), "no 'seed' column", "--seed-key")


def test_csv_empty(tmp_path):
    assert_input_error(seedsweep("analyze", write(tmp_path / "runs.csv", "")), "is empty")


def test_csv_header_only(tmp_path):
    assert_input_error(seedsweep("analyze", write(tmp_path / "runs.csv", "seed,lr,val_loss\n")), "has no rows")


def test_csv_seed_not_integer(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss\n0,0.1,0.5\n1.5,0.2,0.4\n")

    assert_input_error(seedsweep("analyze", path), "row 2", "1.5", "whole numbers")


def test_csv_mixed_type_column(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,opt,val_loss\n0,adam,0.5\n0,3,0.4\n")

    assert_input_error(seedsweep("analyze", path), "column 'opt' mixes numbers and other values", "--metric")


def test_csv_mixed_type_parameter(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,opt,val_loss\n0,adam,0.5\n0,3,0.4\n")

    assert_input_error(seedsweep("analyze", path, "--param", "opt"), "parameter 'opt' mixes value types")


def test_csv_bad_status(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss,status\n0,0.1,0.5,done\n")

    assert_input_error(seedsweep("analyze", path), "'done'", "ok, diverged, crashed, invalid, missing")


def test_csv_ragged_row(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss\n0,0.1\n")

    assert_input_error(seedsweep("analyze", path), "line 2", "2 cells")


def test_unknown_metric_in_table(tmp_path):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), "--metric", "val_acc")

    assert_input_error(result, "metric 'val_acc' is not a column", "val_loss")


def test_unknown_metric_in_sweep_dir(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)

    assert_input_error(seedsweep("analyze", sweep_dir, "--metric", "val_acc"), "'val_acc'", "val_loss, acc")


def test_unknown_table_extension(tmp_path):
    assert_input_error(seedsweep("analyze", write(tmp_path / "runs.xlsx", GRID_CSV)), "'.xlsx'", ".csv")


def test_unreadable_parquet(tmp_path):
    path = tmp_path / "runs.parquet"
    path.write_bytes(b"PAR1 truncated")

    assert_input_error(seedsweep("analyze", path), "as Parquet")


def test_corrupt_json_lines(tmp_path):
    path = write(tmp_path / "runs.jsonl", '{"seed": 0, "lr": 0.1, "val_loss": 0.5}\n{"seed": 1, "lr"\n')

    assert_input_error(seedsweep("analyze", path), "line 2", "not valid JSON")


def test_metrics_file_absent_everywhere(hydra_multirun):
    result = seedsweep("analyze", hydra_multirun, "--metrics-file", "metrics.json")

    assert_input_error(result, "no job folder has 'metrics.json'", "--metrics-file")


def test_multirun_without_records_or_metrics_file(hydra_multirun):
    assert_input_error(seedsweep("analyze", hydra_multirun), "--metrics-file")


def test_multirun_unknown_seed_key(hydra_multirun):
    result = seedsweep("analyze", hydra_multirun, "--metrics-file", "results.json", "--seed-key", "rng")

    assert_input_error(result, "'rng'", "--seed-key")


def test_metrics_file_with_table(tmp_path):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), "--metrics-file", "results.json")

    assert_input_error(result, "--metrics-file")


def test_divergence_without_metric_in_table(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss,acc\n0,0.1,0.5,0.9\n0,0.2,0.4,0.8\n")

    assert_input_error(seedsweep("analyze", path, "--divergence", "10"), "divergence bound needs a metric")


def test_bad_baseline(tmp_path):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), "--baseline", "0.3")

    assert_input_error(result, "--baseline '0.3'", "lr: 0.1, 0.2")


def test_list_studies_needs_url(tmp_path):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), "--list-studies")

    assert_input_error(result, "--list-studies needs an Optuna storage URL")


def test_study_url_needs_out_or_study(tmp_path):
    assert_input_error(seedsweep("analyze", f"sqlite:///{tmp_path / 'optuna.db'}"), "--out or --study")


def test_report_on_folder_that_is_no_seedsweep_sweep(hydra_multirun):
    assert_input_error(seedsweep("report", hydra_multirun), "not a seedsweep sweep dir", "seedsweep analyze")


def test_report_on_missing_dir(tmp_path):
    assert_input_error(seedsweep("report", tmp_path / "nope"), "does not exist")


def test_corrupt_record_is_reported_not_fatal(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)
    (sweep_dir / "seedsweep" / "runs.jsonl").unlink()
    write(sweep_dir / "4" / RECORD_FILE, "{")

    result = seedsweep("analyze", sweep_dir, "--no-plots", "--json")

    warning = f"seedsweep: warning: {sweep_dir / '4' / RECORD_FILE}: unreadable record"
    assert warning in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- analysis errors: exit 2, one line


def test_unknown_param_in_sweep_dir(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, value_of=noisy_value)

    assert_input_error(seedsweep("analyze", sweep_dir, "--param", "wd", "--no-plots"), "'wd'")


def test_unknown_param_in_table(tmp_path):
    result = seedsweep("analyze", write(tmp_path / "runs.csv", GRID_CSV), "--param", "wd")

    assert_input_error(result, "parameter 'wd' is not a column", "--param")


def test_one_value_only(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss\n0,0.1,0.5\n1,0.1,0.4\n")

    assert_input_error(seedsweep("analyze", path, "--param", "lr", "--no-plots"), "one value only")


def test_every_run_failed(tmp_path):
    path = write(tmp_path / "runs.csv", "seed,lr,val_loss\n0,0.1,nan\n0,0.2,inf\n1,0.1,\n1,0.2,nan\n")

    assert_input_error(seedsweep("analyze", path, "--param", "lr", "--no-plots"), "every run failed")


def test_every_record_corrupt(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0, 1])
    (sweep_dir / "seedsweep" / "runs.jsonl").unlink()
    for job in range(6):
        write(sweep_dir / str(job) / RECORD_FILE, '{"job": ')

    result = seedsweep("analyze", sweep_dir, "--no-plots")

    assert_input_error(result, "every run failed")
    assert result.stderr.count("unreadable record") == 6


def test_report_of_sweep_without_analysis(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0, 1])
    (sweep_dir / "seedsweep" / "runs.jsonl").unlink()
    for job in range(6):
        write(sweep_dir / str(job) / RECORD_FILE, "[]")

    assert_input_error(seedsweep("report", sweep_dir, "--no-plots"), "cannot be analysed")


# ---------------------------------------------------------------- end to end


def noisy_value(job: dict) -> float:
    """A val_loss that falls with lr, plus noise that differs per seed and value."""
    noise = ((job["seed"] * 7919 + job["job"] * 104729) % 97) / 970.0
    return 1.0 - 100.0 * job["params"]["lr"] + noise


def noisy_grid(path: Path) -> tuple[Path, dict[int, dict[float, float]]]:
    """Write a 4-seed, 3-value CSV with one diverged run; return it and the metric by seed and value."""
    rng = np.random.default_rng(7)
    values = (0.001, 0.003, 0.01)
    metric: dict[int, dict[float, float]] = {}
    lines = ["seed,lr,val_loss"]
    for seed in range(4):
        metric[seed] = {}
        for lr in values:
            loss = 1.0 - 20.0 * lr + rng.normal(0.0, 0.02)
            metric[seed][lr] = loss
            cell = "nan" if (seed, lr) == (3, 0.003) else repr(loss)
            lines.append(f"{seed},{lr},{cell}")
    write(path, "\n".join(lines) + "\n")
    return path, metric


def test_analyze_table_matches_scipy(tmp_path):
    path, metric = noisy_grid(tmp_path / "runs.csv")

    result = seedsweep("analyze", path, "--json", "--no-plots")

    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    group = analysis["groups"][0]
    assert group["complete_seeds"] == [0, 1, 2]
    values = (0.001, 0.003, 0.01)
    m = np.array([[metric[seed][lr] for lr in values] for seed in (0, 1, 2)])
    z = (m - m.mean(axis=1, keepdims=True)) / m.std(axis=1, keepdims=True)
    expected = scipy.stats.ttest_1samp(z, 0.0)
    for index, row in enumerate(group["values"]):
        assert row["value"] == values[index]
        assert row["t"] == pytest.approx(expected.statistic[index], rel=1e-9)
        assert row["p"] == pytest.approx(expected.pvalue[index], rel=1e-9)
    failure = analysis["failures"][0]
    assert failure["seed"] == 3
    assert failure["value"] == 0.003
    assert failure["status"] == "diverged"


def test_analyze_table_default_out_dir(tmp_path):
    path, _ = noisy_grid(tmp_path / "runs.csv")

    result = seedsweep("analyze", path, "--no-plots")

    assert result.returncode == 0, result.stderr
    out_dir = tmp_path / "runs_seedsweep"
    for name in ("analysis.json", "summary.csv", "failures.csv", "runs.csv", "report.md", "report.html"):
        assert (out_dir / name).is_file(), name
    assert "lr" in result.stdout
    assert str(out_dir) in result.stdout


def test_out_dir_with_input_table(tmp_path):
    path, _ = noisy_grid(tmp_path / "runs.csv")
    before = path.read_bytes()

    assert_input_error(seedsweep("analyze", path, "--out", tmp_path), "would overwrite the input table", "--out")
    assert path.read_bytes() == before


def test_report_keeps_other_figures(tmp_path):
    path, _ = noisy_grid(tmp_path / "runs.csv")
    (tmp_path / "out" / "figures").mkdir(parents=True)
    mine = write(tmp_path / "out" / "figures" / "mine.png", "not a seedsweep figure")

    result = seedsweep("analyze", path, "--out", tmp_path / "out")

    assert result.returncode == 0, result.stderr
    assert mine.read_text() == "not a seedsweep figure"
    assert (tmp_path / "out" / "figures" / "paired_lr.png").is_file()


def test_analyze_baseline_typed(tmp_path):
    path, _ = noisy_grid(tmp_path / "runs.csv")

    result = seedsweep("analyze", path, "--baseline", "3e-3", "--json", "--no-plots")

    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    assert analysis["settings"]["baseline"] == 0.003
    assert analysis["groups"][0]["reference"] == 0.003


def test_analyze_sweep_dir_default_out_dir(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0, 1, 2, 3], value_of=noisy_value)

    result = seedsweep("analyze", sweep_dir / "seedsweep", "--no-plots", "--metric", "acc", "--direction", "maximize")

    assert result.returncode == 0, result.stderr
    analysis = json.loads((sweep_dir / "seedsweep" / "analysis.json").read_text())
    assert analysis["settings"]["metric"] == "acc"
    assert analysis["settings"]["direction"] == "maximize"


@pytest.fixture(scope="module")
def seedsweep_sweep(tmp_path_factory) -> Path:
    """A real sweep of the seedsweep sweeper: lr 0.001, 0.003 and 0.01 on seeds 0-3.

    The run lr=0.01, seed 1 returns None (invalid), lr=0.01, seed 2 diverges.
    """
    root = tmp_path_factory.mktemp("seedsweep_sweep")
    overrides = [
        "hydra/sweeper=seedsweep",
        "hydra.sweeper.seeds=4",
        "hydra.sweeper.metric=val_loss",
        "hydra.sweeper.storage=null",
        "hydra.sweeper.report.plots=false",
        "lr=0.001,0.003,0.01",
        "noise=0.05",
    ]
    return run_hydra_multirun(root, overrides)


def test_analyze_real_sweep(seedsweep_sweep):
    result = seedsweep("analyze", seedsweep_sweep, "--json", "--no-plots")

    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    assert analysis["settings"]["metric"] == "val_loss"
    assert analysis["groups"][0]["complete_seeds"] == [0, 3]
    failures = {(row["seed"], row["value"]): row["status"] for row in analysis["failures"]}
    assert failures == {(1, 0.01): "invalid", (2, 0.01): "diverged"}


def test_report_regenerates_real_sweep(seedsweep_sweep):
    report = seedsweep_sweep / "seedsweep" / "report.md"
    report.unlink()

    result = seedsweep("report", seedsweep_sweep, "--no-plots")

    assert result.returncode == 0, result.stderr
    assert report.is_file()
    assert "lr" in result.stdout


def test_analyze_plain_multirun(hydra_multirun):
    result = seedsweep("analyze", hydra_multirun, "--metrics-file", "results.json", "--metric", "val_loss", "--json", "--no-plots")

    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    failures = {(row["seed"], row["value"]): row["status"] for row in analysis["failures"]}
    assert failures == {(1, 0.01): "missing", (2, 0.01): "diverged"}
    assert (hydra_multirun / "seedsweep" / "analysis.json").is_file()


@pytest.fixture
def study_storage(tmp_path) -> Path:
    """A real SQLite Optuna storage with one study, "lr-study", of a 4-seed sweep."""
    from seedsweep import optuna_io

    sweep_dir, records = make_sweep(tmp_path, seeds=[0, 1, 2, 3], value_of=noisy_value)
    plan = json.loads((sweep_dir / "seedsweep" / "plan.json").read_text())
    storage = tmp_path / "optuna.db"
    optuna_io.record_study(records, plan, f"sqlite:///{storage}", "lr-study")
    return storage


def test_list_studies(study_storage):
    result = seedsweep("analyze", f"sqlite:///{study_storage}", "--list-studies")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "lr-study\n"


def test_analyze_study(study_storage, tmp_path):
    result = seedsweep("analyze", f"sqlite:///{study_storage}", "--study", "lr-study", "--no-plots", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "lr-study_seedsweep" / "analysis.json").is_file()


def test_analyze_study_file_out_beside(study_storage):
    result = seedsweep("analyze", study_storage, "--no-plots", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["metric"] == "val_loss"
    assert (study_storage.parent / "optuna_seedsweep" / "analysis.json").is_file()


def test_unknown_study(study_storage):
    result = seedsweep("analyze", f"sqlite:///{study_storage}", "--study", "nope", "--out", study_storage.parent / "out")

    assert_input_error(result, "nope")


def test_baseline_with_unknown_param(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, value_of=noisy_value)

    result = seedsweep("analyze", sweep_dir, "--param", "wd", "--baseline", "0.1", "--no-plots")

    assert_input_error(result, "'wd'")


def test_study_on_closed_loopback_port(tmp_path):
    result = seedsweep("analyze", "postgresql://user:secret@127.0.0.1:1/db", "--study", "s", "--out", tmp_path / "out")

    assert_input_error(result, "127.0.0.1")
    assert "secret" not in result.stderr


def test_study_without_seed_param(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    study = optuna.create_study(study_name="no-seed", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=3)

    result = seedsweep("analyze", storage, "--study", "no-seed", "--out", tmp_path / "out")

    assert_input_error(result, "--seed-key")
