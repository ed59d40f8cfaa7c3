"""Run seedsweep's benchmarks and print the results as markdown.

    PYTHONPATH=. python benchmarks/run.py            # full run, for BENCHMARKS.md
    PYTHONPATH=. python benchmarks/run.py --quick    # smaller sizes, under a minute
    PYTHONPATH=. python benchmarks/run.py --only analysis,loading

The benchmarks are not tests: a missed target is printed, not raised, and
the exit status is 0 unless a benchmark itself fails. Each benchmark runs
what it measures in child processes (see its module docstring).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_analysis  # noqa: E402
import bench_loading  # noqa: E402
import bench_report  # noqa: E402
import bench_startup  # noqa: E402
import bench_sweep  # noqa: E402
from common import Section  # noqa: E402
from common import machine  # noqa: E402

BENCHMARKS = {
    "sweep": bench_sweep.measure,
    "analysis": bench_analysis.measure,
    "loading": bench_loading.measure,
    "startup": bench_startup.measure,
    "report": bench_report.measure,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure seedsweep's own cost and print markdown.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (under a minute)")
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks to run, from: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, help="also write every raw sample to this JSON file")
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    started = time.perf_counter()
    print(_header(args.quick))
    sections = []
    for name in names:
        section_started = time.perf_counter()
        section = BENCHMARKS[name](args.quick)
        sections.append(section)
        print(_render(section, time.perf_counter() - section_started), flush=True)

    print(_targets(sections))
    print(f"Total time: {time.perf_counter() - started:.0f} s.")
    if args.json:
        raw = {section.title: section.raw for section in sections}
        args.json.write_text(json.dumps(raw, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


def _header(quick: bool) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(shlex.quote(part) for part in [Path(sys.executable).name, *sys.argv])
    lines = [f"Run on {now}: `{command}`{' (quick)' if quick else ''}", "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine().items()]
    return "\n".join(lines) + "\n"


def _render(section: Section, elapsed: float) -> str:
    lines = [f"## {section.title}", "", _table(section.columns, section.rows)]
    for note in section.notes:
        lines += ["", note]
    lines += ["", f"(This benchmark took {elapsed:.0f} s.)", ""]
    return "\n".join(lines)


def _targets(sections: list[Section]) -> str:
    rows = [target.row() for section in sections for target in section.targets]
    return "\n".join(["## Targets", "", _table(["target", "measured", "limit", ""], rows), ""])


def _table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
