"""Hydra's own sweeper test suites, run against seedsweep with no seed axis.

With ``seeds: null`` and no seed swept, seedsweep must launch exactly the
jobs the basic sweeper launches, in the same order and batches.
"""

from __future__ import annotations

from pathlib import Path

from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite
from hydra.test_utils.launcher_common_tests import LauncherTestSuite
from hydra import version
from pytest import fixture
from pytest import mark

@fixture(autouse=True)
def unset_version_base():
    """Give each suite test Hydra's unset version base, as in a fresh process.

    Importing an app decorated with ``hydra.main(version_base="1.3")`` sets it, which turns off the
    working-directory change that the suites expect.
    """
    instance = version.VersionBase.instance()
    saved = instance.version_base
    instance.version_base = version._UNSPECIFIED_
    yield
    instance.version_base = saved


NO_SEED_AXIS = ["hydra/sweeper=seedsweep", "hydra.sweeper.seeds=null", "hydra.sweeper.storage=null"]


@mark.parametrize("launcher_name, overrides", [("basic", NO_SEED_AXIS)])
class TestSeedSweeperAsLauncherHost(LauncherTestSuite):
    """The launcher suite, with seedsweep as the sweeper."""


@mark.parametrize(
    "launcher_name, overrides",
    [("basic", NO_SEED_AXIS + ["hydra.sweeper.max_batch_size=2"])],
)
class TestSeedSweeperBatches(BatchedSweeperTestSuite):
    """The batched sweeper suite: 6 jobs in 3 batches of 2."""


def test_suite_runs_seedsweep(hydra_sweep_runner, tmpdir):
    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=None,
        config_path="configs",
        config_name="compose.yaml",
        overrides=NO_SEED_AXIS + ["bar=100,200"],
        temp_dir=tmpdir,
    )
    with sweep:
        assert sweep.temp_dir is not None
        plan_path = Path(sweep.temp_dir) / "seedsweep" / "plan.json"
        ledger_path = Path(sweep.temp_dir) / "seedsweep" / "runs.jsonl"

        assert plan_path.exists()
        assert len(ledger_path.read_text("utf-8").splitlines()) == 2
