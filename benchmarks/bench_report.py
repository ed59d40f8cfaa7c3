"""Report generation: ``seedsweep.report.write_report`` for a demo-sized sweep and a large one.

Each size runs in a fresh child process. The first call also imports
matplotlib and the report modules, so it is shown on its own. The median of
the calls after it is the steady cost. ``plots=False`` shows how much of it
the figures take. The run tables are synthetic (``synthetic.py``), with one
study parameter, no groups and 1% failed runs, analysed by
``seedsweep.analyze`` before any timing.
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
from common import check_ok
from common import child_env
from common import run_child
from common import seconds

SIZES = ((3, 5), (100, 50))


def measure(quick: bool) -> Section:
    repeats = 1 if quick else 5
    section = Section(
        "5. Report generation (write_report: md, html, png figures)",
        ["values x seeds", "runs", "first call", "median after", "median, plots=False", "files", "size on disk"],
    )
    results = []
    for values, seeds in SIZES:
        run = run_child([PYTHON, str(BENCH_DIR / "bench_report.py"), "--child", str(values), str(seeds), str(repeats)], env=child_env(), cwd=BENCH_DIR)
        check_ok(run, f"the report benchmark for {values} x {seeds}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        results.append(result)
        section.rows.append([
            f"{values} x {seeds}", str(result["runs"]), seconds(result["with_plots"][0]),
            seconds(statistics.median(result["with_plots"][1:])), seconds(statistics.median(result["without_plots"])),
            str(result["files"]), f"{result['bytes'] / 1024:.0f} KiB",
        ])  # fmt: skip
    section.notes.append(
        f"Medians of the {repeats} call(s) after the first, in one child process per size; the report folder is "
        "new for every call. Figures: paired lines, z by value, t by value, trend and status grid."
    )
    section.raw = {"results": results}
    return section


def child(values: int, seeds: int, repeats: int) -> dict:
    import seedsweep
    from seedsweep.report import write_report
    from synthetic import single_group_table

    runs = single_group_table(values, seeds)
    analysis = seedsweep.analyze(runs)

    def timed(plots: bool) -> tuple[float, int, int]:
        out_dir = Path(tempfile.mkdtemp(prefix="seedsweep-bench-report-"))
        try:
            started = time.perf_counter()
            written = write_report(analysis, runs, out_dir, plots=plots)
            elapsed = time.perf_counter() - started
            sizes = sum(path.stat().st_size for path in written)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        return elapsed, len(written), sizes

    with_plots = []
    for _ in range(repeats + 1):
        elapsed, files, size = timed(plots=True)
        with_plots.append(elapsed)
    without_plots = [timed(plots=False)[0] for _ in range(repeats)]
    return {"runs": len(runs), "with_plots": with_plots, "without_plots": without_plots, "files": files, "bytes": size}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        values, seeds, repeats = (int(argument) for argument in sys.argv[2:5])
        print(json.dumps(child(values, seeds, repeats)))
    else:
        started = time.perf_counter()
        result = measure(quick="--quick" in sys.argv)
        for row in result.rows:
            print(" | ".join(row))
        print(f"{time.perf_counter() - started:.1f} s")
