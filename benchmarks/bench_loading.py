"""Loading: ``seedsweep.load_runs`` on a large synthetic sweep dir against reading every job's overrides.yaml.

The sweep dir is written once by ``synthetic.write_sweep_dir`` (job folders
with ``.hydra/overrides.yaml``, the started marker and the run record, plus
``seedsweep/plan.json`` and the ledger ``seedsweep/runs.jsonl``). Every
route then runs in one child process, after one untimed call, so the page
cache is warm for all of them alike:

- through the ledger: ``load_runs(sweep_dir)``;
- through the per-job records: the same with the ledger moved away;
- the YAML baseline: open and parse every job's ``.hydra/overrides.yaml``
  with PyYAML's ``CSafeLoader`` (libyaml). It only parses the overrides and
  builds no run table. ``SafeLoader``, the pure-Python loader that
  ``yaml.safe_load`` uses, is shown too;
- the floor of the ledger route: ``json.loads`` of every ledger line.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH_DIR
from common import PYTHON
from common import Section
from common import Target
from common import check_ok
from common import child_env
from common import run_child
from common import seconds

VALUES = 100
RATIO_TARGET = 0.1


def measure(quick: bool) -> Section:
    seeds = 20 if quick else 100
    repeats = 3 if quick else 7
    work = Path(tempfile.mkdtemp(prefix="seedsweep-bench-load-"))
    try:
        sweep_dir = work / "sweep"
        started = time.perf_counter()
        build = run_child(
            [PYTHON, "-c", f"from synthetic import write_sweep_dir; from pathlib import Path; write_sweep_dir(Path({str(sweep_dir)!r}), {VALUES}, {seeds})"],
            env=child_env(),
            cwd=BENCH_DIR,
        )
        check_ok(build, "building the sweep dir")
        build_seconds = time.perf_counter() - started

        run = run_child([PYTHON, str(BENCH_DIR / "bench_loading.py"), "--child", str(sweep_dir), str(repeats)], env=child_env(), cwd=BENCH_DIR)
        check_ok(run, "the loading benchmark")
        result = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _section(result, VALUES * seeds, repeats, build_seconds)


def _section(result: dict, jobs: int, repeats: int, build_seconds: float) -> Section:
    medians = {name: statistics.median(samples) for name, samples in result["timings"].items()}
    yaml_route = medians["YAML, CSafeLoader"]
    section = Section(
        f"3. Loading a sweep dir of {jobs:,} jobs",
        ["route", "median", "range", "per job", "/ YAML (CSafeLoader)"],
    )
    for name, samples in result["timings"].items():
        median = medians[name]
        section.rows.append([
            name, seconds(median), f"{seconds(min(samples))}-{seconds(max(samples))}",
            seconds(median / jobs), f"{median / yaml_route:.2f}",
        ])  # fmt: skip
    section.targets.append(Target("load_runs through the ledger / YAML route (CSafeLoader)", medians["load_runs, through the ledger"] / yaml_route, RATIO_TARGET, "x"))
    section.notes.append(
        f"Medians of {repeats} calls in one process after one untimed call of each (warm page cache). "
        f"Building the sweep dir took {build_seconds:.1f} s and is not part of any figure. The YAML routes "
        "only parse the overrides; load_runs also builds the run table (types, statuses, the plan's parameters)."
    )
    section.raw = result
    return section


# ---------------------------------------------------------------- child process


def child(sweep_dir: Path, repeats: int) -> dict:
    import yaml

    import seedsweep
    from synthetic import overrides_files

    ledger = sweep_dir / "seedsweep" / "runs.jsonl"
    moved = sweep_dir.parent / "runs.jsonl"
    files = overrides_files(sweep_dir)

    def without_ledger() -> None:
        ledger.rename(moved)
        try:
            seedsweep.load_runs(sweep_dir)
        finally:
            moved.rename(ledger)

    routes = {
        "load_runs, through the ledger": lambda: seedsweep.load_runs(sweep_dir),
        "load_runs, through the per-job records (ledger removed)": without_ledger,
        "YAML, CSafeLoader": lambda: _parse_all(files, yaml.CSafeLoader),
        "YAML, SafeLoader (pure Python)": lambda: _parse_all(files, yaml.SafeLoader),
        "json.loads of every ledger line (floor of the ledger route)": lambda: _parse_ledger(ledger),
    }
    rows = len(seedsweep.load_runs(sweep_dir))
    if rows != len(files):
        raise AssertionError(f"load_runs gave {rows} rows for {len(files)} jobs")

    timings = {}
    for name, function in routes.items():
        function()
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            function()
            samples.append(time.perf_counter() - started)
        timings[name] = samples
    return {"timings": timings, "jobs": len(files)}


def _parse_all(files: list[str], loader: type) -> list:
    import yaml

    parsed = []
    for path in files:
        with open(path, encoding="utf-8") as stream:
            parsed.append(yaml.load(stream.read(), Loader=loader))
    return parsed


def _parse_ledger(ledger: Path) -> list:
    with open(ledger, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        started = time.perf_counter()
        section = measure(quick="--quick" in sys.argv)
        for row in section.rows:
            print(" | ".join(row))
        for target in section.targets:
            print(target.row())
        print(f"{time.perf_counter() - started:.1f} s")
