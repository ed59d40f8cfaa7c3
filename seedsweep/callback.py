"""Hydra callback that records each job's outcome in the job's own process.

At job start it writes a started marker into the job's output dir
(``hydra.runtime.output_dir``, not the working directory), so a job that is
killed or interrupted is later found as ``missing``. At job end it classifies
the outcome and writes ``<job dir>/seedsweep.json`` atomically.

Selecting ``hydra/sweeper=seedsweep`` installs this callback. With any other
sweeper, add it yourself::

    python train.py -m seed=0,1,2 lr=1e-4,1e-3 \\
        +hydra.callbacks.seedsweep._target_=seedsweep.callback.RecordCallback \\
        +hydra.callbacks.seedsweep.metric=val_loss
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import traceback
from datetime import datetime
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from omegaconf import OmegaConf

from seedsweep.records import RECORD_FILE
from seedsweep.records import STARTED_FILE
from seedsweep.records import TRACEBACK_FILE
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import classify_exception
from seedsweep.records import classify_return
from seedsweep.records import first_line
from seedsweep.records import write_json_atomic

if TYPE_CHECKING:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.utils import JobReturn

log = logging.getLogger(__name__)


class RecordCallback(Callback):
    """Write one run record per job.

    Args:
        metric: key of the metric in the task's returned mapping; None when
            the task returns one number.
        direction: ``minimize`` or ``maximize``; turns the divergence bound.
        divergence: bound beyond which a finite metric counts as diverged.
        seed_key: config key that contains the run's seed.
        from_sweeper: take the four settings above from seedsweep's own
            (``hydra.sweeper``) at each job's start instead. The sweeper
            installs the callback this way, so the job's config does not
            repeat them.
    """

    def __init__(
        self,
        metric: str | None = None,
        direction: str = "minimize",
        divergence: float | None = None,
        seed_key: str = "seed",
        from_sweeper: bool = False,
    ) -> None:
        self.metric = metric
        self.direction = direction
        self.divergence = divergence
        self.seed_key = seed_key
        self.from_sweeper = from_sweeper
        self._started_at: datetime | None = None
        self._start_clock = 0.0

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.from_sweeper:
            self._use_sweeper_settings(config.hydra.sweeper)
        job_dir = Path(config.hydra.runtime.output_dir)
        self._started_at = datetime.now(timezone.utc)
        self._start_clock = time.perf_counter()

        marker = {
            "job": _job_number(config),
            "overrides": _task_overrides(config),
            "started_at": self._started_at.isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        # Not synced to disk: the marker must outlast a killed job, which the page
        # cache ensures. A power cut that loses it also ends the job, which then
        # reads as never started and runs again on resume.
        write_json_atomic(job_dir / STARTED_FILE, marker, sync=False)

    def _use_sweeper_settings(self, sweeper: DictConfig) -> None:
        self.metric = sweeper.metric
        self.direction = sweeper.direction
        self.divergence = sweeper.divergence
        self.seed_key = sweeper.seed_key

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        job_dir = Path(config.hydra.runtime.output_dir)
        record = self.build_record(config, job_return, job_dir)
        write_json_atomic(job_dir / RECORD_FILE, record.to_dict())

        if record.status is not RunStatus.OK:
            log.warning(f"Run {_describe_run(record)} {record.status}: {record.reason}")

    def build_record(self, config: DictConfig, job_return: JobReturn, job_dir: Path) -> RunRecord:
        """Classify a finished job into a run record (also used by the sweeper's fallback)."""
        overrides = _task_overrides(config)
        record = RunRecord(
            job=_job_number(config),
            job_dir=relative_job_dir(job_dir, config.hydra.sweep.dir),
            overrides=overrides,
            params=override_values(overrides),
            seed=_seed(config, self.seed_key),
            status=RunStatus.OK,
            metric=self.metric,
            finished_at=datetime.now(timezone.utc).isoformat(),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        if self._started_at is not None:
            record.started_at = self._started_at.isoformat()
            record.duration = time.perf_counter() - self._start_clock

        if job_return.status == JobStatus.COMPLETED:
            self._fill_return(record, job_return._return_value)
        else:
            self._fill_exception(record, job_return._return_value, job_dir)
        return record

    def _fill_return(self, record: RunRecord, returned: Any) -> None:
        outcome = classify_return(returned, self.metric, self.direction, self.divergence)
        record.status = outcome.status
        record.value = outcome.value
        record.metrics = outcome.metrics
        record.reason = outcome.reason

    def _fill_exception(self, record: RunRecord, error: Any, job_dir: Path) -> None:
        if not isinstance(error, BaseException):
            record.status = RunStatus.CRASHED
            record.reason = f"job failed without an exception (got {error!r})"
            return

        record.status, record.reason = classify_exception(error)
        record.error_type = type(error).__name__
        record.error_message = first_line(str(error))
        record.traceback_file = _save_traceback(error, job_dir)


def _save_traceback(error: BaseException, job_dir: Path) -> str | None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    path = job_dir / TRACEBACK_FILE
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as write_error:
        log.warning(f"Could not save the traceback to {path}: {write_error}")
        return None
    return TRACEBACK_FILE


def _job_number(config: DictConfig) -> int | None:
    number = OmegaConf.select(config, "hydra.job.num", default=None)
    return int(number) if number is not None else None


def _task_overrides(config: DictConfig) -> list[str]:
    overrides = OmegaConf.select(config, "hydra.overrides.task", default=None)
    return [str(item) for item in overrides] if overrides is not None else []


def _seed(config: DictConfig, seed_key: str) -> int | None:
    value = OmegaConf.select(config, seed_key, default=None)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def override_values(overrides: list[str]) -> dict[str, Any]:
    """Parse job overrides into ``{key: typed value}`` with Hydra's own parser.

    ``+`` and ``++`` prefixes are dropped, deletions (``~key``) are skipped.
    """
    values: dict[str, Any] = {}
    for override in _overrides_parser().parse_overrides(overrides):
        if override.is_delete():
            continue
        key = override.key_or_group
        if override.package:
            key = f"{key}@{override.package}"
        values[key] = _plain_value(override.value())
    return values


@functools.lru_cache(maxsize=1)
def _overrides_parser() -> OverridesParser:
    # Creating the parser costs about as much as parsing a job's overrides.
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def _plain_value(value: Any) -> Any:
    """Turn a parsed override value into plain Python (lists and dicts through OmegaConf)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return OmegaConf.to_container(OmegaConf.create({"v": value}))["v"]


def relative_job_dir(job_dir: Path, sweep_dir: Any) -> str:
    """Return the job dir relative to the sweep dir when it lies inside it, else absolute."""
    job_dir = Path(job_dir).resolve()
    try:
        return str(job_dir.relative_to(Path(str(sweep_dir)).resolve()))
    except ValueError:
        return str(job_dir)


def _describe_run(record: RunRecord) -> str:
    parts = [f"{key}={value}" for key, value in record.params.items()]
    return " ".join(parts) if parts else f"job {record.job}"
