"""Overrides to plan: study parameters, groups and seeds, then the ordered jobs.

The plan is what the sweeper will launch, in order, and what it writes to
``seedsweep/plan.json`` so that a resumed sweep and the analyzer both know the
sweep's definition. It is built from Hydra's own override grammar, so every
sweep that runs under the basic sweeper (choice, range, glob, comma lists,
``hydra.sweeper.params``) runs here unchanged.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Mapping
from typing import Sequence

if TYPE_CHECKING:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Override

PLAN_SCHEMA = 1
DIRECTIONS = ("minimize", "maximize")
SCALES = ("auto", "linear", "log")
VERDICT_RULES = ("seed", "strict")
ON_FAILURE = ("continue", "stop")


class PlanError(ValueError):
    """A sweep setting or override that cannot be planned. The message names the fix."""


@dataclass(frozen=True)
class Job:
    """One run of the grid: its number, Hydra overrides, seed and parameter values."""

    job: int
    overrides: tuple[str, ...]
    seed: int | None
    params: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "overrides": list(self.overrides),
            "seed": self.seed,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Settings:
    """The validated ``hydra.sweeper`` settings that shape the plan and the analysis."""

    seeds: tuple[int, ...] | None
    seed_key: str
    metric: str | None
    direction: str
    groups: tuple[str, ...]
    baseline: Any
    scale: str
    t_threshold: float
    verdict_rule: str
    divergence: float | None
    max_batch_size: int | None
    on_failure: str


@dataclass(frozen=True)
class Plan:
    """The sweep's definition and its jobs, in launch order."""

    settings: Settings
    seeds: tuple[int, ...] | None
    params: Mapping[str, list[Any]]
    study_params: tuple[str, ...]
    jobs: tuple[Job, ...]
    batches: tuple[tuple[Job, ...], ...] = field(default=())

    @property
    def has_seed_axis(self) -> bool:
        return self.seeds is not None

    def jobs_to_compose(self) -> tuple[Job, ...]:
        """Return the jobs whose configs, once composed, show that every job's config composes.

        A job of a later seed has the overrides of the same job of the first
        seed, with another int for the seed key. So the first seed's jobs and
        the first job of each later seed cover the plan: a seed sweep of n
        seeds and k values is checked with k + n - 1 compositions, not n·k.
        """
        if not self.has_seed_axis:
            return self.jobs
        per_seed = len(self.jobs) // len(self.seeds)
        return self.jobs[:per_seed] + self.jobs[per_seed::per_seed]

    def to_dict(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "schema": PLAN_SCHEMA,
            "seed_key": settings.seed_key,
            "seeds": list(self.seeds) if self.seeds is not None else None,
            "metric": settings.metric,
            "direction": settings.direction,
            "divergence": settings.divergence,
            "params": {key: list(values) for key, values in self.params.items()},
            "study_params": list(self.study_params),
            "groups": list(settings.groups),
            "baseline": settings.baseline,
            "scale": settings.scale,
            "t_threshold": settings.t_threshold,
            "verdict_rule": settings.verdict_rule,
            "jobs": [job.to_dict() for job in self.jobs],
        }


# ---------------------------------------------------------------- settings


def validate_settings(raw: Mapping[str, Any]) -> Settings:
    """Check the sweeper's settings before any job runs.

    Args:
        raw: the ``hydra.sweeper`` node as plain Python values.

    Raises:
        PlanError: a setting is invalid; the message names it and the fix.
    """
    direction = _choice("direction", raw.get("direction", "minimize"), DIRECTIONS)
    scale = _choice("scale", raw.get("scale", "auto"), SCALES)
    verdict_rule = _choice("verdict_rule", raw.get("verdict_rule", "seed"), VERDICT_RULES)
    on_failure = _choice("on_failure", raw.get("on_failure", "continue"), ON_FAILURE)

    return Settings(
        seeds=parse_seeds(raw.get("seeds", 5)),
        seed_key=_seed_key(raw.get("seed_key", "seed")),
        metric=_optional_text("metric", raw.get("metric")),
        direction=direction,
        groups=_groups(raw.get("groups") or []),
        baseline=raw.get("baseline"),
        scale=scale,
        t_threshold=_positive_number("t_threshold", raw.get("t_threshold", 2.0)),
        verdict_rule=verdict_rule,
        divergence=_divergence(raw.get("divergence")),
        max_batch_size=_max_batch_size(raw.get("max_batch_size")),
        on_failure=on_failure,
    )


