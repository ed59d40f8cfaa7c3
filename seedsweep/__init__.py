"""seedsweep: tell a reliably better hyperparameter value from a lucky seed.

The heavy parts (pandas, scipy, matplotlib, optuna) load only when
``load_runs`` or ``analyze`` is called, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from seedsweep.records import Diverged
from seedsweep.records import RunStatus

if TYPE_CHECKING:
    import pandas as pd

    from seedsweep.stats import Analysis

__version__ = "0.1.0"
__all__ = ["Diverged", "RunStatus", "analyze", "load_runs", "__version__"]


def load_runs(source: Any, **options: Any) -> pd.DataFrame:
    """Load runs from any supported source into one tidy run table.

    See ``seedsweep.sources.load_runs`` for the sources and options.
    """
    from seedsweep.sources import load_runs as _load_runs

    return _load_runs(source, **options)


def analyze(runs: pd.DataFrame, **options: Any) -> Analysis:
    """Run the same-seed analysis on a run table.

    See ``seedsweep.stats.analyze`` for the options and the method.
    """
    from seedsweep.stats import analyze as _analyze

    return _analyze(runs, **options)
