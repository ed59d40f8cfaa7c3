"""Tests of the loaders: every source gives the run table of docs/run-table.md."""

from __future__ import annotations

import gc
import json
import logging
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from seedsweep.records import RECORD_FILE
from seedsweep.records import STARTED_FILE
from seedsweep.records import RunStatus
from seedsweep.records import write_json_atomic
from seedsweep.sources import SourceError
from seedsweep.sources import load_runs
from tests.sweep_builders import LR_VALUES
from tests.sweep_builders import append_ledger
from tests.sweep_builders import crashed
from tests.sweep_builders import make_sweep
from tests.sweep_builders import nan_loss
from tests.sweep_builders import ok_record
from tests.sweep_builders import plan_jobs
from tests.sweep_builders import run_hydra_multirun
from tests.sweep_builders import write_job_folder
from tests.sweep_builders import write_plan

RUN_TABLE_COLUMNS = ["job", "job_dir", "seed", "status", "reason", "error_type", "duration"]


def row_of(runs: pd.DataFrame, job: int) -> pd.Series:
    rows = runs[runs["job"] == job]
    assert len(rows) == 1, f"job {job} has {len(rows)} rows"
    return rows.iloc[0]


# ---------------------------------------------------------------- seedsweep sweep dirs


def test_sweep_dir_full_ledger(tmp_path):
    sweep_dir, records = make_sweep(tmp_path)

    runs = load_runs(sweep_dir)

    assert list(runs.columns) == ["job", "job_dir", "seed", "lr", "val_loss", "acc", "status", "reason", "error_type", "duration"]
    assert len(runs) == 9
    assert runs["job"].tolist() == list(range(9))
    assert runs["seed"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert runs["lr"].tolist() == list(LR_VALUES) * 3
    assert runs["val_loss"].tolist() == pytest.approx([record.value for record in records])
    assert set(runs["status"]) == {"ok"}
    assert runs["reason"].tolist() == [None] * 9
    assert runs["duration"].tolist() == [2.0] * 9
    assert runs["job_dir"][4] == str((sweep_dir / "4").resolve())


def test_sweep_dir_dtypes(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)

    runs = load_runs(sweep_dir)

    assert str(runs["job"].dtype) == "Int64"
    assert runs["seed"].dtype == "int64"
    assert runs["lr"].dtype == "float64"
    assert runs["val_loss"].dtype == "float64"
    assert runs["status"].dtype == object
    assert runs["reason"].dtype == object


def test_sweep_dir_attrs_from_plan(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, direction="maximize", baseline=0.0003, t_threshold=3.0, verdict_rule="strict")

    attrs = load_runs(sweep_dir).attrs["seedsweep"]

    assert attrs["params"] == ["lr"]
    assert attrs["metrics"] == ["val_loss", "acc"]
    assert attrs["metric"] == "val_loss"
    assert attrs["direction"] == "maximize"
    assert attrs["seed_key"] == "seed"
    assert attrs["baseline"] == 0.0003
    assert attrs["t_threshold"] == 3.0
    assert attrs["verdict_rule"] == "strict"
    assert attrs["groups"] == []
    assert attrs["scale"] == "auto"
    assert attrs["source"] == str(sweep_dir)
    assert attrs["unreadable"] == []


def test_sweep_dir_recorded_seed_key_wins(tmp_path, caplog):
    sweep_dir, _ = make_sweep(tmp_path)

    with caplog.at_level(logging.WARNING, logger="seedsweep"):
        runs = load_runs(sweep_dir, seed_key="rng")

    assert runs["seed"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert runs.attrs["seedsweep"]["seed_key"] == "seed"
    assert "the seed key 'rng' is ignored" in caplog.text


def test_sweep_dir_output_folder_accepted(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)

    runs = load_runs(sweep_dir / "seedsweep")

    assert len(runs) == 9
    assert runs.attrs["seedsweep"]["source"] == str(sweep_dir)


def test_sweep_dir_resumed_job_last_line_wins(tmp_path):
    sweep_dir, records = make_sweep(tmp_path)
    rerun = ok_record({"job": 4, "overrides": records[4].overrides, "params": records[4].params, "seed": 1}, 0.25)
    append_ledger(sweep_dir, [crashed(ok_record(rerun.__dict__, 0.0)), rerun])

    runs = load_runs(sweep_dir)

    assert len(runs) == 9
    assert row_of(runs, 4)["status"] == "ok"
    assert row_of(runs, 4)["val_loss"] == 0.25


def test_sweep_dir_without_ledger_reads_job_records(tmp_path):
    sweep_dir, records = make_sweep(tmp_path)
    (sweep_dir / "seedsweep" / "runs.jsonl").unlink()

    runs = load_runs(sweep_dir)

    assert len(runs) == 9
    assert runs["val_loss"].tolist() == pytest.approx([record.value for record in records])
    assert set(runs["status"]) == {"ok"}


def test_sweep_dir_without_plan_or_ledger(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)
    shutil.rmtree(sweep_dir / "seedsweep")

    runs = load_runs(sweep_dir)

    assert len(runs) == 9
    assert runs["seed"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert runs.attrs["seedsweep"]["metric"] == "val_loss"
    assert runs.attrs["seedsweep"]["params"] == ["lr"]


def test_sweep_dir_torn_ledger_line_uses_job_record(tmp_path, caplog):
    sweep_dir, records = make_sweep(tmp_path)
    ledger = sweep_dir / "seedsweep" / "runs.jsonl"
    lines = ledger.read_text().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]
    ledger.write_text("\n".join(lines) + "\n")

    with caplog.at_level(logging.WARNING):
        runs = load_runs(sweep_dir)

    assert row_of(runs, 5)["status"] == "ok"
    assert row_of(runs, 5)["val_loss"] == pytest.approx(records[5].value)
    unreadable = runs.attrs["seedsweep"]["unreadable"]
    assert len(unreadable) == 1
    assert f"{ledger}:6" in unreadable[0]
    assert f"{ledger}:6" in caplog.text


def test_sweep_dir_torn_line_corrupt_record(tmp_path, caplog):
    sweep_dir, _ = make_sweep(tmp_path)
    ledger = sweep_dir / "seedsweep" / "runs.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:7]) + "\n" + lines[7][:30])
    (sweep_dir / "7" / RECORD_FILE).write_text('{"job": 7, "status": "o')

    with caplog.at_level(logging.WARNING):
        runs = load_runs(sweep_dir)

    row = row_of(runs, 7)
    assert row["status"] == "missing"
    assert "unreadable record" in row["reason"]
    assert row["seed"] == 2
    assert row["lr"] == LR_VALUES[1]
    assert len(runs.attrs["seedsweep"]["unreadable"]) == 2
    assert str(sweep_dir / "7" / RECORD_FILE) in caplog.text


def test_sweep_dir_corrupt_record_not_in_ledger(tmp_path, caplog):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0, 1])
    write_plan(sweep_dir, jobs)
    for job in jobs:
        write_job_folder(sweep_dir, ok_record(job, 1.0 + job["job"]))
    (sweep_dir / "2" / RECORD_FILE).write_text("not json at all")

    with caplog.at_level(logging.WARNING, logger="seedsweep"):
        runs = load_runs(sweep_dir)

    row = row_of(runs, 2)
    assert row["status"] == "missing"
    assert row["reason"].startswith("unreadable record")
    assert row["lr"] == LR_VALUES[2]
    assert str(sweep_dir / "2" / RECORD_FILE) in caplog.text
    assert caplog.records[0].levelno == logging.WARNING
    assert runs.attrs["seedsweep"]["unreadable"][0].startswith(str(sweep_dir / "2" / RECORD_FILE))