def parse_seeds(seeds: Any) -> tuple[int, ...] | None:
    """Turn the ``seeds`` setting into the list of seeds (None: no seed axis).

    A count n means seeds 0 to n-1; a list is taken as given.
    """
    hint = "`hydra.sweeper.seeds` must be a positive count or a list of distinct ints"
    if seeds is None:
        return None
    if _is_int(seeds):
        if seeds < 1:
            raise PlanError(f"{hint}, got {seeds}. Use for example seeds=5.")
        return tuple(range(int(seeds)))
    if isinstance(seeds, (list, tuple)):
        return _seed_list(list(seeds), hint)
    raise PlanError(f"{hint}, got {seeds!r}. Use for example seeds=5 or 'seeds=[0,1,2]'.")


def _seed_list(seeds: list[Any], hint: str) -> tuple[int, ...]:
    if not seeds:
        raise PlanError(f"{hint}, got an empty list.")
    for seed in seeds:
        if not _is_int(seed):
            raise PlanError(f"{hint}, got {seed!r} in {seeds!r}.")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise PlanError(f"{hint}, got {seeds!r}: seed {repeated[0]} appears more than once.")
    return tuple(int(seed) for seed in seeds)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        options = " or ".join(allowed)
        raise PlanError(f"`hydra.sweeper.{name}` must be {options}, got {value!r}.")
    return str(value)


def _seed_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"`hydra.sweeper.seed_key` must be a config key such as 'seed', got {value!r}.")
    return value


def _optional_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise PlanError(f"`hydra.sweeper.{name}` must be a key name or null, got {value!r}.")
    return value


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not all(isinstance(key, str) and key for key in value):
        raise PlanError(f"`hydra.sweeper.groups` must be a list of config keys, got {value!r}.")
    return tuple(value)


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PlanError(f"`hydra.sweeper.{name}` must be a positive number, got {value!r}.")
    return float(value)


def _divergence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlanError(
            f"`hydra.sweeper.divergence` must be a finite number in the metric's units or null, got {value!r}."
        )
    return float(value)


