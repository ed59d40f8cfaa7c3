"""Gather the run records of a launched batch from the jobs' own folders.

Each job writes its record itself, so nothing here depends on pickled return
values surviving a remote trip. A job without a record is still accounted
for: classified from its returned value when the launcher handed one back,
else ``missing`` with what is known (a started marker means it was killed or
interrupted).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Mapping
from typing import Sequence

from seedsweep.callback import override_values
from seedsweep.callback import relative_job_dir
from seedsweep.records import RECORD_FILE
from seedsweep.records import STARTED_FILE
from seedsweep.records import TRACEBACK_FILE
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import Unreadable
from seedsweep.records import classify_exception
from seedsweep.records import classify_return
from seedsweep.records import read_jsonl
from seedsweep.records import read_record

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

    from seedsweep.plan import Job

log = logging.getLogger(__name__)


def collect(
    batch: Sequence[Job],
    returns: Sequence[JobReturn] | None,
    sweep_dir: Path,
    settings: Mapping[str, Any],
    interrupted: bool = False,
) -> list[RunRecord]:
    """Return one record per job of the batch, in job order.

    Args:
        batch: the jobs that were launched.
        returns: the launcher's job returns, or None when the launcher failed
            or the batch was interrupted.
        sweep_dir: ``hydra.sweep.dir``.
        settings: the sweeper's settings (metric, direction, divergence).
        interrupted: the batch was stopped by Ctrl-C.
    """
    finder = JobDirFinder(sweep_dir)
    records = []
    for index, job in enumerate(batch):
        job_return = returns[index] if returns is not None and index < len(returns) else None
        job_dir = _returned_job_dir(job_return) or finder.find(job.job)
        record = _record_for(job, job_dir, job_return, sweep_dir, settings, interrupted)
        records.append(_complete(record, job))
    return records


def _record_for(
    job: Job,
    job_dir: Path | None,
    job_return: JobReturn | None,
    sweep_dir: Path,
    settings: Mapping[str, Any],
    interrupted: bool,
) -> RunRecord:
    if job_dir is not None and (job_dir / RECORD_FILE).exists():
        return _read_job_record(job, job_dir, sweep_dir)
    if job_return is not None:
        return _record_from_return(job, job_return, job_dir, sweep_dir, settings)
    return _missing_record(job, job_dir, sweep_dir, interrupted)


def _read_job_record(job: Job, job_dir: Path, sweep_dir: Path) -> RunRecord:
    path = job_dir / RECORD_FILE
    try:
        return read_record(path)
    except (OSError, ValueError) as error:
        log.warning(f"Unreadable record {path}: {error}")
        record = not_run_record(job, f"unreadable record: {path}: {error}")
        record.job_dir = relative_job_dir(job_dir, sweep_dir)
        return record


def _record_from_return(
    job: Job, job_return: JobReturn, job_dir: Path | None, sweep_dir: Path, settings: Mapping[str, Any]
) -> RunRecord:
    """Classify a job that wrote no record (its recording callback was removed) from its return."""
    from hydra.core.utils import JobStatus

    record = not_run_record(job, None)
    record.job_dir = relative_job_dir(job_dir, sweep_dir) if job_dir is not None else None
    record.metric = settings.get("metric")
    value = job_return._return_value

    if job_return.status == JobStatus.COMPLETED:
        outcome = classify_return(
            value, settings.get("metric"), settings.get("direction", "minimize"), settings.get("divergence")
        )
        record.status, record.value, record.metrics, record.reason = (
            outcome.status,
            outcome.value,
            outcome.metrics,
            outcome.reason,
        )
    elif isinstance(value, BaseException):
        record.status, record.reason = classify_exception(value)
        record.error_type = type(value).__name__
    else:
        record.status, record.reason = RunStatus.CRASHED, f"job failed with status {job_return.status}"
    return record


def _missing_record(job: Job, job_dir: Path | None, sweep_dir: Path, interrupted: bool) -> RunRecord:
    marker = _read_marker(job_dir / STARTED_FILE) if job_dir is not None else None
    if marker is not None:
        reason = (
            f"started at {marker.get('started_at')} on {marker.get('host')} (pid {marker.get('pid')}) "
            "but wrote no record: the job was killed or interrupted"
        )
    elif interrupted:
        reason = "no record: the sweep was interrupted before this job finished"
    else:
        reason = "no record: the job never started or its folder was not found"

    record = not_run_record(job, reason)
    if job_dir is not None:
        record.job_dir = relative_job_dir(job_dir, sweep_dir)
    return record


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def not_run_record(job: Job, reason: str | None) -> RunRecord:
    """Return a ``missing`` record for a job, built from the plan alone."""
    return RunRecord(
        job=job.job,
        job_dir=None,
        overrides=list(job.overrides),
        params=override_values(list(job.overrides)),
        seed=job.seed,
        status=RunStatus.MISSING,
        reason=reason,
    )


def _complete(record: RunRecord, job: Job) -> RunRecord:
    """Make the record agree with the plan on the job number and the seed."""
    if record.job != job.job:
        log.warning(f"Record for job {job.job} names job {record.job}; keeping the plan's number")
        record.job = job.job
    if record.seed is None:
        record.seed = job.seed
    return record


def _returned_job_dir(job_return: JobReturn | None) -> Path | None:
    if job_return is None or job_return.hydra_cfg is None:
        return None
    output_dir = job_return.hydra_cfg.hydra.runtime.output_dir
    return Path(str(output_dir)) if output_dir else None


class JobDirFinder:
    """Finds a job's folder from the job number in its started marker.

    Hydra's default sub-folder is the job number; other ``hydra.sweep.subdir``
    patterns are found by scanning the sweep dir once.
    """

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.index: dict[int, Path] | None = None

    def find(self, job: int) -> Path | None:
        default = self.sweep_dir / str(job)
        if _marker_job(default / STARTED_FILE) == job:
            return default
        if self.index is None:
            self.index = self._scan()
        return self.index.get(job)

    def _scan(self) -> dict[int, Path]:
        index = {}
        for marker in self.sweep_dir.rglob(STARTED_FILE):
            number = _marker_job(marker)
            if number is not None:
                index[number] = marker.parent
        return index


def _marker_job(path: Path) -> int | None:
    marker = _read_marker(path)
    if marker is None or not isinstance(marker.get("job"), int):
        return None
    return marker["job"]


def read_ledger(path: Path) -> tuple[dict[int, RunRecord], list[Unreadable]]:
    """Read the ledger: the newest record of each job, and the lines that could not be read."""
    if not path.exists():
        return {}, []
    rows, problems = read_jsonl(path)
    records: dict[int, RunRecord] = {}
    for row in rows:
        try:
            record = RunRecord.from_dict(row)
        except (TypeError, ValueError) as error:
            problems.append(Unreadable(str(path), None, f"not a run record ({error})"))
            continue
        if record.job is not None:
            records[record.job] = record
    return records, problems


ATTEMPTS_DIR = "seedsweep.attempts"
_ATTEMPT_FILES = (RECORD_FILE, STARTED_FILE, TRACEBACK_FILE)


def archive_attempt(record: RunRecord, sweep_dir: Path) -> None:
    """Move a job's files from an earlier attempt aside before the job runs again.

    They go to ``<job dir>/seedsweep.attempts/<n>/``, so a new attempt that is
    killed is not mistaken for the old one, and the old files are kept.
    """
    if record.job_dir is None:
        return
    job_dir = sweep_dir / record.job_dir
    present = [name for name in _ATTEMPT_FILES if (job_dir / name).exists()]
    if not present:
        return

    attempts = job_dir / ATTEMPTS_DIR
    number = 1
    while (attempts / str(number)).exists():
        number += 1
    target = attempts / str(number)
    target.mkdir(parents=True)
    for name in present:
        (job_dir / name).rename(target / name)


def first_line_of(error: BaseException) -> str:
    """Return the first line of an exception's message, or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# Seconds by which a process's start time, read from /proc in clock ticks,
