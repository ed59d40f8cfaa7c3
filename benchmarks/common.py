"""Timing, child processes and the machine description shared by the benchmarks.

Every benchmark returns a ``Section``: a table of measured rows and the
targets it checks. ``run.py`` prints the sections as markdown.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable


@dataclass
class Target:
    """One target: a measured number against its limit, an upper bound unless ``at_least``."""

    label: str
    measured: float
    limit: float
    unit: str
    at_least: bool = False

    @property
    def met(self) -> bool:
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def row(self) -> list[str]:
        verdict = "met" if self.met else "MISSED"
        bound = ">=" if self.at_least else "<="
        return [self.label, f"{self.measured:.4g} {self.unit}".strip(), f"{bound} {self.limit:.4g} {self.unit}".strip(), verdict]


@dataclass
class Section:
    """The result of one benchmark: a title, a table, its targets and notes."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def child_env(with_repo: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a child Python: the repository first on PYTHONPATH, or absent."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("PYTHONPATH", None)
    if with_repo:
        env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra or {})
    return env


@dataclass
class ChildRun:
    """A finished child process: wall seconds, CPU seconds (user + sys) and its output."""

    wall: float
    cpu: float
    returncode: int
    stdout: str
    stderr: str


def run_child(
    args: Sequence[str], *, env: dict[str, str], cwd: Path | str | None = None, timeout: float = 900
) -> ChildRun:
    """Run a command and measure its wall time and the CPU time it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ChildRun(wall, cpu, completed.returncode, completed.stdout, completed.stderr)


def check_ok(run: ChildRun, what: str) -> None:
    """Raise with the child's stderr when it failed, so a broken benchmark is not timed."""
    if run.returncode != 0:
        raise RuntimeError(f"{what} exited with {run.returncode}:\n{run.stderr[-3000:]}")


def machine() -> dict[str, str]:
    """Describe the machine, the interpreter and the packages the numbers depend on."""
    from importlib import metadata

    info = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _memory(),
        "OS": _os_name(),
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    for package in ("numpy", "pandas", "scipy", "matplotlib", "optuna", "hydra-core", "omegaconf", "PyYAML", "SQLAlchemy"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["BLAS"] = _blas()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                kib = int(line.split()[1])
                return f"{kib / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _blas() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl describes)

    described = []
    for pool in threadpoolctl.threadpool_info():
        described.append(f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, {pool.get('num_threads')} threads)")
    return "; ".join(described) or "none found"


def seconds(value: float) -> str:
    """Format seconds with a unit that keeps three significant digits readable; negative too."""
    size = abs(value)
    if size < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if size < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def mebibytes(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"
