"""Analysis throughput: ``seedsweep.analyze`` on synthetic run tables against the per-seed loop.

Each table size runs in its own child process (this file with ``--child``),
so the memory figures start from a clean interpreter:

- ``analyze`` time: median of repeated calls after one untimed call (the
  first call also imports scipy and fills caches);
- peak memory: tracemalloc's peak during one ``analyze`` call, counted from
  the start of the call (numpy and pandas report their buffers to
  tracemalloc), and the growth of the process's peak RSS over the call;
- the loop of ``loop_method.py`` on the same table. On the large table it
  runs on some of the groups, and its time is scaled up by the number of
  groups: every group has the same number of seeds and values, and the
  loop handles one group at a time.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import tracemalloc

from common import BENCH_DIR
from common import PYTHON
from common import Section
from common import Target
from common import check_ok
from common import child_env
from common import mebibytes
from common import run_child
from common import seconds

GROUPS = 10
VALUES = 100
SEED_COUNTS = (10, 100, 1000)
TIME_TARGET = 1.0
SPEEDUP_TARGET = 100.0
MEMORY_TARGET = 4.0


def measure(quick: bool) -> Section:
    section = Section(
        f"2. Analysis throughput: {GROUPS} groups x {VALUES} values x seeds, 1% failed runs",
        ["rows", "table memory", "analyze (median)", "loop", "loop / analyze", "peak memory during analyze", "peak / table", "peak RSS growth, first call"],
    )
    results = []
    for seeds in SEED_COUNTS:
        repeats = 5 if seeds < 1000 else 3
        if quick:
            repeats = 2
        loop_groups = _loop_groups(seeds, quick)
        run = run_child(
            [PYTHON, str(BENCH_DIR / "bench_analysis.py"), "--child", str(seeds), str(repeats), str(loop_groups)],
            env=child_env(),
            cwd=BENCH_DIR,
        )
        check_ok(run, f"the analysis benchmark with {seeds} seeds")
        result = json.loads(run.stdout.strip().splitlines()[-1])

        results.append(result)
        if quick:
            result["rss_growth_bytes"] = None
            continue
        # A fixed mmap threshold slows numpy's large allocations, so the RSS figure gets its own child.
        run = run_child(
            [PYTHON, str(BENCH_DIR / "bench_analysis.py"), "--rss", str(seeds)],
            env=child_env(extra={"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}),
            cwd=BENCH_DIR,
        )
        check_ok(run, f"the RSS measurement with {seeds} seeds")
        result["rss_growth_bytes"] = json.loads(run.stdout.strip().splitlines()[-1])

    for result in results:
        loop = result["loop_seconds"] * GROUPS / result["loop_groups"]
        analyze = statistics.median(result["analyze"])
        scaled = "" if result["loop_groups"] == GROUPS else f" ({result['loop_groups']} of {GROUPS} groups, scaled)"
        section.rows.append([
            f"{result['rows']:,}", mebibytes(result["table_bytes"]), seconds(analyze), seconds(loop) + scaled,
            f"{loop / analyze:.0f}x", mebibytes(result["peak_bytes"]), f"{result['peak_bytes'] / result['table_bytes']:.2f}",
            "n/a" if result["rss_growth_bytes"] is None else mebibytes(result["rss_growth_bytes"]),
        ])  # fmt: skip
        result["loop_scaled"] = loop

    largest = results[-1]
    analyze = statistics.median(largest["analyze"])
    section.targets.append(Target(f"analyze, {largest['rows']:,} rows", analyze, TIME_TARGET, "s"))
    section.targets.append(Target("speed-up of analyze over the loop, largest table", largest["loop_scaled"] / analyze, SPEEDUP_TARGET, "x", at_least=True))
    section.targets.append(Target("peak memory during analyze / table memory, largest table", largest["peak_bytes"] / largest["table_bytes"], MEMORY_TARGET, "x"))
    section.notes.append(
        "Table memory is DataFrame.memory_usage(deep=True).sum(). The loop is loop_method.py: pandas selection "
        "per group and per seed, numpy per seed, scipy per value; it skips the power calculation, the "
        "false-alarm chance and the failure table that analyze also computes, and its t-statistics are "
        "checked against analyze's (to 1e-9) before any time is reported."
    )
    section.raw = {"results": results}
    return section


def _loop_groups(seeds: int, quick: bool) -> int:
    if quick:
        return 1
    return 2 if seeds >= 1000 else GROUPS


# ---------------------------------------------------------------- child process


def child(seeds: int, repeats: int, loop_groups: int) -> dict:
    import seedsweep
    from loop_method import loop_analyze
    from synthetic import GROUP
    from synthetic import METRIC
    from synthetic import PARAM
    from synthetic import run_table

    import seedsweep.stats  # noqa: F401  (its imports stay out of the memory figures)

    runs = run_table(GROUPS, VALUES, seeds)
    options = {"param": PARAM, "metric": METRIC, "groups": [GROUP]}
    analysis = seedsweep.analyze(runs, **options)

    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        seedsweep.analyze(runs, **options)
        samples.append(time.perf_counter() - started)

    peak = _traced_peak_of_one_call(lambda: seedsweep.analyze(runs, **options))

    chosen = sorted(runs[GROUP].unique())[:loop_groups]
    loop_runs = runs[runs[GROUP].isin(chosen)]
    started = time.perf_counter()
    t_by_value = loop_analyze(loop_runs, PARAM, METRIC, GROUP)
    loop_seconds = time.perf_counter() - started
    _check_same_t(analysis, t_by_value)

    return {
        "rows": len(runs),
        "table_bytes": int(runs.memory_usage(deep=True).sum()),
        "analyze": samples,
        "peak_bytes": peak,
        "loop_seconds": loop_seconds,
        "loop_groups": loop_groups,
    }


def rss_child(seeds: int) -> int | None:
    import seedsweep
    import seedsweep.stats  # noqa: F401  (its imports stay out of the figure)
    from synthetic import GROUP
    from synthetic import METRIC
    from synthetic import PARAM
    from synthetic import run_table

    runs = run_table(GROUPS, VALUES, seeds)
    return _rss_growth_of_one_call(lambda: seedsweep.analyze(runs, param=PARAM, metric=METRIC, groups=[GROUP]))


def _traced_peak_of_one_call(function) -> int:
    """Return tracemalloc's peak over one call, counted from the start of the call."""
    gc.collect()
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _rss_growth_of_one_call(function) -> int | None:
    """Return the peak RSS over one call less the RSS before it, or None off Linux.

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the
    current RSS. The parent sets MALLOC_MMAP_THRESHOLD_, so glibc maps every
    large block on its own and unmaps it when freed: without it, blocks freed
    while the table was built would stay resident and hide the call's peak.
    """
    gc.collect()
    rss_before = _reset_peak_rss()
    function()
    rss_peak = _status_kib("VmHWM")
    if rss_before is None or rss_peak is None:
        return None
    return (rss_peak - rss_before) * 1024


def _reset_peak_rss() -> int | None:
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _check_same_t(analysis, t_by_value: dict) -> None:
    import math

    from synthetic import GROUP

    summary = analysis.summary
    for (group, value), t in t_by_value.items():
        row = summary[(summary["group"] == f"{GROUP}={group}") & (summary["value"] == value)]
        expected = float(row["t"].iloc[0])
        if math.isfinite(expected) and abs(expected - t) > 1e-9 * max(1.0, abs(t)):
            raise AssertionError(f"loop t {t} differs from analyze's {expected} for {group}, {value}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        print(json.dumps(rss_child(int(sys.argv[2]))))
    elif sys.argv[1:2] == ["--child"]:
        seeds, repeats, loop_groups = (int(argument) for argument in sys.argv[2:5])
        print(json.dumps(child(seeds, repeats, loop_groups)))
    else:
        started = time.perf_counter()
        result = measure(quick="--quick" in sys.argv)
        for row in result.rows:
            print(" | ".join(row))
        for target in result.targets:
            print(target.row())
        print(f"{time.perf_counter() - started:.1f} s")