# may seem later than a marker its own code wrote.
PROCESS_START_SLACK = 1.0


def still_running_here(job_dir: Path) -> dict[str, Any] | None:
    """Return a job's started marker when the process it names still runs on this host.

    A sweeper killed with SIGKILL can leave its launcher's workers running
    their jobs. On Linux, a process that started after the marker was
    written is another one that reuses the pid, so it does not count.

    NOTE: without /proc (macOS), any live process with the marker's pid
    counts, so a pid reused by another program blocks the resume until it ends.
    """
    marker = _read_marker(job_dir / STARTED_FILE)
    if marker is None or marker.get("host") != socket.gethostname():
        return None
    pid = marker.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return None
    if not _process_exists(pid):
        return None
    started = _process_start(pid)
    written = _timestamp(marker.get("started_at"))
    if started is not None and written is not None and started > written + PROCESS_START_SLACK:
        return None
    return marker


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # the process exists but belongs to another user
    return True


def _process_start(pid: int) -> float | None:
    """Return a process's start as a Unix time, from /proc on Linux; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, IndexError, StopIteration):
        return None
    # After the command name: field 3 is the state, field 22 the start in clock ticks after boot.
    return int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def has_started(job: Job, sweep_dir: Path) -> bool:
    """Tell whether a job wrote its started marker (it began running)."""
    return JobDirFinder(sweep_dir).find(job.job) is not None
