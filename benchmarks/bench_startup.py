"""Start-up: ``seedsweep --help``, and what seedsweep's plugin adds to a Hydra app's start.

Every command runs many times, the variants interleaved, and the median
wall time is reported.

- ``python -m seedsweep --help``;
- the console script ``seedsweep --help``: seedsweep is not installed in
  the benchmark's environment, so the script is written out as pip writes
  it for ``[project.scripts] seedsweep = "seedsweep.cli:main"``;
- ``python noop_app/app.py --help`` with the repository on PYTHONPATH
  (Hydra's plugin scan finds and imports ``hydra_plugins.seedsweep_sweeper``)
  and with an empty folder on PYTHONPATH instead (the same sys.path length,
  no plugin);
- ``python -c pass``, the interpreter's own start.

``python -X importtime`` then lists what ``seedsweep --help`` imports, and
Hydra's own scan report (``--info plugins``) what importing the plugin's
modules costs.
"""

from __future__ import annotations

import re
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

APP = BENCH_DIR / "noop_app" / "app.py"
HELP_TARGET = 0.3
PLUGIN_TARGET = 0.05

# The console script pip writes for ``seedsweep = "seedsweep.cli:main"``: its
# SCRIPT_TEMPLATE (pip/_vendor/distlib/scripts.py, pip 26.3) behind a shebang.
CONSOLE_SCRIPT = f"""#!{PYTHON}
# -*- coding: utf-8 -*-
import re
import sys
if __name__ == '__main__':
    from seedsweep.cli import main
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def measure(quick: bool) -> Section:
    repeats = 5 if quick else 25
    with tempfile.TemporaryDirectory(prefix="seedsweep-bench-startup-") as work:
        script = Path(work) / "seedsweep"
        script.write_text(CONSOLE_SCRIPT, encoding="utf-8")
        empty = Path(work) / "empty"
        empty.mkdir()
        commands = {
            "python -c pass": ([PYTHON, "-c", "pass"], child_env()),
            "python -m seedsweep --help": ([PYTHON, "-m", "seedsweep", "--help"], child_env()),
            "seedsweep --help (console script)": ([PYTHON, str(script), "--help"], child_env()),
            "python app.py --help, seedsweep's plugin on PYTHONPATH": ([PYTHON, str(APP), "--help"], child_env()),
            "python app.py --help, no plugin (empty folder on PYTHONPATH)": ([PYTHON, str(APP), "--help"], child_env(extra={"PYTHONPATH": str(empty)})),
        }
        samples = _run_interleaved(commands, repeats, cwd=work)
        imports = _seedsweep_help_imports(work)
        scan = _plugin_scan_report(work)
    return _section(samples, repeats, imports, scan)


def _run_interleaved(commands: dict, repeats: int, cwd: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for name, (args, env) in commands.items():
        check_ok(run_child(args, env=env, cwd=cwd), name)
    for _ in range(repeats):
        for name, (args, env) in commands.items():
            samples[name].append(run_child(args, env=env, cwd=cwd).wall)
    return samples


def _seedsweep_help_imports(cwd: str) -> list[tuple[str, int, int]]:
    """Return (module, self µs, cumulative µs) of the slowest top-level imports of ``seedsweep --help``."""
    run = run_child([PYTHON, "-X", "importtime", "-m", "seedsweep", "--help"], env=child_env(), cwd=cwd)
    check_ok(run, "python -X importtime -m seedsweep --help")
    found = []
    for line in run.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match.group(3):
            found.append((match.group(4), int(match.group(1)), int(match.group(2))))
    return sorted(found, key=lambda item: -item[2])[:8]


def _plugin_scan_report(cwd: str) -> list[str]:
    """Return the lines of Hydra's plugin scan report that name seedsweep, and the total scan time."""
    run = run_child([PYTHON, str(APP), "--info", "plugins"], env=child_env(), cwd=cwd)
    check_ok(run, "python app.py --info plugins")
    return [line.strip() for line in run.stdout.splitlines() if "seedsweep_sweeper" in line or "scan time" in line]


def _section(samples: dict[str, list[float]], repeats: int, imports: list, scan: list[str]) -> Section:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    section = Section("4. Start-up", ["command", "median wall", "range"])
    for name, values in samples.items():
        section.rows.append([name, seconds(medians[name]), f"{seconds(min(values))}-{seconds(max(values))}"])

    with_plugin = medians["python app.py --help, seedsweep's plugin on PYTHONPATH"]
    without = medians["python app.py --help, no plugin (empty folder on PYTHONPATH)"]
    section.rows.append(["seedsweep's plugin: with less without", seconds(with_plugin - without), ""])

    section.targets.append(Target("python -m seedsweep --help", medians["python -m seedsweep --help"], HELP_TARGET, "s"))
    section.targets.append(Target("seedsweep --help (console script)", medians["seedsweep --help (console script)"], HELP_TARGET, "s"))
    section.targets.append(Target("plugin's cost on python app.py --help", with_plugin - without, PLUGIN_TARGET, "s"))

    listed = ", ".join(f"{name} {cumulative / 1000:.1f} ms" for name, _, cumulative in imports)
    section.notes.append(f"Medians of {repeats} interleaved runs. Slowest top-level imports of `python -m seedsweep --help` (cumulative, -X importtime): {listed}.")
    section.notes.append("Hydra's plugin scan (`python app.py --info plugins`): " + "; ".join(scan) + ".")
    section.raw = {"samples": samples, "imports": imports, "scan": scan}
    return section


if __name__ == "__main__":
    started = time.perf_counter()
    result = measure(quick="--quick" in sys.argv)
    for row in result.rows:
        print(" | ".join(row))
    for target in result.targets:
        print(target.row())
    for note in result.notes:
        print(note)
    print(f"{time.perf_counter() - started:.1f} s")
