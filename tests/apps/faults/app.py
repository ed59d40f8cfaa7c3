"""A Hydra app that fails on request, for testing sweepers and callbacks.

By default a run returns ``{metric_key: loss}`` with::

    loss = (x - 1.5) ** 2 + seed_effect * N(seed) + noise * N(x, seed)

where ``N(...)`` is a standard normal draw from ``random.Random`` seeded with
the text of its arguments, so a run gives the same loss in every process. A
text ``x`` (such as ``adam``) enters the formula as a fixed number in [0, 3)
derived from the CRC-32 of the text.

The ``faults`` list changes what chosen runs do. Each entry is a string
``"X:SEED:BEHAVIOUR"``, where X and SEED are a value or ``*`` (any). X
matches numerically when both sides are numbers (``2`` matches ``2.0``),
else as text. For a run, the most specific matching entry wins: X and SEED,
then X alone, then SEED alone, then ``*:*``. Among equally specific entries
the last one wins. On the command line (quoted for the shell)::

    python app.py -m x=1,2 seed=0,1 'faults=[2:1:nan,*:0:raise_value_error]'

Behaviours. A row that starts with "the metric" returns
``{metric_key: value}``, or the value itself when ``bare=true``:

    ok                          the metric is the loss
    nan, inf, -inf              the metric is that float
    return_string               the metric is the string "1.5"
    return_bool                 the metric is True
    return_array                the metric is np.ones(3)
    return_numpy_scalar         the metric is the loss as np.float32
    return_number               the loss as a bare float, never a mapping
    return_none                 None
    return_other_key            {"other": 1}
    nested                      {"val": {metric_key: loss}}
    sleep                       waits ``sleep`` seconds, then returns as ok
    raise_value_error           raises ValueError
    raise_memory_error          raises MemoryError
    raise_floating_point_error  raises FloatingPointError
    raise_diverged              raises seedsweep.Diverged
    keyboard_interrupt          raises KeyboardInterrupt
    sigkill                     sends SIGKILL to its own process

Every raised error has the message "injected fault at x=<x>, seed=<seed>".
Each run logs its x, seed and behaviour at INFO before acting, and then the
returned value, so the job's log file shows what the run did.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import time
import zlib
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

import hydra
import numpy as np

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

ANY = "*"


class Fault(NamedTuple):
    """One parsed ``faults`` entry. ``x`` and ``seed`` are None for ``*``."""

    x: str | None
    seed: int | None
    behaviour: str


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Any:
    """Run the behaviour that ``faults`` selects for this run's x and seed."""
    faults = parse_faults(cfg.faults)
    behaviour = select_behaviour(faults, cfg.x, int(cfg.seed))
    return run_behaviour(behaviour, cfg)


def parse_faults(entries: Any) -> list[Fault]:
    """Parse the ``faults`` config value: a list of ``"X:SEED:BEHAVIOUR"``.

    A single string counts as a list of one entry, and None as an empty list.

    Raises:
        ValueError: an entry is malformed or names an unknown behaviour.
    """
    if entries is None:
        return []
    if isinstance(entries, str):
        entries = [entries]
    return [_parse_fault(str(entry)) for entry in entries]


def _parse_fault(entry: str) -> Fault:
    parts = entry.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"invalid fault entry {entry!r}: expected 'X:SEED:BEHAVIOUR' "
            f"with X and SEED a value or '*', for example '2.0:1:nan'"
        )
    x_text, seed_text, behaviour = parts

    if behaviour not in BEHAVIOURS:
        known = ", ".join(BEHAVIOURS)
        raise ValueError(
            f"unknown behaviour {behaviour!r} in fault entry {entry!r}. Known: {known}"
        )

    x = None if x_text == ANY else x_text
    seed = None if seed_text == ANY else _parse_seed(seed_text, entry)
    return Fault(x, seed, behaviour)


def _parse_seed(text: str, entry: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"invalid seed {text!r} in fault entry {entry!r}: expected an int or '*'"
        ) from None


def select_behaviour(faults: list[Fault], x: Any, seed: int) -> str:
    """Return the behaviour of the most specific fault matching (x, seed), else ``ok``."""
    best = "ok"
    best_rank = -1
    for fault in faults:
        if fault.x is not None and not _same_value(fault.x, x):
            continue
        if fault.seed is not None and fault.seed != seed:
            continue

        # X outranks SEED, and a later entry replaces an equal earlier one.
        rank = 2 * (fault.x is not None) + (fault.seed is not None)
        if rank >= best_rank:
            best = fault.behaviour
            best_rank = rank
    return best


def _same_value(text: str, x: Any) -> bool:
    left = _as_float(text)
    right = _as_float(x)
    if left is not None and right is not None:
        return left == right
    return text == str(x)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compute_loss(cfg: DictConfig) -> float:
    """Compute the deterministic loss of the module docstring for cfg's x and seed."""
    number = _as_float(cfg.x)
    if number is None:
        number = zlib.crc32(str(cfg.x).encode()) % 3000 / 1000
    seed = int(cfg.seed)

    seed_shift = random.Random(f"seed:{seed}").gauss(0.0, 1.0)
    run_noise = random.Random(f"run:{number!r}:{seed}").gauss(0.0, 1.0)
    return (number - 1.5) ** 2 + cfg.seed_effect * seed_shift + cfg.noise * run_noise


def run_behaviour(behaviour: str, cfg: DictConfig) -> Any:
    """Carry out one behaviour of the module docstring and return the task's result."""
    log.info(f"x={cfg.x} seed={cfg.seed}: {behaviour}")
    message = f"injected fault at x={cfg.x}, seed={cfg.seed}"

    if behaviour in RAISED_ERRORS:
        raise RAISED_ERRORS[behaviour](message)
    if behaviour == "raise_diverged":
        # Imported here so that every other behaviour runs without seedsweep.
        from seedsweep import Diverged

        raise Diverged(message)
    if behaviour == "keyboard_interrupt":
        raise KeyboardInterrupt
    if behaviour == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if behaviour == "sleep":
        time.sleep(float(cfg.sleep))

    returned = _returned_value(behaviour, cfg)
    log.info(f"x={cfg.x} seed={cfg.seed}: returning {returned!r}")
    return returned


def _returned_value(behaviour: str, cfg: DictConfig) -> Any:
    loss = compute_loss(cfg)
    metric_values = {
        "ok": loss,
        "sleep": loss,
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "return_string": "1.5",
        "return_bool": True,
        "return_array": np.ones(3),
        "return_numpy_scalar": np.float32(loss),
    }
    if behaviour in metric_values:
        value = metric_values[behaviour]
        return value if cfg.bare else {cfg.metric_key: value}

    other_values = {
        "return_number": loss,
        "return_none": None,
        "return_other_key": {"other": 1},
        "nested": {"val": {cfg.metric_key: loss}},
    }
    return other_values[behaviour]


RAISED_ERRORS: dict[str, type[Exception]] = {
    "raise_value_error": ValueError,
    "raise_memory_error": MemoryError,
    "raise_floating_point_error": FloatingPointError,
}

BEHAVIOURS = (
    "ok",
    "nan",
    "inf",
    "-inf",
    "return_string",
    "return_bool",
    "return_array",
    "return_numpy_scalar",
    "return_number",
    "return_none",
    "return_other_key",
    "nested",
    "sleep",
    *RAISED_ERRORS,
    "raise_diverged",
    "keyboard_interrupt",
    "sigkill",
)


if __name__ == "__main__":
    main()