def test_sweep_dir_started_without_record(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    for job in jobs:
        write_job_folder(sweep_dir, ok_record(job, 1.0), with_record=job["job"] != 1)

    runs = load_runs(sweep_dir)

    row = row_of(runs, 1)
    assert row["status"] == "missing"
    assert row["reason"] == "started at 2026-01-01T10:00:00 on node1 but wrote no record (killed or interrupted)"
    assert row["job_dir"] == str((sweep_dir / "1").resolve())


def test_sweep_dir_planned_jobs_never_ran(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0, 1])
    write_plan(sweep_dir, jobs)
    records = [ok_record(job, 1.0) for job in jobs[:4]]
    for record in records:
        write_job_folder(sweep_dir, record)
    append_ledger(sweep_dir, records)

    runs = load_runs(sweep_dir)

    assert len(runs) == 6
    for job in (4, 5):
        row = row_of(runs, job)
        assert row["status"] == "missing"
        assert row["reason"] == "never ran"
        assert row["seed"] == 1
        assert row["job_dir"] is None
    assert row_of(runs, 5)["lr"] == LR_VALUES[2]


def test_sweep_dir_folder_without_record_or_marker(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    for job in jobs:
        write_job_folder(sweep_dir, ok_record(job, 1.0), with_record=job["job"] != 2)
    (sweep_dir / "2" / STARTED_FILE).unlink()

    row = row_of(load_runs(sweep_dir), 2)

    assert row["status"] == "missing"
    assert "wrote no record" in row["reason"]


def test_sweep_dir_rerun_record_newer_than_ledger(tmp_path):
    sweep_dir, records = make_sweep(tmp_path, seeds=[0])
    ledger = sweep_dir / "seedsweep" / "runs.jsonl"
    ledger.unlink()
    append_ledger(sweep_dir, [records[0], crashed(ok_record(records[1].__dict__, 0.0)), records[2]])
    rerun = ok_record(records[1].__dict__, 0.5, started_at="2026-01-02T09:00:00")
    write_json_atomic(sweep_dir / "1" / RECORD_FILE, rerun.to_dict())

    row = row_of(load_runs(sweep_dir), 1)

    assert row["status"] == "ok"
    assert row["val_loss"] == 0.5


def test_sweep_dir_through_symlink_resolves_job_dirs(tmp_path):
    real, records = make_sweep(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    append_ledger(real, [crashed(ok_record(records[5].__dict__, 0.0))])
    rerun = ok_record(records[5].__dict__, 0.5, started_at="2026-01-02T09:00:00")
    write_json_atomic(real / "5" / RECORD_FILE, rerun.to_dict())

    runs = load_runs(link)

    expected = [str((real / str(job)).resolve()) for job in range(9)]
    assert runs["job_dir"].tolist() == expected
    assert row_of(runs, 5)["val_loss"] == 0.5


def test_sweep_dir_settled_job_in_second_folder(tmp_path):
    sweep_dir, records = make_sweep(tmp_path, seeds=[0])
    rerun = ok_record(records[1].__dict__, 0.5, started_at="2026-01-02T09:00:00", job_dir="again")
    write_job_folder(sweep_dir, rerun)

    runs = load_runs(sweep_dir)

    assert len(runs) == 3
    assert row_of(runs, 1)["val_loss"] == 0.5
    assert row_of(runs, 1)["job_dir"] == str((sweep_dir / "again").resolve())
    assert row_of(runs, 2)["job_dir"] == str((sweep_dir / "2").resolve())


def test_sweep_dir_ledger_unknown_keys_dropped(tmp_path):
    sweep_dir, records = make_sweep(tmp_path)
    ledger = sweep_dir / "seedsweep" / "runs.jsonl"
    lines = ledger.read_text().splitlines()
    row = json.loads(lines[2])
    row["gpu"] = "A100"
    lines[2] = json.dumps(row)
    ledger.write_text("\n".join(lines) + "\n")

    runs = load_runs(sweep_dir)

    assert "gpu" not in runs.columns
    assert row_of(runs, 2)["status"] == "ok"
    assert row_of(runs, 2)["val_loss"] == pytest.approx(records[2].value)
    assert runs.attrs["seedsweep"]["unreadable"] == []


def test_sweep_dir_final_ledger_line_wins(tmp_path):
    sweep_dir, records = make_sweep(tmp_path, seeds=[0])
    rerun = ok_record(records[1].__dict__, 0.5, started_at="2026-01-02T09:00:00")
    write_json_atomic(sweep_dir / "1" / RECORD_FILE, rerun.to_dict())

    row = row_of(load_runs(sweep_dir), 1)

    assert row["val_loss"] == pytest.approx(records[1].value)


def test_sweep_dir_ledger_missing_record_replaced(tmp_path):
    sweep_dir, records = make_sweep(tmp_path, seeds=[0])
    missing = ok_record(records[2].__dict__, 0.0)
    missing.status = RunStatus.MISSING
    missing.reason = "no record gathered"
    append_ledger(sweep_dir, [missing])

    row = row_of(load_runs(sweep_dir), 2)

    assert row["status"] == "ok"
    assert row["val_loss"] == pytest.approx(records[2].value)


def test_sweep_dir_failures_kept(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    records = [ok_record(jobs[0], 1.0), crashed(ok_record(jobs[1], 0.0)), nan_loss(ok_record(jobs[2], 0.0))]
    for record in records:
        write_job_folder(sweep_dir, record)
    append_ledger(sweep_dir, records)

    runs = load_runs(sweep_dir)

    assert runs["status"].tolist() == ["ok", "crashed", "diverged"]
    assert runs["error_type"].tolist() == [None, "RuntimeError", None]
    assert runs["reason"][1] == "raised RuntimeError: CUDA out of memory"
    assert math.isnan(runs["val_loss"][1])
    assert math.isnan(runs["val_loss"][2])


def test_sweep_dir_plan_params_win(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    records = []
    for job in jobs:
        record = ok_record(job, 1.0)
        record.overrides.append("data=cifar")
        record.params["data"] = "cifar"
        records.append(record)
        write_job_folder(sweep_dir, record)
    append_ledger(sweep_dir, records)

    runs = load_runs(sweep_dir)

    assert runs.attrs["seedsweep"]["params"] == ["lr"]
    assert "data" not in runs.columns


def test_sweep_dir_every_run_crashed_keeps_metric_column(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    records = [crashed(ok_record(job, 0.0)) for job in jobs]
    for record in records:
        write_job_folder(sweep_dir, record)
    append_ledger(sweep_dir, records)

    runs = load_runs(sweep_dir)

    assert runs["val_loss"].isna().all()
    assert runs.attrs["seedsweep"]["metrics"] == ["val_loss"]
    assert set(runs["status"]) == {"crashed"}


def test_sweep_dir_nested_job_folders(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0, 1])
    write_plan(sweep_dir, jobs)
    for job in jobs:
        record = ok_record(job, 1.0 + job["job"])
        record.job_dir = f"lr={job['params']['lr']}/seed={job['seed']}"
        write_job_folder(sweep_dir, record)

    runs = load_runs(sweep_dir)

    assert len(runs) == 6
    assert set(runs["status"]) == {"ok"}
    assert row_of(runs, 4)["job_dir"] == str((sweep_dir / "lr=0.0003" / "seed=1").resolve())


def test_sweep_dir_without_seeds(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=None)

    runs = load_runs(sweep_dir)

    assert len(runs) == 3
    assert str(runs["seed"].dtype) == "Int64"
    assert runs["seed"].isna().all()


def test_sweep_dir_unreadable_plan_still_loads(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)
    (sweep_dir / "seedsweep" / "plan.json").write_text("{")

    runs = load_runs(sweep_dir)

    assert len(runs) == 9
    assert "unreadable sweep plan" in runs.attrs["seedsweep"]["unreadable"][0]


def test_sweep_dir_restores_gc_state(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path)

    load_runs(sweep_dir)
    assert gc.isenabled()

    with pytest.raises(SourceError):
        load_runs(sweep_dir, metric="not_a_metric")
    assert gc.isenabled()

    gc.disable()
    try:
        load_runs(sweep_dir)
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---------------------------------------------------------------- re-classification


def reclassification_sweep(tmp_path: Path) -> Path:
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES + (0.003, 0.01), [0])
    write_plan(sweep_dir, jobs)
    records = [ok_record(job, 1.0) for job in jobs]
    records[1].metrics["acc"] = math.nan
    del records[2].metrics["acc"]
    crashed(records[3])
    nan_loss(records[4])
    for record in records:
        write_job_folder(sweep_dir, record)
    append_ledger(sweep_dir, records)
    return sweep_dir


def test_reclassify_other_metric(tmp_path):
    runs = load_runs(reclassification_sweep(tmp_path), metric="acc")

    assert runs["status"].tolist() == ["ok", "diverged", "invalid", "crashed", "ok"]
    assert runs["reason"][1] == "acc is NaN"
    assert runs["reason"][2] == "no value for metric 'acc' (metrics: val_loss)"
    assert runs["reason"][3] == "raised RuntimeError: CUDA out of memory"
    assert runs.attrs["seedsweep"]["metric"] == "acc"


def test_other_metric_default_direction(tmp_path, caplog):
    sweep_dir, _ = make_sweep(tmp_path, direction="maximize")

    with caplog.at_level(logging.WARNING, logger="seedsweep"):
        other = load_runs(sweep_dir, metric="acc")
    assert other.attrs["seedsweep"]["direction"] == "minimize"
    assert "the sweep's direction (maximize) is for val_loss" in caplog.text
    assert load_runs(sweep_dir).attrs["seedsweep"]["direction"] == "maximize"
    assert load_runs(sweep_dir, metric="acc", direction="maximize").attrs["seedsweep"]["direction"] == "maximize"


def test_reclassify_keeps_raised_divergence(tmp_path):
    sweep_dir = reclassification_sweep(tmp_path)
    record = nan_loss(ok_record(plan_jobs(LR_VALUES + (0.003, 0.01), [0])[4], 0.0))
    record.error_type = "Diverged"
    record.reason = "raised Diverged: loss exploded"
    append_ledger(sweep_dir, [record])

    row = row_of(load_runs(sweep_dir, metric="acc"), 4)

    assert row["status"] == "diverged"
    assert row["reason"] == "raised Diverged: loss exploded"


def test_reclassify_same_metric_keeps_status(tmp_path):
    runs = load_runs(reclassification_sweep(tmp_path), metric="val_loss")

    assert runs["status"].tolist() == ["ok", "ok", "ok", "crashed", "diverged"]


def test_reclassify_divergence_bound(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0])

    runs = load_runs(sweep_dir, divergence=1.15)

    assert runs["status"].tolist() == ["ok", "ok", "diverged"]
    assert runs["reason"][2] == "val_loss = 1.2 is above the divergence bound 1.15"
    assert runs.attrs["seedsweep"]["divergence"] == 1.15


def test_reclassify_divergence_bound_maximize(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0])

    runs = load_runs(sweep_dir, metric="acc", direction="maximize", divergence=-0.15)

    assert runs["status"].tolist() == ["ok", "ok", "diverged"]
    assert "below the divergence bound" in runs["reason"][2]


def test_unknown_metric_raises(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0])

    with pytest.raises(SourceError, match=r"metric 'val_acc' is in no run .* val_loss, acc"):
        load_runs(sweep_dir, metric="val_acc")


