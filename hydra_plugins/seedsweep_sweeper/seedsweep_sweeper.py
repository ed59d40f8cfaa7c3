"""The Hydra entry point of seedsweep: a thin Sweeper subclass.

Hydra imports this module while it scans for plugins, so it imports nothing
heavy; the implementation lives in ``seedsweep.sweeper``.
"""

from __future__ import annotations

from typing import Any
from typing import List

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext
from hydra.types import TaskFunction
from omegaconf import DictConfig

from hydra_plugins.seedsweep_sweeper.config import SeedSweeperConf  # noqa: F401  (registers the config)


class SeedSweeper(Sweeper):
    """Runs every value on the same seeds and records every run."""

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = settings
        self.runner: Any = None

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from seedsweep.sweeper import SweepRunner

        self.runner = SweepRunner(self.settings, hydra_context, task_function, config)

    def sweep(self, arguments: List[str]) -> Any:
        return self.runner.sweep(arguments)
