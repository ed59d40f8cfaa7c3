"""The same grid run by the basic sweeper with the callback, and by seedsweep, gives the same analysis."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import DEMO_APP
from conftest import REPO_ROOT
from conftest import run_hydra

GRID = ["lr=1e-3,3e-3,1e-2"]


def analyze_json(source, *args):
    result = subprocess.run(
        [sys.executable, "-m", "seedsweep", "analyze", str(source), "--json", "--no-plots", *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_basic_sweeper_with_callback_matches_seedsweep(tmp_path):
    basic_dir = tmp_path / "basic"
    basic = run_hydra(
        DEMO_APP,
        "--config-name",
        "train",
        "-m",
        "seed=0,1,2,3",
        *GRID,
        "+hydra.callbacks.seedsweep._target_=seedsweep.callback.RecordCallback",
        "+hydra.callbacks.seedsweep.metric=val_loss",
        f"hydra.sweep.dir={basic_dir}",
        cwd=tmp_path,
        timeout=300,
    )
    assert basic.returncode == 0, basic.stderr

    seedsweep_dir = tmp_path / "seedsweep"
    ours = run_hydra(
        DEMO_APP,
        "-m",
        "hydra.sweeper.seeds=4",
        "hydra.sweeper.report.plots=false",
        *GRID,
        f"hydra.sweep.dir={seedsweep_dir}",
        cwd=tmp_path,
        timeout=300,
    )
    assert ours.returncode == 0, ours.stderr

    from_basic = analyze_json(basic_dir, "--metric", "val_loss")
    from_seedsweep = analyze_json(seedsweep_dir)

    assert len(from_basic["groups"]) == len(from_seedsweep["groups"]) == 1
    basic_values = from_basic["groups"][0]["values"]
    seedsweep_values = from_seedsweep["groups"][0]["values"]
    assert [row["value"] for row in basic_values] == [0.001, 0.003, 0.01]
    assert [row["value"] for row in seedsweep_values] == [0.001, 0.003, 0.01]
    for ours_row, basic_row in zip(seedsweep_values, basic_values):
        for key in ("n", "mean_metric", "mean_z", "std_z", "t", "p", "p_holm", "verdict"):
            if isinstance(ours_row[key], float):
                assert ours_row[key] == pytest.approx(basic_row[key], rel=1e-12), key
            else:
                assert ours_row[key] == basic_row[key], key