def test_bad_direction_raises(tmp_path):
    with pytest.raises(SourceError, match="'minimise'"):
        load_runs(tmp_path, direction="minimise")


def test_metrics_file_keeps_crashed_record(tmp_path):
    sweep_dir = tmp_path / "sweep"
    jobs = plan_jobs(LR_VALUES, [0])
    write_plan(sweep_dir, jobs)
    records = [ok_record(jobs[0], 1.0), crashed(ok_record(jobs[1], 0.0)), ok_record(jobs[2], 1.0)]
    for record in records:
        job_dir = write_job_folder(sweep_dir, record)
        (job_dir / "final.json").write_text('{"test_loss": 0.5}')
    append_ledger(sweep_dir, records)

    runs = load_runs(sweep_dir, metrics_file="final.json", metric="test_loss")

    assert runs["status"].tolist() == ["ok", "crashed", "ok"]
    assert runs["error_type"][1] == "RuntimeError"


def test_metrics_file_in_sweep_dir(tmp_path):
    sweep_dir, _ = make_sweep(tmp_path, seeds=[0])
    for job in range(3):
        (sweep_dir / str(job) / "final.json").write_text(json.dumps({"test_loss": 0.5 + job}))

    runs = load_runs(sweep_dir, metrics_file="final.json", metric="test_loss")

    assert runs["test_loss"].tolist() == [0.5, 1.5, 2.5]
    assert set(runs["status"]) == {"ok"}


