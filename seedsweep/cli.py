"""The ``seedsweep`` command: analyse a sweep and write its report.

Only argparse is imported at module level, so ``seedsweep --help`` stays
fast; pandas, scipy and matplotlib load inside the commands.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Sequence

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Exit status for usage and input errors, the one argparse uses for usage errors.
EXIT_USAGE = 2


class UsageError(ValueError):
    """A command line that cannot work as given."""


_DESCRIPTION = """\
Tell a reliably better hyperparameter value from a lucky seed.

Reads a sweep (a seedsweep sweep dir, a plain Hydra multirun dir, a CSV,
Parquet or JSON lines table, or an Optuna storage), compares every value
of the study parameter on the same seeds, and writes a report.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Returns:
        0 on success, 2 on usage or input errors (one line on stderr).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging()

    try:
        return args.run(args)
    except Exception as error:
        if not _is_input_error(error):
            raise
        print(f"seedsweep: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedsweep",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_analyze(commands)
    _add_report(commands)
    return parser


def _add_analyze(commands: Any) -> None:
    parser = commands.add_parser(
        "analyze",
        help="analyse a sweep, a table or an Optuna study and write the report",
        description="Analyse the runs of SOURCE and write the report (summary, trend, failures, figures).",
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a sweep dir, a Hydra multirun dir, a .csv/.parquet/.jsonl table, or an Optuna storage URL",
    )

    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="P",
        help="study parameter to compare (repeatable); default: every parameter with several values",
    )
    parser.add_argument("--metric", metavar="M", help="metric to analyse; default: the one the sweep ran for")
    parser.add_argument(
        "--seed-key",
        metavar="K",
        help="config key or table column of the seed (default: the one the sweep recorded, else seed)",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="K",
        help="parameter that only forms groups and is never compared (repeatable)",
    )

    parser.add_argument(
        "--direction",
        choices=("minimize", "maximize"),
        help="whether lower or higher metric values are better (default: the direction the sweep or study recorded, else minimize)",
    )
    parser.add_argument(
        "--baseline",
        metavar="V",
        help="reference value of the study parameter, which the effects are measured against",
    )
    parser.add_argument(
        "--scale",
        choices=("auto", "linear", "log"),
        help="trend axis (default: auto, which is log10 when every value is positive and max/min >= 100)",
    )
    parser.add_argument(
        "--t-threshold",
        type=float,
        metavar="T",
        help="the |t| a reliable verdict needs (default: 2.0)",
    )
    parser.add_argument(
        "--verdict-rule",
        choices=("seed", "strict"),
        help="seed: |t| above the threshold; strict: Holm-adjusted p < 0.05 (default: seed)",
    )
    parser.add_argument(
        "--divergence",
        type=float,
        metavar="X",
        help="bound in the metric's units beyond which a finite value counts as diverged",
    )

    parser.add_argument(
        "--metrics-file",
        metavar="F",
        help="file with the metrics in each job folder (JSON or YAML mapping, or CSV whose last row is read)",
    )
    parser.add_argument("--study", metavar="NAME", help="Optuna study name, for a storage with several studies")
    parser.add_argument(
        "--list-studies",
        action="store_true",
        help="list the studies in the Optuna storage and exit",
    )

    parser.add_argument(
        "--out",
        metavar="DIR",
        help="report folder (default: SOURCE/seedsweep for a folder, <table stem>_seedsweep beside a table)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print analysis.json to stdout instead of the summary",
    )
    parser.set_defaults(run=run_analyze)


def _add_report(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write the report of a seedsweep sweep dir again from its records",
        description="Write the report of a seedsweep sweep dir again, with the settings of its plan.json.",
    )
    parser.add_argument("dir", metavar="DIR", help="the sweep dir (hydra.sweep.dir) of a seedsweep sweep")
    parser.add_argument("--out", metavar="DIR", help="report folder (default: DIR/seedsweep)")
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.set_defaults(run=run_report)


# ---------------------------------------------------------------- commands


