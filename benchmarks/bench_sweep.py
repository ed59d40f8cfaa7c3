"""Sweep overhead: no-op jobs under seedsweep against Hydra's basic sweeper.

Every sweep runs ``noop_app/app.py`` in its own process with the basic
launcher. The sweeper's settings come from config files (``noop_app/conf``),
so every command line has the same overrides and Hydra parses the same
text for every job. The variants run interleaved, round after round, so a
change in the machine's load hits all of them alike.

The end-of-sweep work is also timed on its own, in fresh processes (so the
imports it triggers are counted), on the directory of a finished sweep:
load + analyse + tables, the full report, and the Optuna study record.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR
from common import PYTHON
from common import Section
from common import Target
from common import check_ok
from common import child_env
from common import run_child
from common import seconds

APP = BENCH_DIR / "noop_app" / "app.py"
SEEDS = 5
RATIO_TARGET = 1.05


# Imported at interpreter start when its folder is on PYTHONPATH: a diagnostic
# variant runs the same sweep with fsync turned into a no-op.
NO_FSYNC = "import os\n\nos.fsync = lambda fd: None\n"
NO_FSYNC_VARIANT = "seedsweep seeds=null, fsync off (diagnostic)"


def variants(values: int) -> dict[str, tuple[str, list[str]]]:
    """Name -> (config name, sweep overrides); every variant has ``values * SEEDS`` jobs."""
    jobs = values * SEEDS
    return {
        "basic, values only": ("basic", [f"x=range(0,{jobs})"]),
        "seedsweep seeds=null": ("seedsweep_noseed", [f"x=range(0,{jobs})"]),
        NO_FSYNC_VARIANT: ("seedsweep_noseed", [f"x=range(0,{jobs})"]),
        "basic, values x seeds": ("basic", [f"x=range(0,{values})", f"seed=range(0,{SEEDS})"]),
        "seedsweep bare": ("seedsweep_bare", [f"x=range(0,{values})"]),
        "seedsweep defaults": ("seedsweep", [f"x=range(0,{values})"]),
    }


def run_sweep(config: str, overrides: list[str], sweep_dir: Path, env: dict[str, str]) -> Any:
    args = [PYTHON, str(APP), "--config-name", config, "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    run = run_child(args, env=env, cwd=sweep_dir.parent)
    check_ok(run, f"the sweep {' '.join(args[2:])}")
    return run


def measure(quick: bool) -> Section:
    values = 2 if quick else 40
    rounds = 1 if quick else 3
    jobs = values * SEEDS
    plan = variants(values)
    if quick:
        del plan["seedsweep defaults"]
        del plan[NO_FSYNC_VARIANT]
    work = Path(tempfile.mkdtemp(prefix="seedsweep-bench-sweep-"))
    try:
        walls, cpus, kept = _run_rounds(plan, rounds, work)
        phases = _time_phases(kept, ["tables_only"] if quick else list(PHASES), quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pieces = _time_pieces(quick)
    return _section(walls, cpus, phases, pieces, jobs, rounds, values)


def _run_rounds(
    plan: dict[str, tuple[str, list[str]]], rounds: int, work: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Path]]:
    walls: dict[str, list[float]] = {name: [] for name in plan}
    cpus: dict[str, list[float]] = {name: [] for name in plan}
    kept: dict[str, Path] = {}
    no_fsync = work / "no-fsync"
    no_fsync.mkdir()
    (no_fsync / "sitecustomize.py").write_text(NO_FSYNC, encoding="utf-8")
    for round_number in range(rounds):
        for index, (name, (config, overrides)) in enumerate(plan.items()):
            sweep_dir = work / f"r{round_number}-v{index}"
            env = child_env()
            if name == NO_FSYNC_VARIANT:
                env["PYTHONPATH"] += os.pathsep + str(no_fsync)
            run = run_sweep(config, overrides, sweep_dir, env)
            walls[name].append(run.wall)
            cpus[name].append(run.cpu)
            if round_number == rounds - 1:
                kept[name] = sweep_dir
            else:
                shutil.rmtree(sweep_dir, ignore_errors=True)
    return walls, cpus, kept


# ---------------------------------------------------------------- end-of-sweep phases

_PHASE_CODE = r"""
import json, shutil, sys, tempfile, time
from pathlib import Path
phase, sweep_dir, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

def tables_only():
    from seedsweep.report.sweep import report_sweep
    out = Path(tempfile.mkdtemp())
    report_sweep(sweep_dir, out, {"formats": [], "plots": False, "terminal": False})
    shutil.rmtree(out)

def full_report():
    from seedsweep.report.sweep import report_sweep
    out = Path(tempfile.mkdtemp())
    report_sweep(sweep_dir, out, {"terminal": False})
    shutil.rmtree(out)

def load():
    import seedsweep
    return seedsweep.load_runs(sweep_dir)

def analyze():
    import seedsweep
    seedsweep.analyze(RUNS)

def write_report():
    from seedsweep.report import write_report
    out = Path(tempfile.mkdtemp())
    write_report(ANALYSIS, RUNS, out)
    shutil.rmtree(out)

def record_study():
    from seedsweep import optuna_io
    from seedsweep.gather import read_ledger
    records, _ = read_ledger(sweep_dir / "seedsweep" / "runs.jsonl")
    plan = json.loads((sweep_dir / "seedsweep" / "plan.json").read_text())
    plan["sweep_dir"] = str(sweep_dir)
    folder = Path(tempfile.mkdtemp())
    optuna_io.record_study(list(records.values()), plan, f"sqlite:///{folder}/optuna.db", "bench")
    shutil.rmtree(folder)