# ---------------------------------------------------------------- plain Hydra multirun dirs


@pytest.fixture(scope="module")
def hydra_multirun(tmp_path_factory) -> Path:
    """Six jobs of the basic sweeper: lr 0.001 and 0.01 on seeds 0-2.

    Job 3 (lr=0.01, seed 1) writes no metrics file; job 5 (lr=0.01, seed 2)
    writes val_loss NaN.
    """
    root = tmp_path_factory.mktemp("hydra")
    return run_hydra_multirun(root, ["seed=0,1,2", "++lr=0.001,0.01", "model=mlp"])


@pytest.fixture
def hydra_copy(hydra_multirun, tmp_path) -> Path:
    """A copy of the Hydra multirun dir that a test may change."""
    return Path(shutil.copytree(hydra_multirun, tmp_path / "multirun"))


def test_hydra_dir_metrics_json(hydra_multirun):
    runs = load_runs(hydra_multirun, metrics_file="results.json")

    assert list(runs.columns) == ["job", "job_dir", "seed", "lr", "model", "val_loss", "acc", "status", "reason", "error_type", "duration"]
    assert runs["job"].tolist() == list(range(6))
    assert runs["seed"].tolist() == [0, 0, 1, 1, 2, 2]
    assert runs["lr"].tolist() == [0.001, 0.01] * 3
    assert runs["model"].tolist() == ["mlp"] * 6
    assert runs["status"].tolist() == ["ok", "ok", "ok", "missing", "ok", "diverged"]
    assert runs["val_loss"][0] == pytest.approx(0.1)
    assert runs["val_loss"][4] == pytest.approx(0.12)
    assert runs["reason"][3] == f"no results.json in {(hydra_multirun / '3').resolve()}"
    assert runs["reason"][5] == "val_loss is NaN"
    assert runs.attrs["seedsweep"]["params"] == ["lr", "model"]


