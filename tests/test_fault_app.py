"""The fault-injection app: its rules in-process, and under Hydra's basic sweeper."""

from __future__ import annotations

import importlib.util
import math
import signal
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from omegaconf import DictConfig
from omegaconf import OmegaConf

from conftest import FAULT_APP
from conftest import run_hydra
from seedsweep import Diverged


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_app", FAULT_APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = load_app()


def make_config(**overrides: object) -> DictConfig:
    """Load the app's config file and apply the overrides."""
    config = OmegaConf.load(FAULT_APP.parent / "conf" / "config.yaml")
    return OmegaConf.merge(config, overrides)


def job_logs(multirun_dir: Path) -> str:
    """Concatenate the app.log of every job in a multirun directory."""
    paths = sorted(multirun_dir.glob("*/*/*/app.log"))
    return "\n".join(path.read_text() for path in paths)


# ---------------------------------------------------------------- in-process


def test_parse_faults_reads_entries():
    faults = app.parse_faults(["2.0:1:nan", "*:3:raise_value_error", "adam:*:-inf"])

    assert faults == [
        app.Fault("2.0", 1, "nan"),
        app.Fault(None, 3, "raise_value_error"),
        app.Fault("adam", None, "-inf"),
    ]


def test_parse_faults_accepts_string_and_none():
    assert app.parse_faults("1:0:inf") == [app.Fault("1", 0, "inf")]
    assert app.parse_faults(None) == []


@pytest.mark.parametrize(
    ("entry", "expected_message"),
    [
        ("2.0:nan", "invalid fault entry '2.0:nan'"),
        (":1:nan", "invalid fault entry ':1:nan'"),
        ("2.0:1:explode", "unknown behaviour 'explode'"),
        ("2.0:one:nan", "invalid seed 'one'"),
    ],
)
def test_parse_faults_rejects_bad_entry(entry, expected_message):
    with pytest.raises(ValueError, match=expected_message):
        app.parse_faults([entry])


@pytest.mark.parametrize(
    ("x", "seed", "expected"),
    [
        (2.0, 5, "nan"),  # X and SEED beat every other entry
        (2.0, 1, "inf"),  # X alone beats SEED alone
        (3.0, 1, "return_none"),  # SEED alone beats *:*
        (3.0, 0, "sleep"),  # only *:* matches
    ],
)
def test_select_behaviour_most_specific(x, seed, expected):
    faults = app.parse_faults(["2.0:5:nan", "*:*:sleep", "*:1:return_none", "2:*:inf"])

    assert app.select_behaviour(faults, x, seed) == expected


def test_select_behaviour_later_entry_wins():
    faults = app.parse_faults(["2:1:nan", "2.0:1:inf"])

    assert app.select_behaviour(faults, 2, 1) == "inf"


def test_select_behaviour_matches_values():
    faults = app.parse_faults(["1e-3:*:nan", "adam:*:inf"])

    assert app.select_behaviour(faults, 0.001, 0) == "nan"
    assert app.select_behaviour(faults, "adam", 0) == "inf"
    assert app.select_behaviour(faults, "sgd", 0) == "ok"
    assert app.select_behaviour(faults, 0.01, 0) == "ok"


def test_compute_loss_formula():
    loss = app.compute_loss(make_config(x=2.0, seed=4))

    assert app.compute_loss(make_config(x=2.0, seed=4, noise=0.0)) == 0.25
    assert app.compute_loss(make_config(x=2, seed=4)) == loss
    assert app.compute_loss(make_config(x=2.0, seed=5)) != loss


def test_compute_loss_seed_effect_shared():
    # The per-seed offset moves every x of a seed by the same amount.
    def shift(x: float) -> float:
        with_effect = app.compute_loss(make_config(x=x, seed=2, seed_effect=1.0))
        return with_effect - app.compute_loss(make_config(x=x, seed=2))

    assert shift(1.0) != 0.0
    assert shift(1.0) == pytest.approx(shift(3.0))


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("ok", {"loss": 0.25}),
        ("sleep", {"loss": 0.25}),
        ("inf", {"loss": math.inf}),
        ("-inf", {"loss": -math.inf}),
        ("return_string", {"loss": "1.5"}),
        ("return_bool", {"loss": True}),
        ("return_number", 0.25),
        ("return_none", None),
        ("return_other_key", {"other": 1}),
        ("nested", {"val": {"loss": 0.25}}),
    ],
)
def test_run_behaviour_returns(behaviour, expected):
    cfg = make_config(x=2.0, noise=0.0, sleep=0.01)

    assert app.run_behaviour(behaviour, cfg) == expected