def run_analyze(args: argparse.Namespace) -> int:
    """Load the runs, analyse them, write the report and print the summary."""
    from seedsweep.sources import load_runs
    from seedsweep.sources import looks_like_study

    if args.list_studies:
        return _list_studies(args)

    is_study = looks_like_study(args.source, args.study)
    if is_study and args.out is None and args.study is None and "://" in args.source:
        raise UsageError(f"give --out or --study for the report of the Optuna storage {args.source}")

    runs = load_runs(
        args.source,
        metric=args.metric,
        seed_key=args.seed_key,
        metrics_file=args.metrics_file,
        study=args.study,
        direction=args.direction,
        divergence=args.divergence,
        params=[*args.param, *args.group_by],
    )
    study = args.study if is_study else None
    out_dir = Path(args.out) if args.out else default_out_dir(args.source, runs, study)
    _check_out_dir(args.source, out_dir)
    analysis = _analyze(runs, _analysis_options(args, runs))
    _write_and_print(analysis, runs, out_dir, plots=not args.no_plots, as_json=args.json)
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Analyse a seedsweep sweep dir with its recorded settings and write the report.

    The report is written by the same function as at the end of a sweep, so
    it matches the one the sweep wrote.
    """
    from seedsweep.report.sweep import report_sweep
    from seedsweep.sources.sweep_dir import OUTPUT_FOLDER
    from seedsweep.sources.sweep_dir import is_sweep_dir

    sweep_dir = Path(args.dir).expanduser()
    if sweep_dir.name == OUTPUT_FOLDER and is_sweep_dir(sweep_dir.parent):
        sweep_dir = sweep_dir.parent
    if not sweep_dir.exists():
        raise UsageError(f"{sweep_dir} does not exist; pass the sweep dir of a seedsweep sweep")
    if not sweep_dir.is_dir():
        raise UsageError(f"{sweep_dir} is not a folder; pass the sweep dir of a seedsweep sweep")
    if not is_sweep_dir(sweep_dir):
        raise UsageError(
            f"{sweep_dir} is not a seedsweep sweep dir (no seedsweep/plan.json or runs.jsonl); "
            f"for other sources run: seedsweep analyze {sweep_dir}"
        )

    out_dir = Path(args.out) if args.out else sweep_dir / OUTPUT_FOLDER
    analysis = report_sweep(sweep_dir, out_dir, {"plots": not args.no_plots})
    if analysis is None:
        raise UsageError(f"no report for {sweep_dir}: its runs cannot be analysed (see the warning above for why)")
    return 0


def _check_out_dir(source: str, out_dir: Path) -> None:
    """Reject a report folder in which the report would replace the input table."""
    from seedsweep.report import REPORT_FILES
    from seedsweep.report.tables import TABLE_FILES

    source_path = Path(source).expanduser()
    if not source_path.is_file():
        return
    for name in (*TABLE_FILES, *REPORT_FILES):
        if (out_dir / name).resolve() == source_path.resolve():
            raise UsageError(
                f"the report would overwrite the input table {source} (it writes {name} into {out_dir}); "
                "pass another --out folder"
            )


def _list_studies(args: argparse.Namespace) -> int:
    from seedsweep.sources import looks_like_study

    if not looks_like_study(args.source, None):
        raise UsageError(
            f"--list-studies needs an Optuna storage URL (such as sqlite:///optuna.db), got {args.source}"
        )

    from seedsweep import optuna_io

    for name in optuna_io.list_studies(args.source):
        print(name)
    return 0


def _analyze(runs: pd.DataFrame, options: dict[str, Any]) -> Any:
    from seedsweep import stats

    return stats.analyze(runs, **options)


def _write_and_print(analysis: Any, runs: pd.DataFrame, out_dir: Path, *, plots: bool, as_json: bool) -> None:
    import json

    from seedsweep import report
    from seedsweep.report.terminal import print_text

    report.write_report(analysis, runs, out_dir, plots=plots)
    if as_json:
        print_text(json.dumps(analysis.to_json()))
    else:
        print_text(report.terminal_summary(analysis, out_dir))


def default_out_dir(source: str, runs: pd.DataFrame, study: str | None) -> Path:
    """Choose the report folder when --out is not given.

    A folder gets ``<sweep dir>/seedsweep``, a table or a storage file
    ``<stem>_seedsweep`` beside it, a named Optuna study
    ``./<study>_seedsweep``.
    """
    if study is not None:
        return Path.cwd() / f"{study}_seedsweep"

    path = Path(source).expanduser()
    if path.is_file():
        return path.with_name(f"{path.stem}_seedsweep")
    sweep_dir = Path(runs.attrs.get("seedsweep", {}).get("source") or path)
    return sweep_dir / "seedsweep"


def _analysis_options(args: argparse.Namespace, runs: pd.DataFrame) -> dict[str, Any]:
    """Collect the analysis settings given on the command line; the rest fall back to the sweep's."""
    options: dict[str, Any] = {}
    if len(args.param) == 1:
        options["param"] = args.param[0]
    elif args.param:
        options["param"] = list(args.param)
    if args.group_by:
        options["groups"] = list(args.group_by)

    given = {
        "metric": args.metric,
        "direction": args.direction,
        "scale": args.scale,
        "t_threshold": args.t_threshold,
        "verdict_rule": args.verdict_rule,
    }
    options.update({key: value for key, value in given.items() if value is not None})
    if args.baseline is not None:
        options["baseline"] = parse_baseline(args.baseline, runs, args.param, args.group_by)
    return options


