"""Settings of ``hydra/sweeper=seedsweep``, registered in Hydra's ConfigStore.

``python train.py --cfg hydra -p hydra.sweeper`` shows them with their values.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

from hydra.core.config_store import ConfigStore


@dataclass
class ReportConf:
    # Folder for the ledger, the report, the tables and the figures,
    # relative to hydra.sweep.dir.
    dir: str = "seedsweep"
    # Report documents to write: any of md, html. An empty list writes only
    # the tables (runs.csv, summary.csv, trend.csv, failures.csv) and analysis.json.
    formats: List[str] = field(default_factory=lambda: ["md", "html"])
    # Draw the figures (figures/*.png).
    plots: bool = True
    # Figure file types: png, svg or both.
    figure_formats: List[str] = field(default_factory=lambda: ["png"])
    # Print the summary table in the terminal at the end of the sweep.
    terminal: bool = True


@dataclass
class SeedSweeperConf:
    _target_: str = "hydra_plugins.seedsweep_sweeper.seedsweep_sweeper.SeedSweeper"

    # Seeds every value runs on: a count n (seeds 0 to n-1) or a list of
    # distinct ints. null: no seed axis, the jobs are exactly the basic
    # sweeper's. A seed swept on the command line (seed=0,1,2) overrides this.
    seeds: Any = 5
    # Config key that receives the seed. Added as ++key=value when the task's
    # config has no such key.
    seed_key: str = "seed"
    # Key of the metric in the mapping the task returns (dots walk nested
    # mappings, an exact key wins). null: the task returns one number.
    metric: Optional[str] = None
    # minimize (lower is better, as in Optuna) or maximize.
    direction: str = "minimize"
    # Sweep definitions, as in the basic sweeper: {lr: "1e-4,3e-4,1e-3"}.
    params: Optional[Dict[str, str]] = None
    # Swept keys that only form groups; groups are never compared.
    groups: List[str] = field(default_factory=list)
    # Reference value of the study parameter for effects in metric units.
    # null: the best value by mean z-score.
    baseline: Any = None
    # Trend axis: auto (log10 when all values are positive and max/min >= 100),
    # linear or log.
    scale: str = "auto"
    # |t| above which a value is reliably better or worse (with n >= 4 seeds).
    t_threshold: float = 2.0
    # seed: the |t| > t_threshold rule. strict: Holm-adjusted p < 0.05.
    verdict_rule: str = "seed"
    # Bound in the metric's units beyond which a finite metric counts as
    # diverged: above it for minimize, below it for maximize. null: only NaN
    # and inf diverge.
    divergence: Optional[float] = None
    # Jobs per launcher batch; null: one batch (run by run with the basic launcher).
    max_batch_size: Optional[int] = None
    # continue: a failed run never stops the sweep. stop: launch no further
    # batch after one in which a run crashed, was invalid or went missing
    # (diverged runs are findings and never stop the sweep).
    on_failure: str = "continue"
    # Continue the sweep in the same hydra.sweep.dir: run only the jobs
    # without a finished record. The sweep definition must be unchanged.
    resume: bool = False
    # On resume, run crashed and missing jobs again. false: keep their records.
    retry_crashed: bool = True
    # What the end-of-sweep report writes.
    report: ReportConf = field(default_factory=ReportConf)
    # Optuna storage for the study record: "sqlite" (a file optuna.db in the
    # report dir), any SQLAlchemy URL, or an Optuna journal file
    # (journal:///path.log). null: no study record.
    storage: Optional[str] = "sqlite"
    # Optuna study name. null: the sweep dir's name.
    study_name: Optional[str] = None


# The recording callback reads its settings from hydra.sweeper when the job
# starts. Every job's config is copied several times, so each extra node costs.
RECORD_CALLBACK = {"_target_": "seedsweep.callback.RecordCallback", "from_sweeper": True}

# Stored at package "hydra", so that selecting hydra/sweeper=seedsweep sets
# both hydra.sweeper and the recording callback in hydra.callbacks. The outer
# node is a plain mapping: a dataclass there would type the whole hydra node.
ConfigStore.instance().store(
    group="hydra/sweeper",
    name="seedsweep",
    node={"sweeper": SeedSweeperConf, "callbacks": {"seedsweep": RECORD_CALLBACK}},
    package="hydra",
    provider="seedsweep",
)