def test_hydra_dir_named_metric(hydra_multirun):
    runs = load_runs(hydra_multirun, metrics_file="results.json", metric="val_loss")

    assert runs["status"].tolist() == ["ok", "ok", "ok", "missing", "ok", "diverged"]
    assert runs.attrs["seedsweep"]["metric"] == "val_loss"


@pytest.mark.parametrize("name", ["results.yaml", "history.csv"])
def test_hydra_dir_yaml_and_csv_metrics(hydra_multirun, name):
    runs = load_runs(hydra_multirun, metrics_file=name, metric="val_loss")

    assert runs["val_loss"][2] == pytest.approx(0.11)
    assert runs["status"].tolist() == ["ok", "ok", "ok", "missing", "ok", "diverged"]


def test_hydra_dir_seed_key_renamed(hydra_multirun):
    runs = load_runs(hydra_multirun, metrics_file="results.json", seed_key="seed")

    assert "seed" in runs.columns
    assert "seed" not in runs.attrs["seedsweep"]["params"]


def test_hydra_dir_unknown_seed_key(hydra_multirun):
    with pytest.raises(SourceError, match=r"sets 'rng' \(override keys: lr, model, seed\).*--seed-key"):
        load_runs(hydra_multirun, metrics_file="results.json", seed_key="rng")


def test_hydra_dir_metrics_file_absent_everywhere(hydra_multirun):
    with pytest.raises(SourceError, match=r"no job folder has 'metrics.json'.*--metrics-file"):
        load_runs(hydra_multirun, metrics_file="metrics.json")


def test_hydra_dir_without_records_needs_metrics_file(hydra_multirun):
    with pytest.raises(SourceError, match="--metrics-file"):
        load_runs(hydra_multirun)


def test_hydra_dir_uses_callback_records(hydra_copy):
    for job in range(6):
        record = ok_record({"job": job, "overrides": [], "params": {}, "seed": None}, 0.5 + job)
        write_json_atomic(hydra_copy / str(job) / RECORD_FILE, record.to_dict())

    runs = load_runs(hydra_copy)

    assert runs["val_loss"].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert runs["seed"].tolist() == [0, 0, 1, 1, 2, 2]
    assert runs["lr"].tolist() == [0.001, 0.01] * 3
    assert runs["duration"].tolist() == [2.0] * 6


def test_hydra_dir_corrupt_metrics_file(hydra_copy):
    (hydra_copy / "0" / "results.json").write_text("{")

    runs = load_runs(hydra_copy, metrics_file="results.json")

    assert runs["status"][0] == "missing"
    assert runs["reason"][0].startswith("unreadable results.json")
    assert len(runs.attrs["seedsweep"]["unreadable"]) == 1


