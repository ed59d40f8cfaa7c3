"""Build real sweep dirs and Hydra multirun dirs for the loader and CLI tests.

Sweep dirs are written with seedsweep.records, as the sweeper and callback
write them. Plain Hydra multirun dirs come from a tiny Hydra app run with
the basic sweeper in a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from typing import Callable

from seedsweep.records import RECORD_FILE
from seedsweep.records import STARTED_FILE
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import append_jsonl
from seedsweep.records import write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]

LR_VALUES = (0.0001, 0.0003, 0.001)


def plan_jobs(values: tuple[Any, ...], seeds: list[int] | None, param: str = "lr") -> list[dict[str, Any]]:
    """Order the jobs seed-major, as the sweeper does."""
    jobs = []
    for seed in seeds if seeds is not None else [None]:
        for value in values:
            overrides = [f"{param}={value}"] + ([f"seed={seed}"] if seed is not None else [])
            jobs.append({"job": len(jobs), "overrides": overrides, "seed": seed, "params": {param: value}})
    return jobs


def write_plan(sweep_dir: Path, jobs: list[dict[str, Any]], **settings: Any) -> None:
    plan = {
        "schema": 1,
        "seed_key": "seed",
        "seeds": sorted({job["seed"] for job in jobs if job["seed"] is not None}) or None,
        "metric": "val_loss",
        "direction": "minimize",
        "divergence": None,
        "params": {"lr": list(LR_VALUES)},
        "study_params": ["lr"],
        "groups": [],
        "baseline": None,
        "scale": "auto",
        "t_threshold": 2.0,
        "verdict_rule": "seed",
        "jobs": jobs,
    }
    plan.update(settings)
    write_json_atomic(sweep_dir / "seedsweep" / "plan.json", plan)


def ok_record(job: dict[str, Any], value: float, **fields: Any) -> RunRecord:
    """Make the record of a job that returned ``{"val_loss": value, "acc": ...}``.

    As the callback does, the record's parameters are every override of the
    job, the seed included.
    """
    metrics = {"val_loss": value, "acc": 1.0 - value}
    params = dict(job["params"])
    if job["seed"] is not None:
        params["seed"] = job["seed"]
    record = RunRecord(
        job=job["job"],
        job_dir=str(job["job"]),
        overrides=list(job["overrides"]),
        params=params,
        seed=job["seed"],
        status=RunStatus.OK,
        metric="val_loss",
        value=value,
        metrics=metrics,
        started_at="2026-01-01T10:00:00",
        finished_at="2026-01-01T10:00:02",
        duration=2.0,
        host="node1",
        pid=100 + job["job"],
    )
    for key, field_value in fields.items():
        setattr(record, key, field_value)
    return record


def write_job_folder(sweep_dir: Path, record: RunRecord, *, with_record: bool = True) -> Path:
    """Write a job folder as Hydra and the callback leave it: overrides, started marker, record."""
    job_dir = sweep_dir / str(record.job_dir)
    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    overrides = "".join(f"- {item}\n" for item in record.overrides)
    (job_dir / ".hydra" / "overrides.yaml").write_text(overrides, encoding="utf-8")
    started = {"job": record.job, "started_at": record.started_at, "host": record.host, "pid": record.pid}
    write_json_atomic(job_dir / STARTED_FILE, started)
    if with_record:
        write_json_atomic(job_dir / RECORD_FILE, record.to_dict())
    return job_dir


def append_ledger(sweep_dir: Path, records: list[RunRecord]) -> None:
    append_jsonl(sweep_dir / "seedsweep" / "runs.jsonl", [record.to_dict() for record in records])


def make_sweep(
    root: Path,
    *,
    seeds: list[int] | None = (0, 1, 2),
    values: tuple[Any, ...] = LR_VALUES,
    value_of: Callable[[dict[str, Any]], float] | None = None,
    **plan_settings: Any,
) -> tuple[Path, list[RunRecord]]:
    """Write a finished seedsweep sweep: plan, job folders with records, full ledger."""
    sweep_dir = root / "sweep"
    jobs = plan_jobs(values, list(seeds) if seeds is not None else None)
    write_plan(sweep_dir, jobs, **plan_settings)

    records = []
    for job in jobs:
        value = value_of(job) if value_of else 1.0 + 0.1 * job["job"]
        record = ok_record(job, value)
        write_job_folder(sweep_dir, record)
        records.append(record)
    append_ledger(sweep_dir, records)
    return sweep_dir, records


def crashed(record: RunRecord) -> RunRecord:
    record.status = RunStatus.CRASHED
    record.value = None
    record.metrics = {}
    record.reason = "raised RuntimeError: CUDA out of memory"
    record.error_type = "RuntimeError"
    return record


def nan_loss(record: RunRecord) -> RunRecord:
    record.status = RunStatus.DIVERGED
    record.value = math.nan
    record.metrics = {"val_loss": math.nan, "acc": 0.1}
    record.reason = "val_loss is NaN"
    return record


# ---------------------------------------------------------------- Hydra


HYDRA_APP = textwrap.dedent(
    """
    import json
    import random
    from dataclasses import dataclass
    from pathlib import Path

    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.hydra_config import HydraConfig


    @dataclass
    class Config:
        seed: int = 0
        lr: float = 0.1
        model: str = "mlp"
        noise: float = 0.0


    ConfigStore.instance().store(name="config", node=Config)


    @hydra.main(version_base=None, config_name="config")
    def main(cfg):
        out = Path(HydraConfig.get().runtime.output_dir)
        if cfg.lr == 0.01 and cfg.seed == 1:
            return
        loss = cfg.lr * 100 + 0.01 * cfg.seed + random.Random(f"{cfg.seed} {cfg.lr}").gauss(0, cfg.noise)
        if cfg.lr == 0.01 and cfg.seed == 2:
            loss = float("nan")
        (out / "results.json").write_text(json.dumps({"val_loss": loss, "acc": 1 - loss}))
        (out / "results.yaml").write_text(f"val_loss: {loss}\\nacc: {1 - loss}\\n")
        (out / "history.csv").write_text(f"epoch,val_loss\\n0,9.0\\n1,{loss}\\n")
        return {"val_loss": loss, "acc": 1 - loss}


    if __name__ == "__main__":
        main()
    """
)


def child_env() -> dict[str, str]:
    """Environment for a subprocess that imports seedsweep from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_hydra_multirun(root: Path, overrides: list[str], expect_exit: int = 0) -> Path:
    """Run the tiny app with ``--multirun`` and return its sweep dir.

    The sweeper is Hydra's basic one unless ``overrides`` select another.
    The app returns and writes ``{"val_loss", "acc"}``, except that the job
    with lr=0.01 and seed 1 returns None and writes nothing, and the one
    with lr=0.01 and seed 2 has val_loss NaN.
    """
    app = root / "app.py"
    app.write_text(HYDRA_APP, encoding="utf-8")
    sweep_dir = root / "multirun"
    command = [sys.executable, str(app), "--multirun", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    result = subprocess.run(command, cwd=root, env=child_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == expect_exit, result.stderr
    return sweep_dir


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
