"""Sweep <-> Optuna study: record a sweep's runs as trials, read any study as a run table.

Storage strings:

- any SQLAlchemy URL (``sqlite:///runs/optuna.db``, ``postgresql://user@host/db``),
- a plain path ending in ``.db``, ``.sqlite`` or ``.sqlite3`` (an SQLite file),
- ``journal:///path/to/file.log`` or a path ending in ``.log`` or ``.journal``:
  an Optuna journal file (needs optuna >= 3.1).

How a sweep is written:

- One trial per run record. Its params are the swept parameters plus the seed
  (named by ``seed_key``). Its value is the metric. The state is COMPLETE for
  an ``ok`` run and FAIL for every other status, and a FAIL trial has no value.
- The run record goes into the trial's user attrs: ``status``, ``reason``,
  ``job``, ``job_dir``, ``error_type``, ``started_at``, ``finished_at``,
  ``duration``, ``value`` and one ``metric:<name>`` per returned metric. NaN
  and inf are stored as the text ``"nan"``, ``"inf"`` and ``"-inf"``.
- The study's user attrs store the sweep's settings (seed key, study
  parameters, groups, direction, metric, seedsweep version), so a study read
  back gives the same run table and the same analysis settings.

A run is identified by its job number plus its ``finished_at`` time. Recording
the same records again adds nothing. Optuna trials cannot change once
finished, so a job that was run again (a resumed sweep retrying a crashed or
missing run) keeps its old trial, and the new trial names the old one in the
user attr ``supersedes``. The reader uses the newest trial of each job.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import numbers
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Iterator
from typing import Mapping
from typing import Sequence

from seedsweep.records import RunRecord
from seedsweep.records import RunStatus
from seedsweep.records import decode_number
from seedsweep.records import encode_number
from seedsweep.records import first_line

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SQLITE_TIMEOUT_SECONDS = 30
SERVER_CONNECT_TIMEOUT_SECONDS = 10

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_JOURNAL_SUFFIXES = (".log", ".journal")
_JOURNAL_SCHEME = "journal://"
_METRIC_ATTR_PREFIX = "metric:"
_VERSION_ATTR = "seedsweep_version"

# Database driver modules whose pip package has another name.
_DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
}

# Sweep settings copied from the plan into the study's user attrs, and from
# there into the run table's attrs when the study is read back.
_SETTING_KEYS = (
    "groups",
    "baseline",
    "scale",
    "t_threshold",
    "verdict_rule",
    "divergence",
)


class StudyError(RuntimeError):
    """An Optuna storage or study that cannot be opened, read or written."""


# ---------------------------------------------------------------- public API


def record_study(
    records: Sequence[RunRecord],
    plan: Mapping[str, Any],
    storage: str,
    study_name: str,
) -> int:
    """Write run records as trials into an Optuna study, creating it if absent.

    Meant for the sweeper process alone, called after each batch with that
    batch's records. Records already in the study (same job and
    ``finished_at``) are skipped, so a resumed sweep adds no duplicates.

    Numeric parameters get an ``IntDistribution`` or ``FloatDistribution``
    spanning the swept values (on a log scale when the values are log-spaced),
    so Optuna's plots and optuna-dashboard draw ordered, numeric axes. These
    distributions also accept a longer value or seed list on a later resume of
    the same study, where a ``CategoricalDistribution`` would be rejected
    because its choices cannot change within a study. Other parameters, and
    every parameter under optuna < 3.0, get a ``CategoricalDistribution``.

    Args:
        records: the run records of one batch.
        plan: the sweep plan: ``params`` (swept key -> list of values),
            ``seeds``, ``seed_key``, ``direction``, ``metric``,
            ``study_params`` and optionally ``groups``, ``baseline``,
            ``scale``, ``t_threshold``, ``verdict_rule``, ``divergence`` and
            ``sweep_dir`` (makes relative job folders absolute).
        storage: a storage URL or file path (see the module docstring).
        study_name: the study to write into.

    Returns:
        The number of trials added.

    Raises:
        StudyError: the storage cannot be opened or written, or the study
            contains runs of an incompatible sweep.
    """
    optuna = _import_optuna()
    direction = plan["direction"]
    distributions = _distributions(plan, optuna)
    study_attrs = _study_attrs(plan)
    backend = _open_storage(storage, optuna, create=True)
    where = f"study {study_name!r} in {_redact(storage)}"

    with _storage_errors(f"write run records to {where}"), _quiet_experimental(optuna):
        study = _open_study_for_writing(backend, study_name, direction, optuna)
        _check_direction(study, direction, where)
        _update_study_attrs(study, study_attrs)
        added = _add_new_trials(study, records, plan, distributions, optuna, where)

    log.debug("Recorded %d of %d runs in %s", added, len(records), where)
    return added


def list_studies(storage: str) -> list[str]:
    """Return the names of the studies in a storage, in creation order.

    Raises:
        StudyError: the storage does not exist or cannot be read.
    """
    optuna = _import_optuna()
    backend = _open_storage(storage, optuna, create=False)
    with _storage_errors(f"read {_redact(storage)}"):
        return _study_names(backend, optuna)


def load_study_runs(
    storage: str,
    study_name: str | None = None,
    seed_key: str | None = None,
) -> pd.DataFrame:
    """Read an Optuna study into a run table (one row per run).

    Any study works: one written by seedsweep, one made by
    hydra-optuna-sweeper with a seed axis, or a hand-made one. The seed comes
    from a trial param or a trial user attr named ``seed_key``; the other
    params become parameter columns.

    Trials that seedsweep did not write get their status from their state.
    COMPLETE is ``ok``, or ``diverged`` when the value is infinite. FAIL is
    ``crashed``, or ``diverged`` when a ``fail_reason`` system attr names a
    NaN. optuna 2.9.1, 2.10.1, 3.6.1 and 5.1.0 store no such reason, so with
    them a NaN value and a raised exception both read as ``crashed``.
    PRUNED, RUNNING and WAITING are ``missing``. No trial is dropped, except
    the older trials of a job that seedsweep ran again.

    hydra-optuna-sweeper 1.2.0 with optuna 2.10.1 leaves the trial of a task
    that returned NaN in state RUNNING and stops the sweep, so such a trial
    reads as ``missing``.

    Args:
        storage: a storage URL or file path (see the module docstring).
        study_name: the study to read; None reads the only study in the storage.
        seed_key: the param or user attr that contains the seed. None means
            the seed key that seedsweep stored in the study, else ``"seed"``.

    Returns:
        The run table. ``attrs["seedsweep"]`` lists the parameters, metrics,
        direction, seed key and source, and the sweep settings when seedsweep
        wrote the study.

    Raises:
        StudyError: the storage cannot be read, the study is not found or
            ambiguous, or no trial has the seed.
    """
    optuna = _import_optuna()
    backend = _open_storage(storage, optuna, create=False)
    where = _redact(storage)

    with _storage_errors(f"read {where}"), _quiet_experimental(optuna):
        name = _choose_study(_study_names(backend, optuna), study_name, where)
        study = optuna.load_study(study_name=name, storage=backend)
        trials = study.get_trials(deepcopy=False)
        info = _study_info(study, seed_key, f"{where} study {name}")

    return _run_table(trials, info)


# ---------------------------------------------------------------- storage


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise StudyError(
            "optuna is not installed: install it (pip install optuna) to use Optuna studies"
        ) from error
    return optuna


def _open_storage(storage: str, optuna: Any, create: bool) -> Any:
    """Open a storage string as an Optuna storage object.

    With ``create=False`` a missing SQLite or journal file is an error, so
    reading never leaves an empty storage behind.
    """
    if storage.startswith(_JOURNAL_SCHEME):
        return _journal_storage(Path(storage[len(_JOURNAL_SCHEME) :]), optuna, create)
    if "://" not in storage and storage.endswith(_JOURNAL_SUFFIXES):
        return _journal_storage(Path(storage), optuna, create)
    if "://" not in storage and storage.endswith(_SQLITE_SUFFIXES):
        return _rdb_storage(f"sqlite:///{Path(storage).absolute()}", optuna, create)
    if "://" in storage:
        return _rdb_storage(storage, optuna, create)

    raise StudyError(
        f"unknown Optuna storage {storage!r}: expected a database URL such as "
        f"sqlite:///path/optuna.db, an SQLite file ending in {', '.join(_SQLITE_SUFFIXES)}, "
        f"or a journal file (journal:///path/file.log, or a path ending in "
        f"{' or '.join(_JOURNAL_SUFFIXES)})"
    )


def _rdb_storage(url: str, optuna: Any, create: bool) -> Any:
    where = _redact(url)
    with _storage_errors(f"open {where}"):
        import sqlalchemy.engine

        parsed = sqlalchemy.engine.make_url(url)
        connect_args = _connect_args(parsed.get_backend_name())
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            _prepare_sqlite_file(Path(parsed.database), create)
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect_args})


def _connect_args(backend_name: str) -> dict[str, Any]:
    """Return DBAPI connect arguments that bound the wait for a database.

    SQLite waits up to ``timeout`` seconds for another process's lock.
    libpq (PostgreSQL) and the MySQL drivers stop connecting after
    ``connect_timeout`` seconds, in place of the operating system's default.
    """
    if backend_name == "sqlite":
        return {"timeout": SQLITE_TIMEOUT_SECONDS}
    if backend_name in ("postgresql", "mysql", "mariadb"):
        return {"connect_timeout": SERVER_CONNECT_TIMEOUT_SECONDS}
    return {}


def _prepare_sqlite_file(path: Path, create: bool) -> None:
    if create:
        _make_parent_folder(path)
        return
    if not path.is_file():
        raise StudyError(f"no Optuna storage at {path}: the file does not exist")

    import sqlite3

    # Check with the standard library first: optuna would add its tables to
    # any SQLite file it opens, and a file that is not a database raises an
    # unclear error from deep inside SQLAlchemy.
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'studies'"
    try:
        read_only = f"{path.absolute().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(read_only, uri=True)) as db:
            found = db.execute(query).fetchone()
    except sqlite3.DatabaseError as error:
        raise StudyError(f"{path} is not an SQLite database ({error})") from error
    if found is None:
        raise StudyError(f"{path} is an SQLite database but not an Optuna storage (no 'studies' table)")


def _make_parent_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StudyError(
            f"cannot create the folder {path.parent} for the Optuna storage {path}: "
            f"{error.strerror or error} ({error.filename})"
        ) from error


def _journal_storage(path: Path, optuna: Any, create: bool) -> Any:
    if not create and not path.is_file():
        raise StudyError(f"no Optuna journal at {path}: the file does not exist")

    backend_class = _journal_backend_class(optuna)
    with _storage_errors(f"open the Optuna journal {path}"), _quiet_experimental(optuna):
        if create:
            _make_parent_folder(path)
        return optuna.storages.JournalStorage(backend_class(str(path)))


def _journal_backend_class(optuna: Any) -> Any:
    try:
        from optuna.storages.journal import JournalFileBackend  # optuna >= 4.0
    except ImportError:
        pass
    else:
        return JournalFileBackend

    older = getattr(optuna.storages, "JournalFileStorage", None)  # optuna 3.1 to 3.6
    if older is None:
        raise StudyError(
            f"the installed optuna {optuna.__version__} has no journal storage (added in "
            "optuna 3.1): upgrade optuna, or use an SQLite storage such as sqlite:///optuna.db"
        )
    return older


def _study_names(backend: Any, optuna: Any) -> list[str]:
    get_names = getattr(optuna.study, "get_all_study_names", None)  # optuna >= 3.0
    if get_names is not None:
        return list(get_names(storage=backend))
    return [summary.study_name for summary in optuna.get_all_study_summaries(storage=backend)]


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Turn optuna, SQLAlchemy and file errors into a ``StudyError``."""
    try:
        yield
    except StudyError:
        raise
    except ImportError as error:
        raise StudyError(f"cannot {action}: {_describe_import_error(error)}") from error
    except Exception as error:
        if not _is_storage_error(error):
            raise
        message = first_line(str(error)) or "no message"
        raise StudyError(f"cannot {action}: {type(error).__name__}: {message}") from error