def test_run_behaviour_returns_numpy():
    cfg = make_config(x=2.0, noise=0.0)

    nan = app.run_behaviour("nan", cfg)["loss"]
    array = app.run_behaviour("return_array", cfg)["loss"]
    scalar = app.run_behaviour("return_numpy_scalar", cfg)["loss"]

    assert math.isnan(nan)
    assert np.array_equal(array, np.ones(3))
    assert type(scalar) is np.float32
    assert scalar == np.float32(0.25)


def test_run_behaviour_bare_and_metric_key():
    assert app.run_behaviour("ok", make_config(x=2.0, noise=0.0, bare=True)) == 0.25
    assert app.run_behaviour("inf", make_config(bare=True)) == math.inf
    renamed = make_config(x=2.0, noise=0.0, metric_key="val_loss")
    assert app.run_behaviour("ok", renamed) == {"val_loss": 0.25}


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("raise_value_error", ValueError),
        ("raise_memory_error", MemoryError),
        ("raise_floating_point_error", FloatingPointError),
        ("raise_diverged", Diverged),
        ("keyboard_interrupt", KeyboardInterrupt),
    ],
)
def test_run_behaviour_raises(behaviour, error):
    with pytest.raises(error):
        app.run_behaviour(behaviour, make_config(x=2.0, seed=1))


# ---------------------------------------------------------------- under Hydra


def test_app_single_run_ok(tmp_path):
    result = run_hydra(FAULT_APP, "x=2.0", "seed=3", "noise=0", cwd=tmp_path, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "x=2.0 seed=3: returning {'loss': 0.25}" in result.stdout


def test_app_command_line_faults(tmp_path):
    faults = "faults=[2:1:nan,*:0:return_none]"
    result = run_hydra(FAULT_APP, "-m", "x=1,2", "seed=0,1", faults, cwd=tmp_path, timeout=60)
    logs = job_logs(tmp_path / "multirun")

    assert result.returncode == 0, result.stderr
    assert "x=1 seed=0: return_none" in logs
    assert "x=2 seed=0: return_none" in logs
    assert "x=1 seed=1: ok" in logs
    assert "x=2 seed=1: nan" in logs


def test_app_raise_fails_sweep(tmp_path):
    faults = "faults=[2:*:raise_value_error]"
    result = run_hydra(FAULT_APP, "-m", "x=1,2", faults, cwd=tmp_path, timeout=60)
    logs = job_logs(tmp_path / "multirun")

    assert result.returncode == 1
    assert "ValueError: injected fault at x=2, seed=0" in result.stderr
    assert "Traceback" in result.stderr
    assert "x=1 seed=0: returning {'loss'" in logs
    assert "x=2 seed=0: raise_value_error" in logs


def test_app_rejects_unknown_behaviour(tmp_path):
    result = run_hydra(FAULT_APP, "faults=[2:*:explode]", cwd=tmp_path, timeout=60)

    assert result.returncode == 1
    assert "unknown behaviour 'explode'" in result.stderr


@pytest.mark.parametrize(
    ("behaviour", "returncode"),
    [
        ("sigkill", -signal.SIGKILL),
        # Python ends itself with SIGINT after an uncaught KeyboardInterrupt.
        ("keyboard_interrupt", -signal.SIGINT),
    ],
)
def test_app_signal_ends_process(tmp_path, behaviour, returncode):
    faults = f"faults=[1:*:{behaviour}]"
    result = run_hydra(FAULT_APP, "-m", "x=1,2", faults, cwd=tmp_path, timeout=60)
    logs = job_logs(tmp_path / "multirun")

    assert result.returncode == returncode
    assert f"x=1 seed=0: {behaviour}" in logs
    assert "x=2 seed=0" not in logs