def test_hydra_dir_mixed_type_parameter(hydra_copy):
    (hydra_copy / "1" / ".hydra" / "overrides.yaml").write_text("- seed=0\n- ++lr=fast\n- model=mlp\n")

    with pytest.raises(SourceError, match=r"parameter 'lr' mixes value types: 0.001 \(number\), 'fast' \(str\)"):
        load_runs(hydra_copy, metrics_file="results.json")


def test_hydra_dir_typed_override_values(tmp_path):
    sweep_dir = tmp_path / "multirun"
    overrides = ["+seed=3", "++lr=1e-4", "model=resnet", "+layers=[1,2]", "flag=true", "~dropout"]
    (sweep_dir / "0" / ".hydra").mkdir(parents=True)
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    (sweep_dir / "0" / ".hydra" / "overrides.yaml").write_text("".join(f"- '{item}'\n" for item in overrides))
    (sweep_dir / "0" / "out.json").write_text('{"loss": 1.0}')

    runs = load_runs(sweep_dir, metrics_file="out.json")

    assert runs.attrs["seedsweep"]["params"] == ["lr", "model", "layers", "flag"]
    assert runs["seed"][0] == 3
    assert runs["lr"][0] == 0.0001
    assert runs["model"][0] == "resnet"
    assert runs["layers"][0] == "[1,2]"
    assert runs["flag"].dtype == bool
    assert runs["flag"].tolist() == [True]


def test_hydra_dir_without_multirun_yaml(hydra_copy):
    (hydra_copy / "multirun.yaml").unlink()

    runs = load_runs(hydra_copy, metrics_file="results.json")

    assert len(runs) == 6


def test_hydra_single_run_rejected(hydra_multirun):
    with pytest.raises(SourceError, match="single Hydra run"):
        load_runs(hydra_multirun / "0")


# ---------------------------------------------------------------- folders that are no sweep