def _is_storage_error(error: Exception) -> bool:
    # RuntimeError covers optuna's "schema is not compatible" error, and
    # ValueError and KeyError its checks on trials and study names.
    if isinstance(error, (OSError, RuntimeError, ValueError, KeyError)):
        return True
    module = type(error).__module__ or ""
    return module.startswith(("optuna", "sqlalchemy"))


def _describe_import_error(error: ImportError) -> str:
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ModuleNotFoundError):
        cause = cause.__cause__
    if cause is None or not cause.name:
        return f"a module could not be imported ({first_line(str(error))})"

    package = _DRIVER_PACKAGES.get(cause.name, cause.name)
    return (
        f"the database driver {cause.name!r} is not installed: install it "
        f"(pip install {package}) or use an sqlite:/// URL"
    )


@contextlib.contextmanager
def _quiet_experimental(optuna: Any) -> Iterator[None]:
    """Silence optuna's ExperimentalWarning for the APIs used here.

    ``create_trial`` and ``add_trial`` were experimental in optuna 2.x and
    the journal storage in optuna 3.x; the warning is noise for a sweep.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _redact(storage: str) -> str:
    """Return the storage string with any password in the URL replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", storage)


# ---------------------------------------------------------------- writing


def _open_study_for_writing(backend: Any, study_name: str, direction: str, optuna: Any) -> Any:
    # Loading first keeps optuna from logging "Using an existing study" after
    # every batch; create_study still copes with a study made in between.
    if study_name in _study_names(backend, optuna):
        return optuna.load_study(study_name=study_name, storage=backend)
    return optuna.create_study(
        storage=backend, study_name=study_name, direction=direction, load_if_exists=True
    )


