"""Helpers shared by the tests: the repository root and a Hydra app runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_APP = REPO_ROOT / "train.py"
FAULT_APP = REPO_ROOT / "tests" / "apps" / "faults" / "app.py"


def run_hydra(
    app_path: str | os.PathLike[str],
    *args: str,
    cwd: str | os.PathLike[str],
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Hydra app in a fresh Python process and wait for it.

    The child imports this checkout first (``PYTHONPATH`` starts with the
    repository root, so ``seedsweep`` and ``hydra_plugins`` resolve here), and
    ``HYDRA_FULL_ERROR`` is removed so errors print as a user would see them.

    Args:
        app_path: the app's script, for example ``FAULT_APP``.
        *args: command-line arguments, for example ``"-m"``, ``"x=1,2"``.
        cwd: working directory; Hydra writes ``outputs/`` or ``multirun/`` there.
        timeout: seconds before ``subprocess.TimeoutExpired`` is raised.
        env: extra environment variables for the child.

    Returns:
        The finished process, with ``stdout`` and ``stderr`` as text. The exit
        code is not checked.
    """
    child_env = dict(os.environ)
    child_env.pop("HYDRA_FULL_ERROR", None)
    child_env.update(env or {})
    inherited = child_env.get("PYTHONPATH")
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), inherited]))

    return subprocess.run(
        [sys.executable, str(app_path), *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
