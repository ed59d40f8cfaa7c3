"""The demo training run, called in-process without Hydra."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from omegaconf import DictConfig
from omegaconf import OmegaConf

import train
from conftest import DEMO_APP
from conftest import REPO_ROOT
from conftest import run_hydra


def make_config(**overrides: object) -> DictConfig:
    """Load the demo's training settings (conf/train.yaml) and apply the overrides."""
    config = OmegaConf.load(REPO_ROOT / "conf" / "train.yaml")
    return OmegaConf.merge(config, overrides)


def test_train_returns_finite_metrics():
    metrics = train.train(make_config(lr=0.01, seed=0))

    assert set(metrics) == {"val_loss", "val_acc"}
    assert isinstance(metrics["val_loss"], float)
    assert math.isfinite(metrics["val_loss"])
    assert metrics["val_acc"] > 0.8


def test_train_same_seed_same_metrics():
    first = train.train(make_config(lr=0.01, seed=3))
    second = train.train(make_config(lr=0.01, seed=3))

    assert first == second


def test_train_seeds_differ():
    losses = {train.train(make_config(lr=0.01, seed=seed))["val_loss"] for seed in range(3)}

    assert len(losses) == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_train_larger_lr_lower_loss(seed):
    # The quick-start sweep: on every seed, a larger lr learns more in 20 epochs.
    losses = [train.train(make_config(lr=lr, seed=seed))["val_loss"] for lr in (1e-4, 3e-4, 1e-3)]

    assert losses[0] > losses[1]
    assert losses[1] > losses[2]


@pytest.mark.parametrize("lr", [1.0, 30.0])
def test_train_huge_lr_diverges(lr):
    metrics = train.train(make_config(lr=lr, seed=0))

    assert not math.isfinite(metrics["val_loss"])


def test_train_divergence_warns_nothing():
    # numpy's overflow warnings are silenced inside the training loop only.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = train.train(make_config(lr=30.0, seed=0))

    assert not math.isfinite(metrics["val_loss"])


def test_readme_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_hydra(DEMO_APP, "-m", "hydra/sweeper=seedsweep", "lr=1e-4,3e-4,1e-3", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, timeout=300)

    assert result.returncode == 0, result.stderr
    out = sweep_dir / "seedsweep"
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == 15
    assert {record["status"] for record in records} == {"ok"}
    assert len(list(sweep_dir.glob("*/seedsweep.json"))) == 15
    for name in ("report.md", "report.html", "runs.csv", "summary.csv", "failures.csv", "analysis.json", "optuna.db"):
        assert (out / name).exists(), name
    assert len(list((out / "figures").glob("*.png"))) >= 3
    assert "lr=0.001" in result.stdout
    assert str(out / "report.html") in result.stdout