def _check_direction(study: Any, direction: str, where: str) -> None:
    stored = [item.name.lower() for item in study.directions]
    if stored != [direction]:
        raise StudyError(
            f"{where} has direction {', '.join(stored)}, but the sweep's direction is "
            f"{direction}: record into another study_name"
        )


def _study_attrs(plan: Mapping[str, Any]) -> dict[str, Any]:
    from seedsweep import __version__

    attrs = {
        "seed_key": plan["seed_key"],
        "params": list(plan["params"]),
        "study_params": list(plan["study_params"]),
        "direction": plan["direction"],
        "metric": plan.get("metric"),
        _VERSION_ATTR: __version__,
    }
    for key in _SETTING_KEYS:
        attrs[key] = plan.get(key)
    return {key: _as_json_value(value) for key, value in attrs.items()}


def _update_study_attrs(study: Any, attrs: Mapping[str, Any]) -> None:
    stored = study.user_attrs
    for key, value in attrs.items():
        if key not in stored or stored[key] != value:
            study.set_user_attr(key, value)


def _add_new_trials(
    study: Any,
    records: Sequence[RunRecord],
    plan: Mapping[str, Any],
    distributions: Mapping[str, Any],
    optuna: Any,
    where: str,
) -> int:
    trials = study.get_trials(deepcopy=False)
    recorded = {_trial_key(trial.user_attrs) for trial in trials}
    newest_trial = _newest_trial_per_job(trials)
    # Trial numbers count up from 0 in the order trials are added; with one
    # writer the next trial added gets this number.
    next_number = len(trials)

    added = 0
    for record in records:
        key = (record.job, record.finished_at)
        if key in recorded:
            continue

        trial = _build_trial(record, plan, distributions, newest_trial.get(record.job), optuna)
        _add_trial(study, trial, record, where)

        recorded.add(key)
        if record.job is not None:
            newest_trial[record.job] = next_number
        next_number += 1
        added += 1
    return added