def test_missing_source(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        load_runs(tmp_path / "nope")


def test_empty_folder(tmp_path):
    with pytest.raises(SourceError, match="is empty"):
        load_runs(tmp_path)


def test_folder_without_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(SourceError, match="contains no sweep"):
        load_runs(tmp_path)


def test_multirun_yaml_without_jobs(tmp_path):
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")

    with pytest.raises(SourceError, match="no job folder"):
        load_runs(tmp_path)


# ---------------------------------------------------------------- tables


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GRID_CSV = """\
seed,lr,model,val_loss,acc
0,0.001,mlp,0.5,0.9
0,0.01,mlp,0.4,0.91
1,0.001,mlp,0.52,0.88
1,0.01,mlp,nan,0.2
2,0.001,mlp,,0.87
2,0.01,mlp,inf,0.3
"""


def test_csv_table(tmp_path):
    runs = load_runs(write_csv(tmp_path / "runs.csv", GRID_CSV), metric="val_loss")

    assert runs["seed"].tolist() == [0, 0, 1, 1, 2, 2]
    assert runs["lr"].tolist() == [0.001, 0.01] * 3
    assert runs["status"].tolist() == ["ok", "ok", "ok", "diverged", "missing", "diverged"]
    assert runs["reason"][3] == "val_loss is NaN"
    assert runs["reason"][4] == "no value for val_loss"
    assert runs["reason"][5] == "val_loss is +inf"
    assert runs["job"].isna().all()
    attrs = runs.attrs["seedsweep"]
    assert attrs["params"] == ["lr", "model"]
    assert attrs["metrics"] == ["val_loss", "acc"]
    assert attrs["metric"] == "val_loss"
    assert attrs["source"] == str(tmp_path / "runs.csv")


def test_csv_without_metric_checks_every_metric(tmp_path):
    runs = load_runs(write_csv(tmp_path / "runs.csv", GRID_CSV))

    assert runs["status"].tolist() == ["ok", "ok", "ok", "diverged", "missing", "diverged"]
    assert runs.attrs["seedsweep"]["metric"] is None


def test_csv_seed_key_renamed(tmp_path):
    path = write_csv(tmp_path / "runs.csv", GRID_CSV.replace("seed,", "rng,", 1))

    runs = load_runs(path, seed_key="rng", metric="acc")

    assert runs["seed"].tolist() == [0, 0, 1, 1, 2, 2]
    assert "rng" not in runs.columns
    assert set(runs["status"]) == {"ok"}


def test_csv_parameter_rule(tmp_path):
    text = "seed,lr,batch,epochs,val_loss,steps\n" + "".join(
        f"{seed},{lr},{batch},10,{0.1 * seed + lr},{100 + 7 * seed + index}\n"
        for seed in range(3)
        for index, (lr, batch) in enumerate([(0.1, 32), (0.2, 64)])
    )

    attrs = load_runs(write_csv(tmp_path / "runs.csv", text)).attrs["seedsweep"]

    assert attrs["params"] == ["lr", "batch", "epochs"]
    assert attrs["metrics"] == ["val_loss", "steps"]


def test_csv_parameter_rule_one_seed_overridden(tmp_path):
    text = "seed,lr,val_loss\n0,0.1,0.5\n0,0.2,0.4\n"
    path = write_csv(tmp_path / "runs.csv", text)

    assert load_runs(path).attrs["seedsweep"]["params"] == []
    assert load_runs(path, params=["lr"]).attrs["seedsweep"]["params"] == ["lr"]


def test_csv_metric_named_wins_over_rule(tmp_path):
    text = "seed,lr,acc\n0,0.1,0.5\n0,0.2,1.0\n1,0.1,1.0\n1,0.2,0.5\n"

    attrs = load_runs(write_csv(tmp_path / "runs.csv", text), metric="acc").attrs["seedsweep"]

    assert attrs["params"] == ["lr"]
    assert attrs["metrics"] == ["acc"]


def test_csv_status_column(tmp_path):
    text = (
        "seed,lr,val_loss,status,reason,error_type,job,duration\n"
        "0,0.1,0.5,ok,,,0,1.5\n"
        "0,0.2,,crashed,raised ValueError: boom,ValueError,1,0.2\n"
        "1,0.1,nan,ok,,,2,1.0\n"
        "1,0.2,,ok,,,3,\n"
    )

    runs = load_runs(write_csv(tmp_path / "runs.csv", text), params=["lr"])

    assert runs["status"].tolist() == ["ok", "crashed", "diverged", "invalid"]
    assert runs["reason"][1] == "raised ValueError: boom"
    assert runs["error_type"].tolist() == [None, "ValueError", None, None]
    assert runs["job"].tolist() == [0, 1, 2, 3]
    assert runs["duration"][0] == 1.5
    assert math.isnan(runs["duration"][3])


def test_csv_bad_status(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "seed,lr,val_loss,status\n0,0.1,0.5,failed\n")

    with pytest.raises(SourceError, match=r"row 1 .* status 'failed'; a status must be one of ok, diverged"):
        load_runs(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("seed,lr,val_loss\n", "has no rows"),
        ("lr,val_loss\n0.1,0.5\n", r"no 'seed' column \(columns: lr, val_loss\).*--seed-key"),
        ("seed,lr,val_loss\n0.5,0.1,0.5\n", r"seed of row 1 .* is 0.5; seeds must be whole numbers"),
        ("seed,lr,val_loss\nabc,0.1,0.5\n", r"seed of row 1 .* is 'abc'"),
        ("seed,lr,val_loss\n,0.1,0.5\n", "row 1 .* has no seed"),
        ("seed,lr,val_loss\n0,0.1,0.5\n1,fast,0.4\n", r"column 'lr' mixes numbers and other values \(0.1, 'fast'\)"),
        ("seed,lr,val_loss\n0,0.1\n", "line 2 .* has 2 cells but the header has 3"),
        ("seed,lr,lr\n0,0.1,0.2\n", r"duplicate columns \['lr'\]"),
        ("seed,job,val_loss\n0,first,0.5\n", "job 'first'"),
    ],
)
def test_csv_bad_input(tmp_path, text, message):
    path = write_csv(tmp_path / "runs.csv", text)

    with pytest.raises(SourceError, match=message):
        load_runs(path)


def test_csv_empty_metric_column_kept(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "seed,lr,val_loss\n0,a,\n1,a,\n")

    runs = load_runs(path, metric="val_loss")

    assert runs["val_loss"].isna().all()
    assert runs["status"].tolist() == ["missing", "missing"]
    assert runs.attrs["seedsweep"]["metrics"] == ["val_loss"]


def test_csv_named_parameter_mixed_types(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "seed,opt,val_loss\n0,adam,0.5\n1,3,0.4\n")

    with pytest.raises(SourceError, match=r"parameter 'opt' mixes value types: 'adam' \(str\), 3 \(number\)"):
        load_runs(path, params=["opt"])


def test_csv_named_metric_with_text_cells(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "seed,lr,val_loss\n0,a,0.5\n1,a,error\n")

    runs = load_runs(path, metric="val_loss")

    assert runs["status"].tolist() == ["ok", "invalid"]
    assert runs["reason"][1] == "val_loss is 'error', not a number"


def test_table_seed_and_seed_key_clash(tmp_path):
    path = write_csv(tmp_path / "runs.csv", "seed,rng,val_loss\n0,1,0.5\n")

    with pytest.raises(SourceError, match="both a 'rng' and a 'seed' column"):
        load_runs(path, seed_key="rng")


def test_table_unknown_metric_column(tmp_path):
    path = write_csv(tmp_path / "runs.csv", GRID_CSV)

    with pytest.raises(SourceError, match=r"metric 'val_acc' is not a column .*\(columns: seed, lr, model, val_loss, acc\)"):
        load_runs(path, metric="val_acc")


def test_table_unknown_extension(tmp_path):
    path = write_csv(tmp_path / "runs.xlsx", GRID_CSV)

    with pytest.raises(SourceError, match=r"unknown table format '.xlsx'.*\.csv, \.parquet or \.jsonl"):
        load_runs(path)


