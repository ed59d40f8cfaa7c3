"""The demo training run, called in-process without Hydra."""

from __future__ import annotations

import math
import warnings

import pytest
from omegaconf import DictConfig
from omegaconf import OmegaConf

import train
from conftest import REPO_ROOT


def make_config(**overrides: object) -> DictConfig:
    """Load conf/config.yaml without its Hydra parts and apply the overrides."""
    config = OmegaConf.load(REPO_ROOT / "conf" / "config.yaml")
    config.pop("defaults")
    config.pop("hydra")
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