def _trial_key(user_attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    return user_attrs.get("job"), user_attrs.get("finished_at")


def _newest_trial_per_job(trials: Sequence[Any]) -> dict[int, int]:
    newest: dict[int, int] = {}
    for trial in trials:
        job = trial.user_attrs.get("job")
        if job is not None:
            newest[job] = max(newest.get(job, -1), trial.number)
    return newest


def _add_trial(study: Any, trial: Any, record: RunRecord, where: str) -> None:
    try:
        study.add_trial(trial)
    except ValueError as error:
        # Optuna rejects a parameter whose distribution differs from the one
        # stored by earlier trials, e.g. other categorical choices.
        raise StudyError(
            f"cannot add job {record.job} to {where}: {first_line(str(error))} "
            f"(trial params {trial.params}). The study contains runs of another sweep: "
            "record into another study_name"
        ) from error


def _distributions(plan: Mapping[str, Any], optuna: Any) -> dict[str, Any]:
    scale = plan.get("scale") or "auto"
    distributions = {
        key: _distribution(values, scale, optuna) for key, values in plan["params"].items()
    }
    distributions[plan["seed_key"]] = _distribution(plan["seeds"], "linear", optuna)
    return distributions


def _distribution(values: Sequence[Any], scale: str, optuna: Any) -> Any:
    """Return the Optuna distribution for a list of swept values.

    ``scale`` is ``auto``, ``linear`` or ``log``. With ``auto`` the axis is
    logarithmic when the values are all positive and max/min >= 100, the
    same rule the trend analysis uses.
    """
    choices = _unique([_as_choice(value) for value in values])
    distributions = optuna.distributions
    numeric = all(_is_finite_number(value) for value in choices)
    if not choices or not numeric or not hasattr(distributions, "FloatDistribution"):
        return distributions.CategoricalDistribution(choices)

    low = min(choices)
    high = max(choices)
    log_spaced = low > 0 and high >= 100 * low
    use_log = low > 0 and (scale == "log" or (scale == "auto" and log_spaced))
    if all(isinstance(value, int) for value in choices):
        return distributions.IntDistribution(int(low), int(high), log=use_log)
    return distributions.FloatDistribution(float(low), float(high), log=use_log)


def _as_choice(value: Any) -> Any:
    """Return a value Optuna can store as a parameter: None, bool, int, float or str.

    numpy integers and floats become Python ones. Anything else, such as a
    list swept as one value, is stored as its text.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _unique(values: Sequence[Any]) -> list[Any]:
    unique: list[Any] = []
    for value in values:
        if not any(type(value) is type(seen) and value == seen for seen in unique):
            unique.append(value)
    return unique


def _build_trial(
    record: RunRecord,
    plan: Mapping[str, Any],
    distributions: Mapping[str, Any],
    supersedes: int | None,
    optuna: Any,
) -> Any:
    params = _trial_params(record, plan["seed_key"], distributions)
    status = RunStatus(record.status)

    # NOTE: an ok run without a value (no metric named, and the task returned
    # a mapping) is stored as FAIL because Optuna requires a value for a
    # COMPLETE trial. Its user attr status stays "ok".
    complete = status is RunStatus.OK and record.value is not None and math.isfinite(record.value)
    state = optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.FAIL

    trial = optuna.trial.create_trial(
        state=state,
        value=record.value if complete else None,
        params=params,
        distributions={key: distributions[key] for key in params},
        user_attrs=_trial_attrs(record, plan, supersedes),
    )
    _set_trial_times(trial, record)
    return trial


def _trial_params(
    record: RunRecord, seed_key: str, distributions: Mapping[str, Any]
) -> dict[str, Any]:
    params = {}
    for key, value in record.params.items():
        if key in distributions and key != seed_key:
            params[key] = _as_choice(value)
    if record.seed is not None:
        params[seed_key] = _as_choice(record.seed)
    return params


def _trial_attrs(
    record: RunRecord, plan: Mapping[str, Any], supersedes: int | None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "status": RunStatus(record.status).value,
        "reason": record.reason,
        "job": record.job,
        "job_dir": _absolute_job_dir(record.job_dir, plan.get("sweep_dir")),
        "error_type": record.error_type,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "value": encode_number(record.value),
        "supersedes": supersedes,
    }
    for name, number in record.metrics.items():
        attrs[f"{_METRIC_ATTR_PREFIX}{name}"] = encode_number(number)
    return {key: value for key, value in attrs.items() if value is not None}


def _absolute_job_dir(job_dir: str | None, sweep_dir: Any) -> str | None:
    if job_dir is None or sweep_dir is None or Path(job_dir).is_absolute():
        return job_dir
    return str(Path(sweep_dir) / job_dir)


def _set_trial_times(trial: Any, record: RunRecord) -> None:
    """Give the trial the run's start and end times instead of "now".

    Optuna stores naive local times, so aware times are converted to local.
    """
    started = _parse_time(record.started_at)
    finished = _parse_time(record.finished_at)
    if started is None or finished is None or finished < started:
        return
    trial.datetime_start = started
    trial.datetime_complete = finished


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment


def _as_json_value(value: Any) -> Any:
    """Return ``value`` as plain JSON data (tuples as lists, NaN as text)."""
    import json

    from seedsweep.records import dump_json

    return json.loads(dump_json(value))


# ---------------------------------------------------------------- reading


def _choose_study(names: list[str], study_name: str | None, where: str) -> str:
    if not names:
        raise StudyError(f"{where} contains no Optuna study")
    if study_name is None:
        if len(names) == 1:
            return names[0]
        raise StudyError(
            f"{where} contains {len(names)} studies ({', '.join(names)}): name the one to read"
        )
    if study_name not in names:
        raise StudyError(
            f"study {study_name!r} not found in {where}; its studies: {', '.join(names)}"
        )
    return study_name


def _study_info(study: Any, seed_key: str | None, source: str) -> dict[str, Any]:
    """Collect what the run table's attrs need from the study."""
    stored = dict(study.user_attrs)
    written_by_seedsweep = _VERSION_ATTR in stored
    directions = [item.name.lower() for item in study.directions]
    metric_columns = _objective_columns(study, stored, written_by_seedsweep)

    info: dict[str, Any] = {
        "written_by_seedsweep": written_by_seedsweep,
        "seed_key": seed_key or (written_by_seedsweep and stored.get("seed_key")) or "seed",
        "objective_columns": metric_columns,
        "params": list(stored.get("params", [])) if written_by_seedsweep else [],
        "metric": metric_columns[0] if len(metric_columns) == 1 else None,
        "direction": directions[0] if len(directions) == 1 else None,
        "directions": dict(zip(metric_columns, directions)),
        "source": source,
    }
    if written_by_seedsweep:
        info["sweep_metric"] = stored.get("metric")
        info["settings"] = {key: stored.get(key) for key in _SETTING_KEYS}
        info["study_params"] = stored.get("study_params")
    return info


def _objective_columns(study: Any, stored: Mapping[str, Any], written_by_seedsweep: bool) -> list[str]:
    """Name the metric column of each objective of the study."""
    count = len(study.directions)
    names = getattr(study, "metric_names", None)  # optuna >= 3.2
    if names and len(names) == count:
        return list(names)
    if written_by_seedsweep and count == 1:
        return [stored.get("metric") or "value"]
    if count == 1:
        return ["value"]
    return [f"values_{index}" for index in range(count)]


def _run_table(trials: Sequence[Any], info: dict[str, Any]) -> pd.DataFrame:
    if info["written_by_seedsweep"]:
        trials = _newest_per_job(trials)
    _check_seed_present(trials, info["seed_key"], info["source"])

    rows = []
    unreadable: list[str] = []
    for trial in trials:
        if info["written_by_seedsweep"]:
            rows.append(_seedsweep_row(trial, info, unreadable))
        else:
            rows.append(_foreign_row(trial, info))
    return _as_frame(rows, trials, info, unreadable)


def _newest_per_job(trials: Sequence[Any]) -> list[Any]:
    """Keep the newest trial of each job, and every trial without a job, in job order."""
    newest = _newest_trial_per_job(trials)
    newest_trials = []
    for trial in trials:
        job = trial.user_attrs.get("job")
        if job is None or newest[job] == trial.number:
            newest_trials.append(trial)
    return sorted(newest_trials, key=_job_of)


def _check_seed_present(trials: Sequence[Any], seed_key: str, source: str) -> None:
    if not trials:
        return
    if any(seed_key in trial.params or seed_key in trial.user_attrs for trial in trials):
        return

    params = sorted({name for trial in trials for name in trial.params})
    user_attrs = sorted({name for trial in trials for name in trial.user_attrs})
    raise StudyError(
        f"no trial of {source} has the seed {seed_key!r} as a param or user attr "
        f"(params: {', '.join(params) or 'none'}; user attrs: {', '.join(user_attrs) or 'none'}); "
        "pass the name that holds the seed with --seed-key"
    )


def _seed_of(trial: Any, seed_key: str) -> int | None:
    if seed_key in trial.params:
        raw = trial.params[seed_key]
    elif seed_key in trial.user_attrs:
        raw = trial.user_attrs[seed_key]
    else:
        return None

    seed = _as_int(raw)
    if seed is None:
        raise StudyError(
            f"trial {trial.number} has seed {seed_key}={raw!r}, expected an integer; "
            "pass the name that holds the seed with --seed-key"
        )
    return seed


def _as_int(value: Any) -> int | None:
    """Return ``value`` as an int when it is one, also as text.

    hydra-optuna-sweeper stores fixed overrides as text (``seed=0`` as "0").
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _job_of(trial: Any) -> int:
    """Return the job number seedsweep stored, else the trial number."""
    job = trial.user_attrs.get("job")
    if isinstance(job, int) and not isinstance(job, bool):
        return job
    return trial.number


def _common_columns(trial: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    seed_key = info["seed_key"]
    row: dict[str, Any] = {
        "job": _job_of(trial),
        "job_dir": trial.user_attrs.get("job_dir"),
        "seed": _seed_of(trial, seed_key),
    }
    for name, value in trial.params.items():
        if name != seed_key:
            row[name] = value
    return row


def _seedsweep_row(trial: Any, info: Mapping[str, Any], unreadable: list[str]) -> dict[str, Any]:
    attrs = trial.user_attrs
    row = _common_columns(trial, info)

    metric_column = info["objective_columns"][0]
    if "value" in attrs:
        row[metric_column] = decode_number(attrs["value"])
    elif trial.values:
        row[metric_column] = trial.values[0]
    for name, value in attrs.items():
        if name.startswith(_METRIC_ATTR_PREFIX):
            row[name[len(_METRIC_ATTR_PREFIX) :]] = decode_number(value)

    try:
        status = RunStatus(attrs.get("status"))
    except ValueError:
        unreadable.append(
            f"{info['source']} trial {trial.number}: unknown status {attrs.get('status')!r}, "
            "classified from the trial state instead"
        )
        status, reason = _status_from_state(trial, [metric_column])
        row.update(status=status.value, reason=reason, error_type=None)
    else:
        row.update(status=status.value, reason=attrs.get("reason"), error_type=attrs.get("error_type"))

    # The trial's own times are the run's only when the record had both.
    row["duration"] = attrs.get("duration")
    return row


def _foreign_row(trial: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    row = _common_columns(trial, info)

    columns = info["objective_columns"]
    finished = trial.state.name == "COMPLETE"
    values = trial.values if finished and trial.values else [math.nan] * len(columns)
    for column, value in zip(columns, values):
        row[column] = value

    status, reason = _status_from_state(trial, columns)
    row.update(status=status.value, reason=reason, error_type=None)
    row["duration"] = _trial_seconds(trial)
    return row


def _status_from_state(trial: Any, columns: Sequence[str]) -> tuple[RunStatus, str | None]:
    """Classify a trial that carries no seedsweep status, from its state.

    ``columns`` names the trial's values in the reasons.
    """
    state = trial.state.name
    if state == "COMPLETE":
        return _status_of_values(trial.values or [], columns)
    if state == "FAIL":
        return _status_of_failure(trial.system_attrs.get("fail_reason"))
    if state == "PRUNED":
        step = trial.last_step
        where = f" at step {step}" if step is not None else ""
        return RunStatus.MISSING, f"trial pruned{where}"
    return RunStatus.MISSING, f"trial still running or never started (state {state})"


def _status_of_values(
    values: Sequence[float], columns: Sequence[str]
) -> tuple[RunStatus, str | None]:
    for column, value in zip(columns, values):
        if not math.isfinite(value):
            text = "NaN" if math.isnan(value) else f"{'+' if value > 0 else '-'}inf"
            return RunStatus.DIVERGED, f"{column} is {text}"
    return RunStatus.OK, None


def _status_of_failure(fail_reason: Any) -> tuple[RunStatus, str]:
    if not fail_reason:
        return RunStatus.CRASHED, "trial failed (state FAIL); the study stores no reason"
    text = first_line(str(fail_reason))
    if re.search(r"\bnan\b", text, flags=re.IGNORECASE):
        return RunStatus.DIVERGED, f"trial failed (state FAIL): {text}"
    return RunStatus.CRASHED, f"trial failed (state FAIL): {text}"


def _trial_seconds(trial: Any) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _as_frame(
    rows: list[dict[str, Any]],
    trials: Sequence[Any],
    info: Mapping[str, Any],
    unreadable: list[str],
) -> pd.DataFrame:
    import pandas as pd

    params = _param_columns(trials, info)
    metrics = _metric_columns(rows, info, params)
    columns = ["job", "job_dir", "seed", *params, *metrics, "status", "reason", "error_type", "duration"]

    runs = pd.DataFrame(rows, columns=columns)
    runs["job"] = runs["job"].astype("int64")
    seed_dtype = "int64" if runs["seed"].notna().all() else "Int64"
    runs["seed"] = runs["seed"].astype(seed_dtype)
    for column in metrics:
        runs[column] = runs[column].astype("float64")
    runs["duration"] = runs["duration"].astype("float64")

    runs.attrs["seedsweep"] = _table_attrs(params, metrics, info, unreadable)
    return runs


def _param_columns(trials: Sequence[Any], info: Mapping[str, Any]) -> list[str]:
    """List the parameter columns: the sweep's order first, then as found."""
    seed_key = info["seed_key"]
    found: list[str] = []
    for trial in trials:
        for name in trial.params:
            if name != seed_key and name not in found:
                found.append(name)

    ordered = [name for name in info["params"] if name in found]
    return ordered + [name for name in found if name not in ordered]


def _metric_columns(
    rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any], params: Sequence[str]
) -> list[str]:
    reserved = {"job", "job_dir", "seed", "status", "reason", "error_type", "duration", *params}
    metrics: list[str] = []
    # A sweep run without a named metric has a "value" column only when its
    # task returned one number, so then the rows decide.
    if not info["written_by_seedsweep"] or info["sweep_metric"] is not None:
        metrics.extend(info["objective_columns"])

    for row in rows:
        for name in row:
            if name not in reserved and name not in metrics:
                metrics.append(name)
    return metrics


def _table_attrs(
    params: list[str], metrics: list[str], info: Mapping[str, Any], unreadable: list[str]
) -> dict[str, Any]:
    metric = info["metric"] if info["metric"] in metrics else None
    attrs: dict[str, Any] = {
        "params": params,
        "metrics": metrics,
        "metric": metric,
        "direction": info["direction"],
        "seed_key": info["seed_key"],
        "source": info["source"],
        "unreadable": unreadable,
    }
    if len(info["directions"]) > 1:
        attrs["directions"] = info["directions"]
    if info["written_by_seedsweep"]:
        attrs["study_params"] = info["study_params"]
        attrs.update(info["settings"])
    return attrs
