"""Time the per-job pieces of a seedsweep sweep in one process and print them as JSON.

Run by ``bench_sweep.py`` in a child process (Hydra's global state stays
out of the benchmark runner). The pieces:

- composing one job's config, as the sweeper (validation) and the launcher
  each do once per job, for the basic sweeper's config and seedsweep's;
- the recording callback's ``on_job_start`` and ``on_job_end``, which run in
  the job's process and write the started marker and the run record;
- gathering one job's record and appending it to the ledger, as the
  sweeper does after each batch.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent / "noop_app" / "conf"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_compose(rounds: int, per_round: int) -> dict[str, float]:
    from hydra import compose
    from hydra import initialize_config_dir

    samples: dict[str, list[float]] = {"basic": [], "seedsweep_noseed": []}
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        for _ in range(rounds):
            for name in samples:
                started = time.perf_counter()
                for index in range(per_round):
                    compose(name, overrides=[f"x={index}", "seed=0"], return_hydra_config=True)
                samples[name].append((time.perf_counter() - started) / per_round)
    return {f"compose {name}": _median_ms(values) for name, values in samples.items()}


def time_recording(jobs: int) -> dict[str, float]:
    from hydra import compose
    from hydra import initialize_config_dir
    from hydra.core.utils import JobReturn
    from hydra.core.utils import JobStatus
    from omegaconf import open_dict

    from seedsweep import gather
    from seedsweep.callback import RecordCallback
    from seedsweep.plan import Job
    from seedsweep.records import append_jsonl

    sweep_dir = Path(tempfile.mkdtemp(prefix="seedsweep-bench-pieces-"))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        template = compose("seedsweep_noseed", overrides=["x=0", "seed=0"], return_hydra_config=True)

    callback = RecordCallback(from_sweeper=True)
    start, end, collect = [], [], []
    try:
        for index in range(jobs):
            config = template.copy()
            overrides = [f"x={index}", "seed=0"]
            with open_dict(config):
                config.hydra.runtime.output_dir = str(sweep_dir / str(index))
                config.hydra.job.num = index
                config.hydra.sweep.dir = str(sweep_dir)
                config.hydra.overrides.task = overrides
            (sweep_dir / str(index)).mkdir()

            started = time.perf_counter()
            callback.on_job_start(config)
            start.append(time.perf_counter() - started)

            job_return = JobReturn()
            job_return.status = JobStatus.COMPLETED
            job_return._return_value = float(index)
            started = time.perf_counter()
            callback.on_job_end(config, job_return)
            end.append(time.perf_counter() - started)

            job = Job(index, tuple(overrides), 0, {"x": index})
            started = time.perf_counter()
            records = gather.collect([job], None, sweep_dir, {})
            append_jsonl(sweep_dir / "seedsweep" / "runs.jsonl", [record.to_dict() for record in records])
            collect.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(sweep_dir, ignore_errors=True)
    return {
        "callback on_job_start": _median_ms(start),
        "callback on_job_end": _median_ms(end),
        "gather + ledger append": _median_ms(collect),
    }


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    import hydra_plugins.seedsweep_sweeper.config  # noqa: F401  (registers hydra/sweeper=seedsweep)

    result = time_compose(rounds=3 if quick else 9, per_round=10 if quick else 20)
    result.update(time_recording(jobs=30 if quick else 200))
    print(json.dumps(result))
