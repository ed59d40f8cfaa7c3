"""Tests for seedsweep.optuna_io against real SQLite and journal storages."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from seedsweep.optuna_io import StudyError  # noqa: E402
from seedsweep.optuna_io import list_studies  # noqa: E402
from seedsweep.optuna_io import load_study_runs  # noqa: E402
from seedsweep.optuna_io import record_study  # noqa: E402
from seedsweep.records import RunRecord  # noqa: E402
from seedsweep.records import RunStatus  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = [1e-4, 1e-3, 1e-2]
MODELS = ["mlp", "cnn"]
SEEDS = [0, 1, 2]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_plan(sweep_dir: Path, seeds: list[int] = SEEDS) -> dict:
    return {
        "params": {"lr": LEARNING_RATES, "model": MODELS},
        "seeds": seeds,
        "seed_key": "seed",
        "study_params": ["lr"],
        "groups": ["model"],
        "direction": "minimize",
        "metric": "val_loss",
        "t_threshold": 2.0,
        "sweep_dir": str(sweep_dir),
    }


def make_record(job: int, seed: int, lr: float, model: str, **changes) -> RunRecord:
    value = 1.0 + seed + 100 * lr
    fields = dict(
        job=job,
        job_dir=str(job),
        overrides=[f"lr={lr}", f"model={model}", f"seed={seed}"],
        params={"lr": lr, "model": model},
        seed=seed,
        status=RunStatus.OK,
        metric="val_loss",
        value=value,
        metrics={"val_loss": value, "accuracy": 0.5 + seed / 10},
        started_at="2024-05-01T10:00:00+00:00",
        finished_at=f"2024-05-01T10:{job:02d}:30+00:00",
        duration=90.0 + job,
    )
    fields.update(changes)
    return RunRecord(**fields)


def make_sweep_records(seeds: list[int] = SEEDS, first_job: int = 0) -> list[RunRecord]:
    """Return one record per (seed, model, lr), seed-major, with one failure of each kind."""
    records = []
    job = first_job
    for seed in seeds:
        for model in MODELS:
            for lr in LEARNING_RATES:
                records.append(make_record(job, seed, lr, model))
                job += 1

    records[1] = make_record(
        1, 0, 1e-3, "mlp", status=RunStatus.DIVERGED, value=math.nan,
        metrics={"val_loss": math.nan, "accuracy": 0.1}, reason="val_loss is NaN",
    )
    records[2] = make_record(
        2, 0, 1e-2, "mlp", status=RunStatus.DIVERGED, value=math.inf,
        metrics={"val_loss": math.inf}, reason="val_loss is +inf",
    )
    records[4] = make_record(
        4, 0, 1e-3, "cnn", status=RunStatus.CRASHED, value=None, metrics={},
        reason="raised RuntimeError: CUDA out of memory", error_type="RuntimeError",
    )
    records[5] = make_record(
        5, 0, 1e-2, "cnn", status=RunStatus.INVALID, value=None, metrics={"accuracy": 0.3},
        reason="metric 'val_loss' not in the returned mapping (numeric keys: accuracy)",
    )
    records[7] = make_record(
        7, 1, 1e-3, "mlp", status=RunStatus.MISSING, value=None, metrics={},
        reason="no record: the job never finished", started_at=None, finished_at=None,
        duration=None,
    )
    return records


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sweep' / 'seedsweep' / 'optuna.db'}"


def foreign_url(tmp_path: Path) -> str:
    """Return the URL of an SQLite storage for studies the tests build with optuna itself."""
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def assert_same_value(actual: float, expected: float | None) -> None:
    if expected is None or math.isnan(expected):
        assert math.isnan(actual)
    else:
        assert actual == expected


# ---------------------------------------------------------------- writing and reading back


def test_round_trip_matches_records(tmp_path):
    url = sqlite_url(tmp_path)
    records = make_sweep_records()

    added = record_study(records, make_plan(tmp_path), url, "lr-sweep")
    runs = load_study_runs(url, "lr-sweep")

    assert added == len(records)
    assert len(runs) == len(records)
    assert list(runs["job"]) == [record.job for record in records]
    for record, (_, row) in zip(records, runs.iterrows()):
        assert row["seed"] == record.seed
        assert row["lr"] == record.params["lr"]
        assert row["model"] == record.params["model"]
        assert row["status"] == record.status.value
        assert_same_value(row["val_loss"], record.value)
        assert_same_value(row["accuracy"], record.metrics.get("accuracy"))
        assert row["job_dir"] == str(tmp_path / record.job_dir)
        if record.reason is None:
            assert pd.isna(row["reason"])
        else:
            assert row["reason"] == record.reason
        if record.duration is None:
            assert math.isnan(row["duration"])
        else:
            assert row["duration"] == record.duration
    assert runs.loc[runs["job"] == 4, "error_type"].item() == "RuntimeError"


def test_round_trip_table_attrs(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records(), make_plan(tmp_path), url, "lr-sweep")

    attrs = load_study_runs(url).attrs["seedsweep"]

    assert attrs["params"] == ["lr", "model"]
    assert attrs["metrics"] == ["val_loss", "accuracy"]
    assert attrs["metric"] == "val_loss"
    assert attrs["direction"] == "minimize"
    assert attrs["seed_key"] == "seed"
    assert attrs["groups"] == ["model"]
    assert attrs["study_params"] == ["lr"]
    assert attrs["t_threshold"] == 2.0
    assert "lr-sweep" in attrs["source"]
    assert attrs["unreadable"] == []


def test_round_trip_column_types(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records(), make_plan(tmp_path), url, "lr-sweep")

    runs = load_study_runs(url)

    assert str(runs["job"].dtype) == "int64"
    assert str(runs["seed"].dtype) == "int64"
    assert str(runs["val_loss"].dtype) == "float64"
    assert str(runs["duration"].dtype) == "float64"
    assert list(runs.columns[:5]) == ["job", "job_dir", "seed", "lr", "model"]


def test_written_study_opens_in_optuna(tmp_path):
    url = sqlite_url(tmp_path)
    records = make_sweep_records()
    record_study(records, make_plan(tmp_path), url, "lr-sweep")

    study = optuna.load_study(study_name="lr-sweep", storage=url)
    trials = study.trials

    assert len(trials) == len(records)
    for record, trial in zip(records, trials):
        expected_state = "COMPLETE" if record.status is RunStatus.OK else "FAIL"
        assert trial.state.name == expected_state
        assert trial.params == {"lr": record.params["lr"], "model": record.params["model"], "seed": record.seed}
        assert trial.user_attrs["status"] == record.status.value
        if record.status is RunStatus.OK:
            assert trial.value == record.value
        else:
            assert trial.value is None
    assert trials[1].user_attrs["metric:val_loss"] == "nan"
    assert trials[2].user_attrs["value"] == "inf"
    assert study.user_attrs["seed_key"] == "seed"
    assert study.direction.name == "MINIMIZE"
    assert study.best_trial.params == {"lr": 1e-4, "model": "mlp", "seed": 0}


def test_written_study_trial_times(tmp_path):
    url = sqlite_url(tmp_path)
    record = make_record(3, 0, 1e-4, "cnn")
    record_study([record], make_plan(tmp_path), url, "lr-sweep")

    trial = optuna.load_study(study_name="lr-sweep", storage=url).trials[0]

    # started 10:00:00, finished 10:03:30 (both UTC in the record)
    assert trial.duration.total_seconds() == 210.0


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_written_study_in_optuna_tools(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as optuna_plots

    url = sqlite_url(tmp_path)
    record_study(make_sweep_records(), make_plan(tmp_path), url, "lr-sweep")
    study = optuna.load_study(study_name="lr-sweep", storage=url)

    table = study.trials_dataframe()
    history = optuna_plots.plot_optimization_history(study)
    slices = optuna_plots.plot_slice(study)

    assert {"params_lr", "params_model", "params_seed", "user_attrs_status"} <= set(table.columns)
    assert list(table["user_attrs_status"]).count("ok") == 13
    assert history is not None
    assert slices is not None


def test_numeric_params_get_numeric_distributions(tmp_path):
    if not hasattr(optuna.distributions, "FloatDistribution"):
        pytest.skip("optuna < 3.0 stores every parameter as categorical")
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records(), make_plan(tmp_path), url, "lr-sweep")

    distributions = optuna.load_study(study_name="lr-sweep", storage=url).trials[0].distributions

    assert distributions["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert distributions["seed"] == optuna.distributions.IntDistribution(0, 2)
    assert distributions["model"] == optuna.distributions.CategoricalDistribution(MODELS)


def test_list_studies_names_each_study(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records()[:2], make_plan(tmp_path), url, "first")
    record_study(make_sweep_records()[:2], make_plan(tmp_path), url, "second")

    assert list_studies(url) == ["first", "second"]


def test_journal_storage_round_trip(tmp_path):
    try:
        from optuna.storages import JournalStorage  # noqa: F401
    except ImportError:
        pytest.skip("optuna < 3.1 has no journal storage")
    records = make_sweep_records()

    for storage in (f"journal://{tmp_path / 'a' / 'optuna.log'}", str(tmp_path / "b.journal")):
        added = record_study(records, make_plan(tmp_path), storage, "lr-sweep")
        runs = load_study_runs(storage)

        assert added == len(records)
        assert list(runs["status"]) == [record.status.value for record in records]
        assert list(runs["seed"]) == [record.seed for record in records]


def test_plain_sqlite_path_accepted(tmp_path):
    path = tmp_path / "optuna.db"
    record_study(make_sweep_records()[:3], make_plan(tmp_path), str(path), "lr-sweep")

    assert path.is_file()
    assert len(load_study_runs(f"sqlite:///{path}")) == 3


# ---------------------------------------------------------------- resume


def test_rerecording_adds_no_duplicates(tmp_path):
    url = sqlite_url(tmp_path)
    records = make_sweep_records()
    plan = make_plan(tmp_path)

    first = record_study(records[:10], plan, url, "lr-sweep")
    second = record_study(records, plan, url, "lr-sweep")
    third = record_study(records, plan, url, "lr-sweep")

    assert first == 10
    assert second == len(records) - 10
    assert third == 0
    assert len(optuna.load_study(study_name="lr-sweep", storage=url).trials) == len(records)


def test_retried_job_newest_trial_wins(tmp_path):
    url = sqlite_url(tmp_path)
    plan = make_plan(tmp_path)
    records = make_sweep_records()
    record_study(records, plan, url, "lr-sweep")
    retried = make_record(4, 0, 1e-3, "cnn", finished_at="2024-05-02T09:00:00+00:00")

    added = record_study([retried], plan, url, "lr-sweep")
    trials = optuna.load_study(study_name="lr-sweep", storage=url).trials
    runs = load_study_runs(url)

    assert added == 1
    assert len(trials) == len(records) + 1
    assert trials[4].state.name == "FAIL"
    assert trials[-1].user_attrs["supersedes"] == 4
    assert len(runs) == len(records)
    assert runs.loc[runs["job"] == 4, "status"].item() == "ok"
    assert runs.loc[runs["job"] == 4, "val_loss"].item() == retried.value


def test_resume_with_more_seeds(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records(seeds=[0, 1]), make_plan(tmp_path, seeds=[0, 1]), url, "s")
    more = make_sweep_records(seeds=[0, 1, 2, 3])

    if not hasattr(optuna.distributions, "IntDistribution"):
        with pytest.raises(StudyError, match="another study_name"):
            record_study(more, make_plan(tmp_path, seeds=[0, 1, 2, 3]), url, "s")
        return
    added = record_study(more, make_plan(tmp_path, seeds=[0, 1, 2, 3]), url, "s")

    assert added == 12
    assert sorted(set(load_study_runs(url)["seed"])) == [0, 1, 2, 3]


def test_second_process_appends_same_file(tmp_path):
    url = sqlite_url(tmp_path)
    records = make_sweep_records()
    plan = make_plan(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO_ROOT / 'tests')!r})
        from test_optuna_io import make_plan, make_sweep_records
        from pathlib import Path
        from seedsweep.optuna_io import record_study
        added = record_study(make_sweep_records()[:6], make_plan(Path({str(tmp_path)!r})), {url!r}, "lr-sweep")
        print(added)
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    child = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    added = record_study(records, plan, url, "lr-sweep")

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "6"
    assert added == len(records) - 6
    assert list(load_study_runs(url)["job"]) == [record.job for record in records]


# ---------------------------------------------------------------- studies seedsweep did not write


def build_hydra_optuna_study(url: str) -> None:
    """Build a study as hydra-optuna-sweeper leaves it: the seed a param, fixed overrides as text user attrs."""
    search_space = {"lr": [0.01, 0.1], "seed": [0, 1, 2]}
    study = optuna.create_study(
        study_name="hydra", storage=url, sampler=optuna.samplers.GridSampler(search_space)
    )

    def objective(trial):
        lr = trial.suggest_categorical("lr", search_space["lr"])
        seed = trial.suggest_categorical("seed", search_space["seed"])
        trial.set_user_attr("width", "16")
        if (lr, seed) == (0.1, 1):
            return math.nan
        if (lr, seed) == (0.1, 2):
            raise RuntimeError("CUDA out of memory")
        return lr + seed / 10

    study.optimize(objective, n_trials=6, catch=(RuntimeError,))

    # A finished GridSampler stops the study on the next tell, so the trials
    # made by ask and tell get a plain sampler.
    study = optuna.load_study(
        study_name="hydra", storage=url, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    distributions = {
        "lr": optuna.distributions.CategoricalDistribution(search_space["lr"]),
        "seed": optuna.distributions.CategoricalDistribution(search_space["seed"]),
    }
    pruned = study.ask(distributions)
    pruned.report(0.9, step=3)
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)

    infinite = study.ask(distributions)
    study.tell(infinite, math.inf)

    study.ask(distributions)  # left RUNNING, as a killed sweep leaves it

    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL,
            params={"lr": 0.01, "seed": 2},
            distributions=distributions,
            system_attrs={"fail_reason": "The value nan is not acceptable."},
        )
    )


def test_hydra_optuna_study_statuses(tmp_path):
    url = foreign_url(tmp_path)
    build_hydra_optuna_study(url)
    trials = optuna.load_study(study_name="hydra", storage=url).trials
    nan_trial = next(t for t in trials if t.params == {"lr": 0.1, "seed": 1})
    raised_trial = next(t for t in trials if t.params == {"lr": 0.1, "seed": 2})

    runs = load_study_runs(url).set_index("job")

    assert len(runs) == len(trials) == 10
    assert list(runs.index) == [trial.number for trial in trials]
    for trial in trials[:6]:
        if trial.number in (nan_trial.number, raised_trial.number):
            continue
        assert runs.loc[trial.number, "status"] == "ok"
        assert runs.loc[trial.number, "value"] == trial.params["lr"] + trial.params["seed"] / 10
    # optuna 2.10.1 to 5.1.0 keep no reason for a FAIL trial, so NaN and a raise look alike.
    assert runs.loc[nan_trial.number, "status"] == "crashed"
    assert runs.loc[nan_trial.number, "reason"].startswith("trial failed (state FAIL)")
    assert runs.loc[raised_trial.number, "status"] == "crashed"
    assert runs.loc[6, "status"] == "missing"
    assert runs.loc[6, "reason"] == "trial pruned at step 3"
    assert math.isnan(runs.loc[6, "value"])
    assert runs.loc[7, "status"] == "diverged"
    assert runs.loc[7, "reason"] == "value is +inf"
    assert runs.loc[8, "status"] == "missing"
    assert "state RUNNING" in runs.loc[8, "reason"]
    assert runs.loc[9, "status"] == "diverged"
    assert runs.loc[9, "reason"] == "trial failed (state FAIL): The value nan is not acceptable."


def test_hydra_optuna_study_columns(tmp_path):
    url = foreign_url(tmp_path)
    build_hydra_optuna_study(url)
    trials = optuna.load_study(study_name="hydra", storage=url).trials

    runs = load_study_runs(url)
    attrs = runs.attrs["seedsweep"]

    assert list(runs["seed"]) == [trial.params["seed"] for trial in trials]
    assert "width" not in runs.columns
    assert attrs["params"] == ["lr"]
    assert attrs["metrics"] == ["value"]
    assert attrs["metric"] == "value"
    assert attrs["direction"] == "minimize"
    assert attrs["seed_key"] == "seed"


def test_seed_from_user_attr_text(tmp_path):
    url = foreign_url(tmp_path)
    study = optuna.create_study(study_name="fixed-seed", storage=url, direction="maximize")
    for lr in (0.1, 0.2):
        trial = optuna.trial.create_trial(
            params={"lr": lr},
            distributions={"lr": optuna.distributions.CategoricalDistribution([0.1, 0.2])},
            user_attrs={"training.seed": "7"},
            value=lr * 2,
        )
        study.add_trial(trial)

    runs = load_study_runs(url, seed_key="training.seed")

    assert list(runs["seed"]) == [7, 7]
    assert list(runs["lr"]) == [0.1, 0.2]
    assert list(runs["value"]) == [0.2, 0.4]
    assert runs.attrs["seedsweep"]["direction"] == "maximize"


def test_trial_without_seed_kept(tmp_path):
    url = foreign_url(tmp_path)
    study = optuna.create_study(study_name="early-failure", storage=url)
    seeded = study.ask({"seed": optuna.distributions.CategoricalDistribution([3])})
    study.tell(seeded, 0.5)
    unseeded = study.ask()
    study.tell(unseeded, state=optuna.trial.TrialState.FAIL)

    runs = load_study_runs(url)

    assert len(runs) == 2
    assert runs.loc[0, "seed"] == 3
    assert runs["seed"].isna().tolist() == [False, True]
    assert runs.loc[1, "status"] == "crashed"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_multi_objective_value_columns(tmp_path):
    url = foreign_url(tmp_path)
    study = optuna.create_study(study_name="two", storage=url, directions=["minimize", "maximize"])
    trial = study.ask({"seed": optuna.distributions.CategoricalDistribution([0, 1])})
    study.tell(trial, [0.5, 0.9])
    named = hasattr(study, "set_metric_names")
    if named:
        study.set_metric_names(["loss", "accuracy"])

    runs = load_study_runs(url)
    columns = ["loss", "accuracy"] if named else ["values_0", "values_1"]

    assert runs.attrs["seedsweep"]["metrics"] == columns
    assert runs.attrs["seedsweep"]["metric"] is None
    assert runs.attrs["seedsweep"]["directions"] == dict(zip(columns, ["minimize", "maximize"]))
    assert list(runs.loc[0, columns]) == [0.5, 0.9]


# ---------------------------------------------------------------- errors


def test_unknown_study_lists_studies(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records()[:1], make_plan(tmp_path), url, "lr-sweep")

    with pytest.raises(StudyError, match=r"study 'typo' not found .*its studies: lr-sweep"):
        load_study_runs(url, "typo")


def test_several_studies_need_a_name(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records()[:1], make_plan(tmp_path), url, "first")
    record_study(make_sweep_records()[:1], make_plan(tmp_path), url, "second")

    with pytest.raises(StudyError, match=r"2 studies \(first, second\)"):
        load_study_runs(url)


def test_missing_seed_names_params(tmp_path):
    url = foreign_url(tmp_path)
    study = optuna.create_study(study_name="no-seed", storage=url)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)

    with pytest.raises(StudyError, match=r"seed 'seed'.*params: x.*--seed-key"):
        load_study_runs(url)


def test_non_integer_seed_raises(tmp_path):
    url = foreign_url(tmp_path)
    study = optuna.create_study(study_name="text-seed", storage=url)
    trial = study.ask({"x": optuna.distributions.CategoricalDistribution([1, 2])})
    trial.set_user_attr("seed", "abc")
    study.tell(trial, 1.0)

    with pytest.raises(StudyError, match=r"seed=.abc., expected an integer"):
        load_study_runs(url)


def test_loopback_postgres_fails_fast(tmp_path):
    url = "postgresql://user:secret@127.0.0.1:1/db"
    started = time.monotonic()

    with pytest.raises(StudyError) as caught:
        list_studies(url)

    message = str(caught.value)
    assert time.monotonic() - started < 15
    assert "secret" not in message
    assert "user:***@127.0.0.1:1" in message
    assert "is not installed" in message or "Connection refused" in message
    assert caught.value.__cause__ is not None


def test_unwritable_folder_raises(tmp_path):
    regular_file = tmp_path / "afile.txt"
    regular_file.write_text("not a folder\n")
    url = f"sqlite:///{regular_file}/optuna.db"

    with pytest.raises(StudyError, match="cannot create the folder") as caught:
        record_study(make_sweep_records()[:1], make_plan(tmp_path), url, "lr-sweep")

    assert isinstance(caught.value.__cause__, OSError)


def test_read_only_filesystem_raises(tmp_path):
    with pytest.raises(StudyError, match="cannot open sqlite:////proc/optuna.db") as caught:
        record_study(make_sweep_records()[:1], make_plan(tmp_path), "sqlite:////proc/optuna.db", "s")

    assert caught.value.__cause__ is not None


def test_reading_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "nothing.db"

    with pytest.raises(StudyError, match="file does not exist"):
        load_study_runs(f"sqlite:///{path}")

    assert not path.exists()


def test_non_optuna_sqlite_file_raises(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (x INTEGER)")

    with pytest.raises(StudyError, match="not an Optuna storage"):
        list_studies(f"sqlite:///{path}")


def test_unknown_storage_string_raises(tmp_path):
    with pytest.raises(StudyError, match=r"unknown Optuna storage 'results\.csv'"):
        list_studies("results.csv")


def test_direction_change_raises(tmp_path):
    url = sqlite_url(tmp_path)
    record_study(make_sweep_records()[:1], make_plan(tmp_path), url, "lr-sweep")
    maximize = {**make_plan(tmp_path), "direction": "maximize"}

    with pytest.raises(StudyError, match="direction minimize, but the sweep's direction is maximize"):
        record_study(make_sweep_records()[1:2], maximize, url, "lr-sweep")
