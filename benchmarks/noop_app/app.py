"""A Hydra app whose task does nothing but return a number.

Sweeping it measures what the sweeper, the launcher and the recording cost
per job, with no training time to hide them. The number has seed-to-seed
noise, as a real metric has, so that the paired differences the analysis
computes at the end of a sweep have a spread.
"""

from __future__ import annotations

import random

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="basic")
def main(cfg: DictConfig) -> float:
    noise = random.Random(f"{cfg.seed}:{cfg.x}").gauss(0.0, 1.0)
    return float(cfg.x) + noise


if __name__ == "__main__":
    main()