def test_table_metrics_file_rejected(tmp_path):
    with pytest.raises(SourceError, match="--metrics-file"):
        load_runs(write_csv(tmp_path / "runs.csv", GRID_CSV), metrics_file="results.json")


def test_parquet_null_and_nan(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    table = pyarrow.table(
        {
            "seed": [0, 0, 1, 1],
            "lr": [0.1, 0.2, 0.1, 0.2],
            "val_loss": pyarrow.array([0.5, None, float("nan"), 0.4], type=pyarrow.float64()),
        }
    )
    path = tmp_path / "runs.parquet"
    parquet.write_table(table, path)

    runs = load_runs(path)

    assert runs["status"].tolist() == ["ok", "missing", "diverged", "ok"]
    assert runs.attrs["seedsweep"]["params"] == ["lr"]


def test_parquet_unreadable(tmp_path):
    path = tmp_path / "runs.parquet"
    path.write_bytes(b"PAR1 this is not parquet")

    with pytest.raises(SourceError, match="cannot read .* as Parquet"):
        load_runs(path)


def test_json_lines_table(tmp_path):
    lines = [
        {"seed": 0, "lr": 0.1, "opt": "adam", "val_loss": 0.5},
        {"seed": 0, "lr": 0.2, "opt": "adam", "val_loss": None},
        {"seed": 1, "lr": 0.1, "opt": "adam", "val_loss": "nan"},
        {"seed": 1, "lr": 0.2, "opt": "adam", "val_loss": 0.4},
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"seed": 2, "lr": 0.1, "opt": "adam", "val_loss": NaN}\n')

    runs = load_runs(path)

    assert runs["status"].tolist() == ["ok", "missing", "diverged", "ok", "diverged"]
    assert runs["opt"].tolist() == ["adam"] * 5
    assert runs.attrs["seedsweep"]["params"] == ["lr", "opt"]


def test_json_lines_bad_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"seed": 0, "val_loss": 1}\n{"seed": 1,\n')

    with pytest.raises(SourceError, match="line 2 of .* is not valid JSON"):
        load_runs(path)


def test_dataframe_source():
    frame = pd.DataFrame(
        {
            "seed": [0, 0, 1, 1],
            "lr": [0.1, 0.2, 0.1, 0.2],
            "val_loss": pd.array([0.5, None, float("nan"), 0.4], dtype=object),
        }
    )

    runs = load_runs(frame, metric="val_loss")

    assert runs["status"].tolist() == ["ok", "missing", "diverged", "ok"]
    assert runs.attrs["seedsweep"]["source"] == "the DataFrame"


def test_table_divergence_bound(tmp_path):
    path = write_csv(tmp_path / "runs.csv", GRID_CSV)

    runs = load_runs(path, metric="acc", direction="maximize", divergence=0.5)

    assert runs["status"].tolist() == ["ok", "ok", "ok", "diverged", "ok", "diverged"]


# ---------------------------------------------------------------- Optuna studies


def record_sweep_study(tmp_path: Path) -> Path:
    """Record a sweep whose job 2 has acc NaN as an Optuna study in a real SQLite file."""
    from seedsweep import optuna_io

    sweep_dir, records = make_sweep(tmp_path, seeds=[0, 1])
    records[2].metrics["acc"] = math.nan
    plan = json.loads((sweep_dir / "seedsweep" / "plan.json").read_text())
    storage = tmp_path / "optuna.db"
    optuna_io.record_study(records, plan, f"sqlite:///{storage}", "lr-study")
    return storage


def test_optuna_url_loads_study(tmp_path):
    storage = record_sweep_study(tmp_path)

    runs = load_runs(f"sqlite:///{storage}")

    assert runs["seed"].tolist() == [0, 0, 0, 1, 1, 1]
    assert runs["lr"].tolist() == list(LR_VALUES) * 2
    assert set(runs["status"]) == {"ok"}
    assert runs.attrs["seedsweep"]["metric"] == "val_loss"


def test_optuna_file_reclassified_for_metric(tmp_path):
    storage = record_sweep_study(tmp_path)

    runs = load_runs(storage, study="lr-study", metric="acc")

    assert runs["status"].tolist() == ["ok", "ok", "diverged", "ok", "ok", "ok"]
    assert runs["reason"][2] == "acc is NaN"
    assert runs.attrs["seedsweep"]["metric"] == "acc"


def test_optuna_unknown_metric(tmp_path):
    storage = record_sweep_study(tmp_path)

    with pytest.raises(SourceError, match="'val_acc'"):
        load_runs(storage, metric="val_acc")



def test_study_source_detection():
    from seedsweep.sources import looks_like_study

    assert looks_like_study("sqlite:///optuna.db", None)
    assert looks_like_study("postgresql://user@localhost/studies", None)
    assert looks_like_study("runs/optuna.db", None)
    assert looks_like_study("runs/optuna.journal", None)
    assert looks_like_study("anything", "study-1")
    assert not looks_like_study("runs.csv", None)
    assert not looks_like_study("multirun/2026-01-01", None)