def _max_batch_size(value: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise PlanError(f"`hydra.sweeper.max_batch_size` must be a positive int or null, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------- overrides


@dataclass(frozen=True)
class _Axis:
    """One override's contribution to the grid: its key and the job overrides it yields."""

    name: str
    overrides: tuple[str, ...]
    values: tuple[Any, ...]
    swept: bool


def build_plan(
    arguments: Sequence[str],
    params: Mapping[str, str] | None,
    settings: Settings,
    parser: OverridesParser,
    seed_key_in_config: bool,
) -> Plan:
    """Expand the overrides into the ordered jobs of the sweep.

    Jobs go out seed-major: every value for the first seed, then the next
    seed, so an interrupted sweep still contains complete, paired seeds. With
    ``seeds`` null and no seed swept on the command line, the jobs are
    exactly the basic sweeper's.

    Args:
        arguments: the task overrides from the command line.
        params: ``hydra.sweeper.params``, sweep definitions from the config.
        settings: the validated settings.
        parser: Hydra's override parser, with the config loader for glob sweeps.
        seed_key_in_config: whether the task config has the seed key; if not,
            the seed is added as ``++key=value``.

    Raises:
        PlanError: an override cannot be swept, or nothing is swept.
    """
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    lines.extend(arguments)
    axes = [_axis(override, parser) for override in parser.parse_overrides(lines)]

    seed_axis = _find_seed_axis(axes, settings.seed_key)
    if seed_axis is not None:
        axes.remove(seed_axis)
        seeds = _seeds_from_axis(seed_axis)
        prefix = ""
    else:
        seeds = settings.seeds
        prefix = "" if seed_key_in_config else "++"

    swept = {axis.name: list(axis.values) for axis in axes if axis.swept}
    study_params = _study_params(swept, settings, seeds)
    _check_baseline(settings.baseline, swept, study_params)
    jobs = _jobs(axes, seeds, f"{prefix}{settings.seed_key}", parser)
    return Plan(
        settings=settings,
        seeds=seeds,
        params=swept,
        study_params=study_params,
        jobs=jobs,
        batches=split_batches(jobs, settings.max_batch_size),
    )


def _axis(override: Override, parser: OverridesParser) -> _Axis:
    key = override.get_key_element()
    name = _param_name(override)

    if not override.is_sweep_override():
        text = f"{key}={override.get_value_element_as_str()}"
        if override.is_delete() and override.value() is None:
            text = key
        return _Axis(name, (text,), (override.value(),), swept=False)

    if not override.is_discrete_sweep():
        kind = override.value_type.name.lower() if override.value_type else "unknown"
        raise PlanError(
            f"seedsweep cannot sweep {key} with a sweep of type {kind}: it runs a grid. "
            f"Use a comma list, choice() or range() instead."
        )

    texts = tuple(f"{key}={value}" for value in override.sweep_string_iterator())
    values = tuple(_typed_value(text, parser) for text in texts)
    return _Axis(name, texts, values, swept=True)


def _param_name(override: Override) -> str:
    if override.package:
        return f"{override.key_or_group}@{override.package}"
    return override.key_or_group


def _typed_value(text: str, parser: OverridesParser) -> Any:
    return parser.parse_override(text).value()


def _find_seed_axis(axes: list[_Axis], seed_key: str) -> _Axis | None:
    for axis in axes:
        if axis.name == seed_key and axis.swept:
            return axis
    return None


def _seeds_from_axis(axis: _Axis) -> tuple[int, ...]:
    hint = f"the seed axis {axis.name} must sweep distinct ints"
    return _seed_list(list(axis.values), hint)


def _study_params(
    swept: Mapping[str, list[Any]], settings: Settings, seeds: tuple[int, ...] | None
) -> tuple[str, ...]:
    if seeds is None:
        return tuple(swept)

    for key in settings.groups:
        if key not in swept:
            raise PlanError(
                f"`hydra.sweeper.groups` names {key!r}, which is not swept. "
                f"Sweep it (for example {key}=a,b) or remove it from groups."
            )
    study = tuple(key for key in swept if key not in settings.groups)
    if not study:
        raise PlanError(
            "no study parameter is swept: give at least one parameter with several values, "
            "for example lr=1e-4,3e-4,1e-3."
        )
    return study


def _check_baseline(baseline: Any, swept: Mapping[str, list[Any]], study_params: Sequence[str]) -> None:
    """Reject a baseline that is not a value of any study parameter, before any job runs."""
    if baseline is None:
        return
    for param in study_params:
        if any(_same_value(baseline, value) for value in swept[param]):
            return
    values = "; ".join(f"{param}: {', '.join(str(v) for v in swept[param])}" for param in study_params)
    raise PlanError(
        f"`hydra.sweeper.baseline` is {baseline!r}, which is not a swept value ({values}). "
        "Set it to one of them, or to null for the best value."
    )


def _same_value(left: Any, right: Any) -> bool:
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool) and not isinstance(right, bool):
        return math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=0.0)
    return left == right or str(left) == str(right)


def _jobs(
    axes: Sequence[_Axis], seeds: tuple[int, ...] | None, seed_override: str, parser: OverridesParser
) -> tuple[Job, ...]:
    combinations = list(itertools.product(*(range(len(axis.overrides)) for axis in axes)))
    seed_list: Sequence[int | None] = seeds if seeds is not None else [None]

    jobs = []
    for seed in seed_list:
        for combination in combinations:
            overrides = [axis.overrides[i] for axis, i in zip(axes, combination)]
            params = {axis.name: axis.values[i] for axis, i in zip(axes, combination) if axis.swept}
            if seed is not None:
                overrides.append(f"{seed_override}={seed}")
            jobs.append(Job(len(jobs), tuple(overrides), seed, params))
    return tuple(jobs)


def split_batches(jobs: Sequence[Job], max_batch_size: int | None) -> tuple[tuple[Job, ...], ...]:
    """Cut jobs into launcher batches of at most ``max_batch_size`` (None: one batch)."""
    if not jobs:
        return ()
    size = max_batch_size or len(jobs)
    return tuple(tuple(jobs[start : start + size]) for start in range(0, len(jobs), size))


# ---------------------------------------------------------------- resume


def compare_plans(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """List how a recorded sweep definition differs from the current one.

    Only what changes the meaning of the recorded runs counts: the values,
    the seeds, the seed key, the metric, the direction and each job's
    overrides. Report settings may change between runs.
    """
    differences = []
    for key in ("params", "seeds", "seed_key", "metric", "direction", "divergence"):
        if recorded.get(key) != current.get(key):
            differences.append(f"{key}: recorded {recorded.get(key)!r}, now {current.get(key)!r}")

    recorded_jobs = [job.get("overrides") for job in recorded.get("jobs", [])]
    current_jobs = [job.get("overrides") for job in current.get("jobs", [])]
    if not differences and recorded_jobs != current_jobs:
        differences.append("the job overrides differ (the override order or the fixed overrides changed)")
    return differences