# ---------------------------------------------------------------- baseline


def parse_baseline(text: str, runs: pd.DataFrame, params: Sequence[str], groups: Sequence[str]) -> Any:
    """Find the value of the study parameter that ``text`` names, in the parameter's own type.

    ``1e-4`` matches the float 0.0001, ``true`` the bool True, ``resnet``
    the string. The study parameters are ``params``, or every parameter with
    several values that is not in ``groups``.

    Raises:
        UsageError: ``text`` matches no value (the message lists them).
    """
    names = [name for name in list(params) or _swept_params(runs, groups) if name in runs.columns]
    if params and len(names) < len(params):
        # An unknown --param: the analysis raises the error that names it.
        return text
    for name in names:
        for value in runs[name].dropna().unique().tolist():
            if _same_value(text, value):
                return value

    shown = "; ".join(f"{name}: {_values_text(runs, name)}" for name in names)
    raise UsageError(
        f"--baseline {text!r} is not a value of the study parameter "
        f"({shown or 'no parameter has several values'}); pass one of the values"
    )


def _values_text(runs: pd.DataFrame, name: str) -> str:
    return ", ".join(str(value) for value in runs[name].dropna().unique().tolist())


def _swept_params(runs: pd.DataFrame, groups: Sequence[str]) -> list[str]:
    params = runs.attrs.get("seedsweep", {}).get("params") or []
    groups = set(groups) | set(runs.attrs.get("seedsweep", {}).get("groups") or [])
    return [name for name in params if name not in groups and name in runs and runs[name].nunique() > 1]


def _same_value(text: str, value: Any) -> bool:
    if isinstance(value, bool):
        return text.strip().lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(text) == float(value)
        except ValueError:
            return False
    return text == str(value)


# ---------------------------------------------------------------- errors and logging


def _is_input_error(error: Exception) -> bool:
    """Tell whether an error comes from the user's input rather than from a bug."""
    from seedsweep.sources import SourceError

    input_errors: list[type[Exception]] = [UsageError, SourceError, OSError]
    # A module that was never imported raised nothing, so there is no need to import it here.
    for module_name, class_name in (("seedsweep.stats", "AnalysisError"), ("seedsweep.optuna_io", "StudyError")):
        module = sys.modules.get(module_name)
        if module is not None:
            input_errors.append(getattr(module, class_name))
    return isinstance(error, tuple(input_errors))


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or error}: {error.filename}"
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _configure_logging() -> None:
    """Send seedsweep's INFO and every library's WARNING lines to stderr, once per process."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, _Formatter) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("seedsweep").setLevel(logging.INFO)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"seedsweep: {record.levelname.lower()}: {message}"
        return f"seedsweep: {message}"
