"""Synthetic run tables and sweep dirs, shaped as seedsweep's loaders produce them.

The metric has a value effect, a seed effect and per-run noise, so every
paired difference has a spread (a metric without noise makes the power
calculation of the analysis degenerate).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GROUP = "model"
PARAM = "lr"
METRIC = "val_loss"
FAILURE_RATE = 0.01


def lr_values(count: int) -> np.ndarray:
    """Log-spaced learning rates from 1e-4 to 1e-1."""
    return np.logspace(-4, -1, count)


def run_table(groups: int, values: int, seeds: int, rng_seed: int = 0) -> pd.DataFrame:
    """Build a run table of groups x seeds x values rows with 1% failed runs.

    Rows go group by group, seed by seed, value by value. A failed run is
    ``crashed`` or ``diverged`` (half each) and has no metric.
    """
    rng = np.random.default_rng(rng_seed)
    rows = groups * values * seeds
    group_index = np.repeat(np.arange(groups), seeds * values)
    seed = np.tile(np.repeat(np.arange(seeds), values), groups)
    value_index = np.tile(np.arange(values), groups * seeds)
    lr = lr_values(values)[value_index]

    curve = 0.4 + 0.05 * (np.log10(lr) + 2.5) ** 2 + 0.01 * group_index
    seed_effect = rng.normal(0.0, 0.05, size=groups * seeds)[group_index * seeds + seed]
    metric = curve + seed_effect + rng.normal(0.0, 0.02, size=rows)

    failed = rng.random(rows) < FAILURE_RATE
    crashed = failed & (rng.random(rows) < 0.5)
    diverged = failed & ~crashed
    metric[failed] = np.nan

    status = np.full(rows, "ok", dtype=object)
    status[crashed] = "crashed"
    status[diverged] = "diverged"
    reason = np.full(rows, None, dtype=object)
    reason[crashed] = "raised RuntimeError: CUDA out of memory"
    reason[diverged] = f"{METRIC} is NaN"
    error_type = np.full(rows, None, dtype=object)
    error_type[crashed] = "RuntimeError"

    job = np.arange(rows)
    table = pd.DataFrame({
        "job": pd.array(job, dtype="Int64"),
        "job_dir": pd.Series([f"/sweeps/bench/{number}" for number in job.tolist()], dtype=object),
        "seed": seed.astype(np.int64),
        GROUP: pd.Series(np.array([f"net{index}" for index in range(groups)], dtype=object)[group_index], dtype=object),
        PARAM: lr,
        METRIC: metric,
        "status": pd.Series(status, dtype=object),
        "reason": pd.Series(reason, dtype=object),
        "error_type": pd.Series(error_type, dtype=object),
        "duration": rng.uniform(10.0, 20.0, size=rows),
    })  # fmt: skip
    table.attrs["seedsweep"] = {
        "params": [GROUP, PARAM],
        "metrics": [METRIC],
        "metric": METRIC,
        "direction": "minimize",
        "seed_key": "seed",
        "groups": [GROUP],
        "source": "synthetic",
        "unreadable": [],
    }
    return table


def write_sweep_dir(sweep_dir: Path, values: int, seeds: int, rng_seed: int = 0) -> int:
    """Write a seedsweep sweep dir of values x seeds jobs, as the sweeper and callback leave it.

    Each job folder gets ``.hydra/overrides.yaml``, the started marker and
    the run record; ``seedsweep/`` gets ``plan.json`` and the ledger
    ``runs.jsonl``. 1% of the runs crashed. The files are written plainly
    (the sweeper writes them atomically with fsync, which only slows the
    build down and does not change their content).

    Returns:
        The number of jobs.
    """
    from seedsweep.records import RECORD_FILE
    from seedsweep.records import STARTED_FILE
    from seedsweep.records import RunRecord
    from seedsweep.records import RunStatus
    from seedsweep.records import dump_json

    rng = np.random.default_rng(rng_seed)
    lrs = [float(value) for value in lr_values(values)]
    jobs = []
    for seed in range(seeds):
        for lr in lrs:
            overrides = [f"{PARAM}={lr!r}", f"seed={seed}"]
            jobs.append({"job": len(jobs), "overrides": overrides, "seed": seed, "params": {PARAM: lr}})

    output = sweep_dir / "seedsweep"
    output.mkdir(parents=True)
    (output / "plan.json").write_text(json.dumps(_plan(lrs, seeds, jobs)) + "\n", encoding="utf-8")

    ledger_lines = []
    for job in jobs:
        crashed = rng.random() < FAILURE_RATE
        value = None if crashed else 0.4 + 0.05 * (math.log10(job["params"][PARAM]) + 2.5) ** 2 + rng.normal(0, 0.02)
        record = RunRecord(
            job=job["job"],
            job_dir=str(job["job"]),
            overrides=job["overrides"],
            params={PARAM: job["params"][PARAM], "seed": job["seed"]},
            seed=job["seed"],
            status=RunStatus.CRASHED if crashed else RunStatus.OK,
            metric=METRIC,
            value=value,
            metrics={} if crashed else {METRIC: value, "val_acc": 1.0 - value},
            reason="raised RuntimeError: CUDA out of memory" if crashed else None,
            error_type="RuntimeError" if crashed else None,
            error_message="CUDA out of memory" if crashed else None,
            started_at="2026-12-04T10:00:00.000000+00:00",
            finished_at="2026-12-04T10:00:12.500000+00:00",
            duration=12.5,
            host="node-1",
            pid=4242,
        )
        text = dump_json(record.to_dict())
        ledger_lines.append(text)

        folder = sweep_dir / str(job["job"])
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {override}\n" for override in job["overrides"]), encoding="utf-8"
        )
        started = {"job": job["job"], "overrides": job["overrides"], "started_at": record.started_at, "host": "node-1", "pid": 4242}
        (folder / STARTED_FILE).write_text(json.dumps(started) + "\n", encoding="utf-8")
        (folder / RECORD_FILE).write_text(text + "\n", encoding="utf-8")

    (output / "runs.jsonl").write_text("\n".join(ledger_lines) + "\n", encoding="utf-8")
    return len(jobs)


def _plan(lrs: list[float], seeds: int, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": 1,
        "seed_key": "seed",
        "seeds": list(range(seeds)),
        "metric": METRIC,
        "direction": "minimize",
        "divergence": None,
        "params": {PARAM: lrs},
        "study_params": [PARAM],
        "groups": [],
        "baseline": None,
        "scale": "auto",
        "t_threshold": 2.0,
        "verdict_rule": "seed",
        "jobs": jobs,
    }


def overrides_files(sweep_dir: Path) -> list[str]:
    """List every job's ``.hydra/overrides.yaml`` below ``sweep_dir``, as plain paths."""
    found = []
    for entry in os.scandir(sweep_dir):
        path = os.path.join(entry.path, ".hydra", "overrides.yaml")
        if entry.is_dir() and os.path.isfile(path):
            found.append(path)
    return found


def single_group_table(values: int, seeds: int, rng_seed: int = 0) -> pd.DataFrame:
    """Build a run table of seeds x values rows with no group column, as a one-parameter sweep gives."""
    table = run_table(1, values, seeds, rng_seed).drop(columns=[GROUP])
    attrs = dict(table.attrs["seedsweep"])
    attrs.update(params=[PARAM], groups=[])
    table.attrs["seedsweep"] = attrs
    return table
