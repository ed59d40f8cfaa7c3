"""The sweep loop: plan, launch batch by batch, gather the run records, report.

The story of a sweep:

1. validate the settings and expand the overrides into the plan (``plan.py``);
2. save ``multirun.yaml`` and ``seedsweep/plan.json``, or on resume check
   that the recorded plan matches and skip the finished jobs;
3. launch batch by batch. After each batch, gather the records that the
   jobs wrote into their own folders, append them to the ledger, log one
   line per run and record them in the Optuna study;
4. analyse the ledger and write the report, then exit non-zero when a run
   crashed or went missing.

A failed job never stops the sweep unless ``on_failure=stop``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Iterator
from typing import Mapping
from typing import Sequence

from omegaconf import DictConfig
from omegaconf import OmegaConf

from seedsweep import gather
from seedsweep.plan import Job
from seedsweep.plan import Plan
from seedsweep.plan import PlanError
from seedsweep.plan import build_plan
from seedsweep.plan import compare_plans
from seedsweep.plan import split_batches
from seedsweep.plan import validate_settings
from seedsweep.records import FINISHED_STATUSES
from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import append_jsonl
from seedsweep.records import write_json_atomic

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn
    from hydra.plugins.launcher import Launcher
    from hydra.types import HydraContext
    from hydra.types import TaskFunction

log = logging.getLogger(__name__)

LEDGER_FILE = "runs.jsonl"
PLAN_FILE = "plan.json"
REPORT_ERROR_FILE = "report-error.txt"
REPORT_WRITTEN = "written"
NO_ANALYSIS = "no analysis"
REPORT_FAILED = "failed"
EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130
# Statuses that make the sweep's exit status non-zero: the run itself broke.
# Diverged and invalid runs are findings about the study, not broken runs.
BROKEN_STATUSES = frozenset({RunStatus.CRASHED, RunStatus.MISSING})
# Statuses that stop the sweep with on_failure=stop.
STOP_STATUSES = frozenset({RunStatus.CRASHED, RunStatus.INVALID, RunStatus.MISSING})


def stop_with_usage_error(message: str) -> None:
    """Print a one-line error and exit with status 2, without a traceback."""
    sys.stderr.write(f"seedsweep: error: {message}\n")
    sys.exit(EXIT_USAGE)


class SweepRunner:
    """Runs one sweep for ``hydra_plugins.seedsweep_sweeper.SeedSweeper``."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from hydra.core.plugins import Plugins

        self.raw = _plain(settings)
        self.hydra_context = hydra_context
        self.config = config
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.out_dir = self.sweep_dir / str(self.raw.get("report", {}).get("dir", "seedsweep"))
        self.ledger = self.out_dir / LEDGER_FILE
        self.progress = Progress()
        self.study = StudyWriter(self.raw, self.out_dir, self.sweep_dir)

    # ------------------------------------------------------------ the sweep

    def sweep(self, arguments: Sequence[str]) -> list[Sequence[JobReturn]]:
        plan = self._plan(arguments)
        recorded = self._prepare_dir(plan)
        todo = self._jobs_to_run(plan, recorded)
        self.progress.start(total=len(plan.jobs), done=len(plan.jobs) - len(todo), params=list(plan.params))

        returns, records, interrupted = self._launch_all(plan, todo)
        all_records = {**recorded, **{record.job: record for record in records}}
        self.study.flush()

        reported = self._report(plan) if plan.has_seed_axis else REPORT_WRITTEN
        self._finish(plan, all_records, interrupted, reported)
        return returns

    def _plan(self, arguments: Sequence[str]) -> Plan:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        try:
            settings = validate_settings(self.raw)
            plan = build_plan(
                arguments,
                self.raw.get("params"),
                settings,
                parser,
                seed_key_in_config=self._has_key(settings.seed_key),
            )
        except PlanError as error:
            stop_with_usage_error(str(error))
            raise  # unreachable: stop_with_usage_error exits
        self._validate_jobs(plan)
        return plan

    def _validate_jobs(self, plan: Plan) -> None:
        """Check that every job's config composes before any job runs, as the basic sweeper does per batch."""
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        loader = self.hydra_context.config_loader
        for job in plan.jobs_to_compose():
            try:
                loader.load_sweep_config(master_config=self.config, sweep_overrides=list(job.overrides))
            except (HydraException, OmegaConfBaseException) as error:
                stop_with_usage_error(
                    f"job {job.job} ({' '.join(job.overrides)}) cannot be composed: {gather.first_line_of(error)}"
                )

    def _has_key(self, key: str) -> bool:
        task_config = OmegaConf.masked_copy(self.config, [k for k in self.config if k != "hydra"])
        return OmegaConf.select(task_config, key, default=_ABSENT) is not _ABSENT

    def _prepare_dir(self, plan: Plan) -> dict[int, RunRecord]:
        """Save the sweep's definition, or check it against the recorded one on resume."""
        plan_path = self.out_dir / PLAN_FILE
        current = json.loads(json.dumps(plan.to_dict()))
        exists = plan_path.exists() or self.ledger.exists()

        if exists and not self.raw.get("resume"):
            stop_with_usage_error(
                f"{self.sweep_dir} already holds a seedsweep sweep. To continue it, add "
                f"hydra.sweeper.resume=true; to start a new one, choose another hydra.sweep.dir."
            )
        if not exists:
            if self.raw.get("resume"):
                log.warning(f"Nothing to resume in {self.sweep_dir}: starting a new sweep there")
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
            write_json_atomic(plan_path, current)
            return {}
        recorded = self._check_resume(plan_path, current)
        return {**recorded, **self._gather_unledgered(plan, recorded)}

    def _check_resume(self, plan_path: Path, current: dict[str, Any]) -> dict[int, RunRecord]:
        if not plan_path.exists():
            stop_with_usage_error(f"cannot resume: {plan_path} is missing, so the sweep's definition is unknown.")
        recorded_plan = json.loads(plan_path.read_text(encoding="utf-8"))
        differences = compare_plans(recorded_plan, current)
        if differences:
            stop_with_usage_error(
                "cannot resume: this sweep differs from the one recorded in "
                f"{self.sweep_dir} ({'; '.join(differences)}). Run it with the same "
                "overrides and settings, or choose another hydra.sweep.dir."
            )
        records, problems = gather.read_ledger(self.ledger)
        for problem in problems:
            log.warning(f"Skipped an unreadable ledger line: {problem.describe()}")
        return records

    def _gather_unledgered(self, plan: Plan, recorded: Mapping[int, RunRecord]) -> dict[int, RunRecord]:
        """Gather the jobs that left a folder but no ledger line, and add them to the ledger.

        The sweeper appends to the ledger after each batch, so when it is
        killed, the jobs of the batch it was running have only their folders.
        A finished one is kept instead of being run again over its own record,
        and a killed one is moved aside like any other earlier attempt.
        """
        unledgered = [job for job in plan.jobs if job.job not in recorded]
        if not unledgered:
            return {}
        found = gather.collect(unledgered, None, self.sweep_dir, self.raw)
        records = [record for record in found if record.job_dir is not None]
        self._check_none_running(records)
        if records:
            append_jsonl(self.ledger, [record.to_dict() for record in records])
            log.info(f"Gathered {len(records)} runs that the ledger lacked from their folders")
        return {record.job: record for record in records}

    def _check_none_running(self, records: Sequence[RunRecord]) -> None:
        """Stop the resume while a job without a record still runs on this host."""
        for record in records:
            if record.status is not RunStatus.MISSING or record.job_dir is None:
                continue
            marker = gather.still_running_here(self.sweep_dir / record.job_dir)
            if marker is not None:
                stop_with_usage_error(
                    f"cannot resume yet: job {record.job} ({record.job_dir}) still runs in process "
                    f"{marker['pid']} on this host, started at {marker.get('started_at')}. "
                    "Wait for it to end or stop it, then resume."
                )

    def _jobs_to_run(self, plan: Plan, recorded: Mapping[int, RunRecord]) -> list[Job]:
        keep = set(FINISHED_STATUSES)
        if not self.raw.get("retry_crashed", True):
            keep |= {RunStatus.CRASHED, RunStatus.MISSING}

        todo = [job for job in plan.jobs if job.job not in recorded or recorded[job.job].status not in keep]
        for job in todo:
            if job.job in recorded:
                gather.archive_attempt(recorded[job.job], self.sweep_dir)
        if recorded:
            log.info(f"Resuming {self.sweep_dir}: {len(plan.jobs) - len(todo)} runs finished, {len(todo)} to run")
        return todo

    # ------------------------------------------------------------ launching

    def _launch_all(self, plan: Plan, todo: list[Job]) -> tuple[list[Sequence[JobReturn]], list[RunRecord], bool]:
        returns: list[Sequence[JobReturn]] = []
        records: list[RunRecord] = []
        queue = collections.deque(self._batches(plan, todo))

        while queue:
            batch = queue.popleft()
            try:
                batch_returns = self._launch(batch)
            except KeyboardInterrupt:
                records.extend(self._gather(batch, None, interrupted=True))
                self._record_not_run(queue, "the sweep was interrupted", records)
                return returns, records, True

            if batch_returns is None:
                batch_records, unstarted = self._gather_after_launcher_failure(batch)
                queue.extendleft(reversed(self._batches(plan, unstarted)))
            else:
                returns.append(batch_returns)
                batch_records = self._gather(batch, batch_returns)
            records.extend(batch_records)

            if self._should_stop(batch_records):
                self._record_not_run(queue, "the sweep stopped after a failed run (on_failure=stop)", records)
                break
        return _regroup(returns, plan, todo), records, False

    def _gather_after_launcher_failure(self, batch: Sequence[Job]) -> tuple[list[RunRecord], list[Job]]:
        """Gather the jobs that started; return the ones that never started, to launch again.

        When one job's process dies, joblib and submitit abandon the whole
        batch, so jobs that had not started yet are not failures. A batch in
        which no job started is recorded as it is, so this cannot loop.
        """
        started = [job for job in batch if gather.has_started(job, self.sweep_dir)]
        if not started:
            return self._gather(batch, None), []

        unstarted = [job for job in batch if job not in started]
        if unstarted:
            log.info(f"Launching again {len(unstarted)} jobs that had not started when the launcher failed")
        return self._gather(started, None), unstarted

    def _batches(self, plan: Plan, todo: list[Job]) -> list[tuple[Job, ...]]:
        """Cut the jobs into launcher batches of consecutive job numbers.

        With the basic launcher and no max_batch_size, each job is its own
        batch, so records reach the ledger and the log run by run.
        """
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        size = plan.settings.max_batch_size
        if size is None and isinstance(self.launcher, BasicLauncher):
            size = 1

        batches: list[tuple[Job, ...]] = []
        for run in _consecutive_runs(todo):
            batches.extend(split_batches(run, size))
        return batches

    def _launch(self, batch: Sequence[Job]) -> Sequence[JobReturn] | None:
        overrides = [list(job.overrides) for job in batch]
        started = time.perf_counter()
        try:
            return self.launcher.launch(overrides, initial_job_idx=batch[0].job)
        except KeyboardInterrupt:
            raise
        except Exception as error:
            # A launcher raises when a job's process dies (joblib, submitit);
            # the jobs' own records still tell what happened to each run.
            log.warning(
                f"The launcher failed on jobs {batch[0].job}-{batch[-1].job} "
                f"({type(error).__name__}: {error}); reading their records from their folders"
            )
            return None
        finally:
            self.progress.add_batch(time.perf_counter() - started, len(batch))

    def _gather(
        self, batch: Sequence[Job], returns: Sequence[JobReturn] | None, interrupted: bool = False
    ) -> list[RunRecord]:
        records = gather.collect(batch, returns, self.sweep_dir, self.raw, interrupted=interrupted)
        append_jsonl(self.ledger, [record.to_dict() for record in records])
        for record in records:
            self.progress.log_run(record)
        self.study.write(records)
        return records

    def _record_not_run(self, batches: Sequence[Sequence[Job]], cause: str, records: list[RunRecord]) -> None:
        skipped = [job for batch in batches for job in batch]
        if not skipped:
            return
        missing = [gather.not_run_record(job, f"not run: {cause}") for job in skipped]
        append_jsonl(self.ledger, [record.to_dict() for record in missing])
        records.extend(missing)
        log.warning(f"{len(skipped)} runs were not started: {cause}")

    def _should_stop(self, records: Sequence[RunRecord]) -> bool:
        if self.raw.get("on_failure", "continue") != "stop":
            return False
        return any(record.status in STOP_STATUSES for record in records)

    # ------------------------------------------------------------ the end

    def _report(self, plan: Plan) -> str:
        """Write the report; a failure is logged, its traceback saved, and the sweep still ends in order.

        Returns:
            ``REPORT_WRITTEN``, ``NO_ANALYSIS`` (the runs could not be
            analysed, a WARNING gave the reason) or ``REPORT_FAILED``.
        """
        from seedsweep.report.sweep import report_sweep

        options = self.raw.get("report", {})
        try:
            analysis = report_sweep(self.sweep_dir, self.out_dir, options)
        except Exception as error:
            error_file = self.out_dir / REPORT_ERROR_FILE
            error_file.write_text(traceback.format_exc(), encoding="utf-8")
            log.error(
                f"The report failed ({type(error).__name__}: {error}); its traceback is in {error_file}. "
                f"Every run is in {self.ledger}; once fixed, `seedsweep report {self.sweep_dir}` writes the report."
            )
            return REPORT_FAILED
        return REPORT_WRITTEN if analysis is not None else NO_ANALYSIS

    def _finish(self, plan: Plan, records: Mapping[int, RunRecord], interrupted: bool, reported: str) -> None:
        counts = _count_statuses(records.values())
        summary = ", ".join(f"{count} {status}" for status, count in counts.items()) or "no runs"
        log.info(f"Sweep finished: {summary}. Records: {self.ledger}")

        if interrupted:
            sys.stderr.write(
                f"seedsweep: sweep interrupted ({summary}). Continue it with "
                f"hydra.sweeper.resume=true hydra.sweep.dir={self.sweep_dir}\n"
            )
            sys.exit(EXIT_INTERRUPTED)

        if reported == REPORT_FAILED:
            sys.stderr.write(f"seedsweep: the report failed; the records of all {len(records)} runs are in {self.ledger}.\n")
            sys.exit(EXIT_FAILED_RUNS)
        if reported == NO_ANALYSIS:
            sys.stderr.write(
                f"seedsweep: no analysis of the {len(records)} runs ({summary}); the warning above gives the reason. "
                f"If hydra.sweeper.metric named the wrong key, `seedsweep analyze {self.sweep_dir} --metric KEY` "
                "analyses the recorded runs again.\n"
            )
            sys.exit(EXIT_FAILED_RUNS)

        broken = sum(counts.get(status.value, 0) for status in BROKEN_STATUSES)
        if broken:
            sys.stderr.write(
                f"seedsweep: {broken} of {len(records)} runs crashed or went missing ({summary}). "
                f"The report and failures.csv in {self.out_dir} list them. Once fixed, "
                f"hydra.sweeper.resume=true hydra.sweep.dir={self.sweep_dir} runs them again.\n"
            )
            sys.exit(EXIT_FAILED_RUNS)