if phase in ("analyze", "write_report"):
    import seedsweep
    RUNS = seedsweep.load_runs(sweep_dir)
    ANALYSIS = seedsweep.analyze(RUNS)
function = globals()[phase]
samples = []
for _ in range(repeats):
    started = time.perf_counter()
    function()
    samples.append(time.perf_counter() - started)
print(json.dumps(samples))
"""

PHASES = {
    "tables_only": "load + analyse + tables (end of a bare sweep)",
    "full_report": "load + analyse + full report (end of a default sweep)",
    "load": "load_runs",
    "analyze": "analyze",
    "write_report": "write_report (md, html, figures)",
    "record_study": "optuna_io.record_study (all runs, new SQLite file)",
}


def _time_phases(kept: dict[str, Path], phases: list[str], quick: bool) -> dict[str, tuple[float, float]]:
    """Return phase -> (first call in a fresh process, median of the warm calls after it)."""
    sweep_dir = kept["seedsweep bare"]
    repeats = 2 if quick else 4
    timings = {}
    for phase in phases:
        run = run_child([PYTHON, "-c", _PHASE_CODE, phase, str(sweep_dir), str(repeats)], env=child_env())
        check_ok(run, f"the phase {phase}")
        samples = json.loads(run.stdout.strip().splitlines()[-1])
        timings[phase] = (samples[0], statistics.median(samples[1:]))
    return timings


def _time_pieces(quick: bool) -> dict[str, float]:
    """Time the per-job pieces in one process (``sweep_pieces.py``); values in milliseconds."""
    args = [PYTHON, str(BENCH_DIR / "sweep_pieces.py")] + (["--quick"] if quick else [])
    run = run_child(args, env=child_env(), cwd=BENCH_DIR)
    check_ok(run, "sweep_pieces.py")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the table


def _section(
    walls: dict[str, list[float]],
    cpus: dict[str, list[float]],
    phases: dict[str, tuple[float, float]],
    pieces: dict[str, float],
    jobs: int,
    rounds: int,
    values: int,
) -> Section:
    section = Section(
        f"1. Sweep overhead: {jobs} no-op jobs, basic launcher",
        ["what", "jobs", "wall (median)", "wall range", "CPU (median)", "wall / basic", "extra per job"],
    )
    wall = {name: statistics.median(samples) for name, samples in walls.items()}
    cpu = {name: statistics.median(samples) for name, samples in cpus.items()}
    for name in walls:
        base = "basic, values only" if name in ("basic, values only", "seedsweep seeds=null", NO_FSYNC_VARIANT) else "basic, values x seeds"
        section.rows.append([
            name, str(jobs), seconds(wall[name]), f"{min(walls[name]):.2f}-{max(walls[name]):.2f} s",
            seconds(cpu[name]), f"{wall[name] / wall[base]:.3f}", seconds((wall[name] - wall[base]) / jobs),
        ])  # fmt: skip

    base = wall["basic, values x seeds"]
    sweep_only = wall["seedsweep bare"] - phases["tables_only"][0]
    section.rows.append([
        "seedsweep bare, less its end-of-sweep tables", str(jobs), seconds(sweep_only), "", "",
        f"{sweep_only / base:.3f}", seconds((sweep_only - base) / jobs),
    ])  # fmt: skip
    for phase, (cold, warm) in phases.items():
        section.rows.append([f"end of sweep: {PHASES[phase]}", str(jobs), seconds(cold), f"warm: {seconds(warm)}", "", "", ""])
    _add_pieces(section, pieces)

    section.targets.append(Target("seeds=null: wall / basic", wall["seedsweep seeds=null"] / wall["basic, values only"], RATIO_TARGET, "x"))
    section.targets.append(Target(f"{SEEDS} seeds x {values} values, sweep itself: wall / basic", sweep_only / base, RATIO_TARGET, "x"))
    section.notes.append(
        f"Medians of {rounds} interleaved rounds. 'seedsweep bare' turns off the Optuna study, the report "
        "documents, the figures and the terminal table; it still loads, analyses and writes the tables at the "
        "end, and that phase, timed on its own in a fresh process (imports included), is taken out for the "
        "'less its end-of-sweep tables' row. 'end of sweep' rows: first call in a fresh process, then the "
        "median of the calls after it."
    )
    section.raw = {"walls": walls, "cpus": cpus, "phases": phases, "pieces": pieces}
    return section


def _add_pieces(section: Section, pieces: dict[str, float]) -> None:
    """Add the per-job pieces timed in one process, and the composition cost seedsweep's config adds."""
    for name, milliseconds in pieces.items():
        section.rows.append([f"per job, in one process: {name}", "", seconds(milliseconds / 1000), "", "", "", ""])
    extra = pieces["compose seedsweep_noseed"] - pieces["compose basic"]
    section.rows.append([
        "per job: composing seedsweep's config, twice (validation, launch), less basic's", "",
        seconds(2 * extra / 1000), "", "", "", "",
    ])  # fmt: skip


if __name__ == "__main__":
    started = time.perf_counter()
    result = measure(quick="--quick" in sys.argv)
    for row in result.rows:
        print(" | ".join(row))
    for target in result.targets:
        print(target.row())
    print(f"{time.perf_counter() - started:.1f} s")
