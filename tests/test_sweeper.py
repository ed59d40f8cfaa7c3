"""The sweeper end to end: real Hydra apps in subprocesses, real launchers, real files."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from datetime import timezone
from pathlib import Path

import pytest

from conftest import FAULT_APP
from conftest import REPO_ROOT
from conftest import run_hydra

from seedsweep import gather

SEEDSWEEP = ["-m", "hydra/sweeper=seedsweep", "hydra.sweeper.metric=loss"]


def sweep(tmp_path: Path, *args: str, name: str = "sweep", timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], Path]:
    sweep_dir = tmp_path / name
    result = run_hydra(FAULT_APP, *SEEDSWEEP, f"hydra.sweep.dir={sweep_dir}", *args, cwd=tmp_path, timeout=timeout)
    return result, sweep_dir


def ledger(sweep_dir: Path) -> list[dict]:
    lines = (sweep_dir / "seedsweep" / "runs.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def by_job(rows: list[dict]) -> dict[int, dict]:
    return {row["job"]: row for row in rows}


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


# ---------------------------------------------------------------- a failing sweep


def test_crash_and_nan_are_findings(tmp_path):
    faults = "hydra.sweeper.seeds=4", "x=1,2,3", "faults=[3:1:raise_value_error,2:2:nan]"
    result, sweep_dir = sweep(tmp_path, *faults)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 of 12 runs crashed or went missing" in result.stderr

    rows = ledger(sweep_dir)
    assert len(rows) == 12
    statuses = {(row["params"]["x"], row["seed"]): row["status"] for row in rows}
    assert statuses.pop((3, 1)) == "crashed"
    assert statuses.pop((2, 2)) == "diverged"
    assert set(statuses.values()) == {"ok"}

    crashed = next(row for row in rows if row["status"] == "crashed")
    assert crashed["reason"] == "raised ValueError: injected fault at x=3, seed=1"
    assert crashed["error_type"] == "ValueError"
    traceback_text = (sweep_dir / crashed["job_dir"] / crashed["traceback_file"]).read_text("utf-8")
    assert "ValueError: injected fault" in traceback_text

    diverged = next(row for row in rows if row["status"] == "diverged")
    assert diverged["reason"] == "loss is NaN"
    assert diverged["value"] == "nan"

    out = sweep_dir / "seedsweep"
    failures = csv_rows(out / "failures.csv")
    assert sorted((row["status"], row["seed"]) for row in failures) == [("crashed", "1"), ("diverged", "2")]
    summary = csv_rows(out / "summary.csv")
    assert {row["n"] for row in summary} == {"2"}


def test_only_diverged_exits_zero(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=3", "x=1,2", "faults=[2:0:inf]")

    assert result.returncode == 0, result.stderr
    statuses = [row["status"] for row in ledger(sweep_dir)]
    assert statuses.count("diverged") == 1
    assert statuses.count("ok") == 5


FAULT_CASES = {
    # x value: (behaviour, status, reason fragment)
    1: ("ok", "ok", None),
    2: ("nan", "diverged", "loss is NaN"),
    3: ("inf", "diverged", "loss is +inf"),
    4: ("-inf", "diverged", "loss is -inf"),
    5: ("raise_value_error", "crashed", "raised ValueError: injected fault"),
    6: ("raise_memory_error", "crashed", "raised MemoryError: injected fault"),
    7: ("raise_floating_point_error", "crashed", "raised FloatingPointError: injected fault"),
    8: ("raise_diverged", "diverged", "raised Diverged: injected fault"),
    9: ("return_none", "invalid", "returned None, expected a mapping with key 'loss'"),
    10: ("return_string", "invalid", "str '1.5'"),
    11: ("return_bool", "invalid", "bool True"),
    12: ("return_other_key", "invalid", "numeric keys: other"),
    13: ("return_array", "invalid", "of shape (3,)"),
    14: ("return_numpy_scalar", "ok", None),
}


def test_every_way_a_run_ends(tmp_path):
    values = ",".join(str(x) for x in FAULT_CASES)
    faults = ",".join(f"{x}:0:{behaviour}" for x, (behaviour, _, _) in FAULT_CASES.items())
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", f"x={values}", f"faults=[{faults}]")

    assert result.returncode == 1, result.stderr
    rows = [row for row in ledger(sweep_dir) if row["seed"] == 0]
    out = sweep_dir / "seedsweep"
    failures = {int(float(row["value"])): row for row in csv_rows(out / "failures.csv") if row["seed"] == "0"}
    runs_csv = {int(float(row["x"])): row for row in csv_rows(out / "runs.csv") if row["seed"] == "0"}
    report = (out / "report.md").read_text("utf-8")

    for row in rows:
        x = row["params"]["x"]
        behaviour, status, reason = FAULT_CASES[x]
        assert row["status"] == status, (behaviour, row)
        assert runs_csv[x]["status"] == status, behaviour
        if reason is None:
            assert row["reason"] is None, behaviour
            continue
        assert reason in row["reason"], (behaviour, row["reason"])
        assert failures[x]["status"] == status, behaviour
        assert reason in failures[x]["reason"], behaviour
        assert row["reason"] in report, behaviour


def test_keyboard_interrupt_stops_and_keeps_records(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2", "faults=[2:0:keyboard_interrupt]")

    assert result.returncode == 130, result.stderr
    assert "hydra.sweeper.resume=true" in result.stderr
    rows = by_job(ledger(sweep_dir))
    assert sorted(rows) == [0, 1, 2, 3]
    assert rows[0]["status"] == "ok"
    assert rows[1]["status"] == "missing"
    assert "killed or interrupted" in rows[1]["reason"]
    assert rows[2]["status"] == rows[3]["status"] == "missing"
    assert "interrupted" in rows[2]["reason"]


def test_killed_job_under_joblib(tmp_path):
    result, sweep_dir = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.seeds=2",
        "x=1,2,3",
        "faults=[2:1:sigkill]",
    )

    assert result.returncode == 1, result.stderr
    rows = by_job(ledger(sweep_dir))
    assert sorted(rows) == list(range(6))
    killed = [row for row in rows.values() if row["params"]["x"] == 2 and row["seed"] == 1]
    assert killed[0]["status"] == "missing"
    assert "killed or interrupted" in killed[0]["reason"]
    others = [row for row in rows.values() if row is not killed[0]]
    # Jobs the dying worker took down with it are missing too; none may vanish.
    assert all(row["status"] in ("ok", "missing") for row in others)
    assert sum(row["status"] == "ok" for row in others) >= 3


# ---------------------------------------------------------------- launchers


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_parallel_launchers_record_every_job(tmp_path, launcher):
    result, sweep_dir = sweep(tmp_path, *launcher, "hydra.sweeper.seeds=3", "x=1,2", "faults=[2:1:raise_value_error]")

    assert result.returncode == 1, result.stderr
    rows = ledger(sweep_dir)
    assert sorted(row["job"] for row in rows) == list(range(6))
    assert sum(row["status"] == "crashed" for row in rows) == 1
    for row in rows:
        assert (sweep_dir / row["job_dir"] / "seedsweep.json").exists()


def test_joblib_many_jobs(tmp_path):
    values = ",".join(str(x) for x in range(40))
    faults = ",".join(f"{x}:{x % 5}:nan" for x in range(0, 40, 4)) + "," + ",".join(
        f"{x}:{(x + 1) % 5}:raise_value_error" for x in range(2, 40, 4)
    )
    result, sweep_dir = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.seeds=5",
        "hydra.sweeper.report.plots=false",
        f"x={values}",
        f"faults=[{faults}]",
        timeout=600,
    )

    assert result.returncode == 1, result.stderr
    rows = ledger(sweep_dir)
    assert len(rows) == 200
    assert len({row["job"] for row in rows}) == 200
    statuses = [row["status"] for row in rows]
    assert statuses.count("diverged") == 10
    assert statuses.count("crashed") == 10
    assert statuses.count("ok") == 180


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "override, message",
    [
        ("hydra.sweeper.seeds=0", "`hydra.sweeper.seeds` must be a positive count or a list of distinct ints, got 0"),
        ("hydra.sweeper.seeds=-1", "got -1"),
        ("hydra.sweeper.seeds=[1,1]", "seed 1 appears more than once"),
        ("hydra.sweeper.seeds=x", "got 'x'"),
        ("hydra.sweeper.direction=up", "`hydra.sweeper.direction` must be minimize or maximize, got 'up'"),
        ("x=1", "no study parameter is swept"),
        ("x=interval(0,1)", "sweep of type interval"),
        ("hydra.sweeper.baseline=5", "`hydra.sweeper.baseline` is 5, which is not a swept value (x: 1, 2)"),
    ],
)
def test_bad_settings_stop_before_any_job(tmp_path, override, message):
    args = ["x=1,2"] if not override.startswith("x=") else []
    result, sweep_dir = sweep(tmp_path, *args, override)

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sweep_dir / "0").exists()


def test_uncomposable_job_stops_sweep(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2", "+noise=0.5,0.6")

    assert result.returncode == 2, result.stderr
    assert "job 0 (x=1 +noise=0.5 seed=0) cannot be composed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sweep_dir / "0").exists()


def test_callback_uses_sweeper_settings(tmp_path):
    settings = ("hydra.sweeper.direction=maximize", "hydra.sweeper.divergence=1", "hydra.sweeper.seed_key=rng")
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "noise=0", "x=0,1.5,3", *settings)

    assert result.returncode == 0, result.stderr
    records = [json.loads((sweep_dir / str(job) / "seedsweep.json").read_text("utf-8")) for job in range(6)]
    assert [record["status"] for record in records] == ["ok", "diverged", "ok"] * 2
    assert "below the divergence bound" in records[1]["reason"]
    assert [record["seed"] for record in records] == [0, 0, 0, 1, 1, 1]
    assert {record["metric"] for record in records} == {"loss"}


def test_seed_key_added_when_absent(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "hydra.sweeper.seed_key=rng", "x=1,2")

    assert result.returncode == 0, result.stderr
    rows = ledger(sweep_dir)
    assert sorted(row["seed"] for row in rows) == [0, 0, 1, 1]
    assert rows[0]["overrides"][-1] == "++rng=0"


def test_seed_swept_on_command_line(tmp_path):
    result, sweep_dir = sweep(tmp_path, "seed=7,3", "x=1,2")

    assert result.returncode == 0, result.stderr
    assert [row["seed"] for row in ledger(sweep_dir)] == [7, 7, 3, 3]


# ---------------------------------------------------------------- resume


def test_closed_output_pipe_is_not_a_failure(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, str(FAULT_APP), *SEEDSWEEP, f"hydra.sweep.dir={sweep_dir}", *SMALL_SWEEP]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    piped = f"{shlex.join(command)} | head -c 1 > /dev/null; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", piped], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stderr
    assert not (sweep_dir / "seedsweep" / "report-error.txt").exists()
    assert (sweep_dir / "seedsweep" / "report.md").is_file()


def test_resume_of_new_dir_warns(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2", "hydra.sweeper.resume=true")

    assert result.returncode == 0, result.stderr
    assert f"Nothing to resume in {sweep_dir}: starting a new sweep there" in result.stdout
    assert len(ledger(sweep_dir)) == 4


def test_sweep_dir_in_use_needs_resume(tmp_path):
    first, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2")
    assert first.returncode == 0, first.stderr

    again, _ = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2")
    assert again.returncode == 2
    assert "hydra.sweeper.resume=true" in again.stderr
    assert len(ledger(sweep_dir)) == 4


def test_resume_rejects_another_definition(tmp_path):
    first, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2")
    assert first.returncode == 0, first.stderr

    changed, _ = sweep(tmp_path, "hydra.sweeper.seeds=3", "x=1,2", "hydra.sweeper.resume=true")
    assert changed.returncode == 2
    assert "cannot resume" in changed.stderr
    assert "seeds: recorded [0, 1], now [0, 1, 2]" in changed.stderr


def test_resume_runs_crashed_again(tmp_path):
    args = ("hydra.sweeper.seeds=2", "x=1,2", "faults=[2:1:raise_value_error]")
    first, sweep_dir = sweep(tmp_path, *args)
    assert first.returncode == 1
    ok_marker = sweep_dir / "0" / "seedsweep.started.json"
    ok_mtime = ok_marker.stat().st_mtime_ns

    kept, _ = sweep(tmp_path, *args, "hydra.sweeper.resume=true", "hydra.sweeper.retry_crashed=false")
    assert kept.returncode == 1
    assert len(ledger(sweep_dir)) == 4

    retried, _ = sweep(tmp_path, *args, "hydra.sweeper.resume=true")
    assert retried.returncode == 1
    rows = ledger(sweep_dir)
    assert len(rows) == 5
    assert [row["job"] for row in rows[-1:]] == [3]
    assert ok_marker.stat().st_mtime_ns == ok_mtime
    assert (sweep_dir / "3" / "seedsweep.attempts" / "1" / "seedsweep.json").exists()


SMALL_SWEEP = ("hydra.sweeper.seeds=2", "x=1,2", "hydra.sweeper.report.plots=false")


def sweep_with_short_ledger(tmp_path: Path, kept_lines: int) -> Path:
    """Run SMALL_SWEEP, then cut its ledger as a sweeper killed before its last appends leaves it."""
    first, sweep_dir = sweep(tmp_path, *SMALL_SWEEP)
    assert first.returncode == 0, first.stderr
    ledger_path = sweep_dir / "seedsweep" / "runs.jsonl"
    lines = ledger_path.read_text("utf-8").splitlines(keepends=True)
    ledger_path.write_text("".join(lines[:kept_lines]), "utf-8")
    return sweep_dir


def test_resume_gathers_unledgered_jobs(tmp_path):
    args = SMALL_SWEEP
    sweep_dir = sweep_with_short_ledger(tmp_path, 2)
    finished_record = (sweep_dir / "2" / "seedsweep.json").read_bytes()
    (sweep_dir / "3" / "seedsweep.json").unlink()

    resumed, _ = sweep(tmp_path, *args, "hydra.sweeper.resume=true")
    assert resumed.returncode == 0, resumed.stderr

    rows = ledger(sweep_dir)
    assert [(row["job"], row["status"]) for row in rows] == [(0, "ok"), (1, "ok"), (2, "ok"), (3, "missing"), (3, "ok")]
    assert "killed or interrupted" in rows[3]["reason"]
    assert (sweep_dir / "2" / "seedsweep.json").read_bytes() == finished_record
    assert not (sweep_dir / "2" / "seedsweep.attempts").exists()
    assert (sweep_dir / "3" / "seedsweep.attempts" / "1" / "seedsweep.started.json").exists()


def test_resume_waits_for_running_job(tmp_path):
    args = SMALL_SWEEP
    sweep_dir = sweep_with_short_ledger(tmp_path, 3)
    (sweep_dir / "3" / "seedsweep.json").unlink()
    # A worker left behind by a killed sweeper, still running job 3.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        marker_path = sweep_dir / "3" / "seedsweep.started.json"
        marker = json.loads(marker_path.read_text("utf-8"))
        marker.update(pid=worker.pid, started_at=datetime.now(timezone.utc).isoformat())
        marker_path.write_text(json.dumps(marker), "utf-8")

        waiting, _ = sweep(tmp_path, *args, "hydra.sweeper.resume=true")
        assert waiting.returncode == 2, waiting.stderr
        assert f"job 3 (3) still runs in process {worker.pid} on this host" in waiting.stderr
        assert len(ledger(sweep_dir)) == 3
    finally:
        worker.kill()
        worker.wait()

    resumed, _ = sweep(tmp_path, *args, "hydra.sweeper.resume=true")
    assert resumed.returncode == 0, resumed.stderr
    assert by_job(ledger(sweep_dir))[3]["status"] == "ok"


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="process start times come from /proc")
def test_reused_pid_is_not_the_job(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        marker = {"job": 3, "host": socket.gethostname(), "pid": worker.pid}
        for started_at, running in [("2020-01-01T00:00:00+00:00", False), (datetime.now(timezone.utc).isoformat(), True)]:
            (tmp_path / "seedsweep.started.json").write_text(json.dumps({**marker, "started_at": started_at}), "utf-8")
            assert (gather.still_running_here(tmp_path) is not None) == running
    finally:
        worker.kill()
        worker.wait()
    assert gather.still_running_here(tmp_path) is None


def test_kill_sweeper_then_resume(tmp_path):
    """kill -9 of the sweeper mid-sweep, then resume: one final record per job."""
    args = ["hydra.sweeper.seeds=4", "x=1,2,3,4,5,6,7,8,9,10", "sleep=0.05", "faults=[*:*:sleep]", "hydra.sweeper.report.plots=false"]
    sweep_dir = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, str(FAULT_APP), *SEEDSWEEP, f"hydra.sweep.dir={sweep_dir}", *args]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ledger_path = sweep_dir / "seedsweep" / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ledger_path.exists() and len(ledger_path.read_text("utf-8").splitlines()) >= 12:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()

    before = by_job(ledger(sweep_dir))
    assert 12 <= len(before) < 40
    finished_markers = {job: (sweep_dir / row["job_dir"] / "seedsweep.started.json").stat().st_mtime_ns for job, row in before.items()}

    resumed = run_hydra(FAULT_APP, *SEEDSWEEP, f"hydra.sweep.dir={sweep_dir}", *args, "hydra.sweeper.resume=true", cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr

    last = by_job(ledger(sweep_dir))
    assert sorted(last) == list(range(40))
    assert {row["status"] for row in last.values()} == {"ok"}
    for job, mtime in finished_markers.items():
        marker = sweep_dir / before[job]["job_dir"] / "seedsweep.started.json"
        assert marker.stat().st_mtime_ns == mtime

    whole, whole_dir = sweep(tmp_path, *args, name="whole", timeout=300)
    assert whole.returncode == 0, whole.stderr
    resumed_summary = csv_rows(sweep_dir / "seedsweep" / "summary.csv")
    whole_summary = csv_rows(whole_dir / "seedsweep" / "summary.csv")
    assert resumed_summary == whole_summary


# ---------------------------------------------------------------- the Optuna study record


def comparable(frame):
    return frame.drop(columns=[column for column in ("job_dir",) if column in frame]).reset_index(drop=True)


def test_study_round_trip(tmp_path):
    import optuna
    import pandas as pd

    from seedsweep import analyze
    from seedsweep import load_runs

    args = ("hydra.sweeper.seeds=4", "x=1,2,3", "faults=[3:1:raise_value_error,2:2:nan]", "hydra.sweeper.report.plots=false")
    result, sweep_dir = sweep(tmp_path, *args)
    assert result.returncode == 1, result.stderr

    storage = f"sqlite:///{sweep_dir / 'seedsweep' / 'optuna.db'}"
    study = optuna.load_study(study_name="sweep", storage=storage)
    assert len(study.trials) == 12
    states = [trial.state.name for trial in study.trials]
    assert states.count("COMPLETE") == 10
    assert states.count("FAIL") == 2

    from_dir = analyze(load_runs(sweep_dir))
    from_study = analyze(load_runs(storage, study="sweep"))
    pd.testing.assert_frame_equal(comparable(from_dir.summary), comparable(from_study.summary), check_dtype=False)
    pd.testing.assert_frame_equal(
        comparable(from_dir.failures).drop(columns=["reason"]),
        comparable(from_study.failures).drop(columns=["reason"]),
        check_dtype=False,
    )
    assert list(from_dir.failures["reason"]) == list(from_study.failures["reason"])


def test_unwritable_storage_warns_once(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result, sweep_dir = sweep(
        tmp_path,
        "hydra.sweeper.seeds=2",
        "x=1,2",
        f"hydra.sweeper.storage=sqlite:///{blocker}/optuna.db",
        "hydra.sweeper.report.plots=false",
    )

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("The Optuna study record is off") == 1
    assert len(ledger(sweep_dir)) == 4
    assert (sweep_dir / "seedsweep" / "report.md").exists()


def test_joblib_sweep_writes_study(tmp_path):
    import optuna

    result, sweep_dir = sweep(
        tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.seeds=3", "x=1,2,3", "hydra.sweeper.report.plots=false"
    )

    assert result.returncode == 0, result.stderr
    assert "database is locked" not in result.stdout + result.stderr
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep_dir / 'seedsweep' / 'optuna.db'}")
    assert len(study.trials) == 9


def test_wrong_metric_name_exits_nonzero(tmp_path):
    result, sweep_dir = sweep(tmp_path, "hydra.sweeper.seeds=2", "x=1,2", "hydra.sweeper.metric=score")

    assert result.returncode == 1, result.stderr
    assert "no analysis of the 4 runs (4 invalid)" in result.stderr
    assert f"seedsweep analyze {sweep_dir} --metric KEY" in result.stderr
    assert "Traceback" not in result.stderr
    reasons = {row["reason"] for row in ledger(sweep_dir)}
    assert reasons == {"metric 'score' not in the returned mapping (numeric keys: loss)"}