_ABSENT = object()


def _plain(settings: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(settings, DictConfig):
        return OmegaConf.to_container(settings, resolve=True)  # type: ignore[return-value]
    plain = {}
    for key, value in settings.items():
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        plain[key] = value
    return plain


def _consecutive_runs(jobs: Sequence[Job]) -> list[list[Job]]:
    """Split jobs into runs of consecutive job numbers (Hydra numbers a batch from its first job)."""
    runs: list[list[Job]] = []
    for job in jobs:
        if runs and runs[-1][-1].job == job.job - 1:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _regroup(returns: list[Sequence[JobReturn]], plan: Plan, todo: Sequence[Job]) -> list[Sequence[JobReturn]]:
    """Group the job returns as the configured batches, as the basic sweeper returns them."""
    flat = [job_return for batch in returns for job_return in batch]
    if len(todo) != len(plan.jobs) or len(flat) != len(plan.jobs):
        return returns
    grouped = []
    start = 0
    for batch in plan.batches:
        grouped.append(flat[start : start + len(batch)])
        start += len(batch)
    return grouped


def _count_statuses(records: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in RunStatus:
        count = sum(1 for record in records if record.status is status)
        if count:
            counts[status.value] = count
    return counts


class Progress:
    """Logs one line per finished run with the count done and an estimate of the time left.

    The estimate is the runs left times the median wall time a run costs: a
    batch's wall time, launch and Hydra's set-up included, over its runs. So
    parallel launchers count at the speed they reach.
    """

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.costs: list[float] = []
        self.params: list[str] = []

    def start(self, total: int, done: int, params: Sequence[str]) -> None:
        self.total = total
        self.done = done
        self.params = list(params)

    def add_batch(self, seconds: float, runs: int) -> None:
        self.costs.extend([seconds / runs] * runs)

    def log_run(self, record: RunRecord) -> None:
        self.done += 1
        params = " ".join(f"{key}={record.params.get(key)}" for key in self.params)
        metric = ""
        if record.value is not None:
            metric = f" {record.metric or 'value'}={record.value:.6g}"
        line = f"[{self.done}/{self.total}] {params} seed={record.seed}: {record.status}{metric}{self._eta()}"
        if record.status is RunStatus.OK:
            log.info(line)
        else:
            log.warning(f"{line} ({record.reason})")

    def _eta(self) -> str:
        left = self.total - self.done
        if left <= 0 or not self.costs:
            return ""
        seconds = left * statistics.median(self.costs)
        return f", about {_format_duration(seconds)} left"


def _format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


class StudyWriter:
    """Records the runs in the Optuna study; a storage that fails is warned about once, then skipped.

    Opening a storage costs far more than a quick job, so records are
    written at most every ``FLUSH_SECONDS`` and at the end of the sweep.
    """

    FLUSH_SECONDS = 10.0

    def __init__(self, raw: Mapping[str, Any], out_dir: Path, sweep_dir: Path) -> None:
        storage = raw.get("storage", "sqlite")
        if storage == "sqlite":
            storage = f"sqlite:///{(out_dir / 'optuna.db').resolve()}"
        self.storage = storage
        self.study_name = raw.get("study_name") or sweep_dir.resolve().name
        self.plan: dict[str, Any] | None = None
        self.plan_path = out_dir / PLAN_FILE
        self.sweep_dir = sweep_dir
        self.pending: list[RunRecord] = []
        self.last_flush = time.monotonic()

    def write(self, records: Sequence[RunRecord]) -> None:
        self.pending.extend(records)
        if time.monotonic() - self.last_flush >= self.FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        records, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if self.storage is None or not records:
            return
        from seedsweep import optuna_io

        try:
            if self.plan is None:
                self.plan = json.loads(self.plan_path.read_text(encoding="utf-8"))
                self.plan["sweep_dir"] = str(self.sweep_dir.resolve())
            with _quiet_optuna():
                optuna_io.record_study(records, self.plan, self.storage, self.study_name)
        except optuna_io.StudyError as error:
            log.warning(f"The Optuna study record is off for the rest of this sweep: {error}. The ledger is complete.")
            self.storage = None


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Keep Optuna's INFO lines ("A new study created ...") out of the sweep's log."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)
