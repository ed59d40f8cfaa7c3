"""Number, value and label formatting shared by every report output.

The markdown, html and terminal outputs and the figures all format through
these functions, so one number reads the same everywhere.
"""

from __future__ import annotations

import math
import os
from typing import Any
from typing import Iterable
from typing import Sequence

MISSING_TEXT = "n/a"


def is_missing(number: Any) -> bool:
    """Return True for None, NaN and pandas' NA."""
    if number is None:
        return True
    try:
        return bool(number != number)
    except TypeError:
        # pandas.NA raises on bool(); it is the only missing marker that does.
        return True


def format_value(value: Any) -> str:
    """Format a value of the study parameter: ``0.001``, ``3``, ``resnet``."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        value = item()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def value_label(param: str, value: Any) -> str:
    """Return ``param=value``, as the report names a value."""
    return f"{param}={format_value(value)}"


def section_title(param: str, group: str) -> str:
    """Return the heading of one (study parameter, group) section."""
    return f"{param} ({group})" if group else param


VERDICT_PHRASES = {
    "reliably_better": "reliably better",
    "reliably_worse": "reliably worse",
    "suggestive_better": "suggestively better",
    "suggestive_worse": "suggestively worse",
    "inconsistent": "inconsistent",
    "no_effect": "no consistent effect",
    "undetermined": "undetermined (one seed)",
    "no_data": "without a complete seed",
}


def verdict_phrase(verdict: str, verdict_text: Any = "") -> str:
    """Return a verdict code as words that fit a sentence ("lr=0.1 is ...")."""
    return VERDICT_PHRASES.get(str(verdict), str(verdict_text or verdict))


def trend_direction(param: str, metric: str, r: Any) -> str:
    """Return the direction of a trend by the sign of its pooled r: ``higher lr -> lower val_loss``.

    The trend table's text takes the same sign. The slope in metric units
    can point the other way, because it weighs seeds with a larger spread more.
    """
    if is_missing(r) or float(r) == 0:
        return f"{metric} does not change with {param}"
    word = "lower" if float(r) < 0 else "higher"
    return f"higher {param} -> {word} {metric}"


def format_number(number: Any, digits: int = 3, keep_zeros: bool = False) -> str:
    """Format a number with ``digits`` significant digits; NaN reads ``n/a``.

    With ``keep_zeros`` trailing zeros stay (``3.000``), so a column of
    means shows the same precision on every row.
    """
    if is_missing(number):
        return MISSING_TEXT
    number = float(number)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if keep_zeros:
        return f"{number:#.{digits}g}".rstrip(".")
    return f"{number:.{digits}g}"


def format_t(t: Any) -> str:
    """Format a t-statistic with one decimal (``-5.1``, ``inf``)."""
    if is_missing(t):
        return MISSING_TEXT
    t = float(t)
    if math.isinf(t):
        return "inf" if t > 0 else "-inf"
    text = f"{t:.1f}"
    # A t that rounds to zero reads 0.0, never -0.0.
    return "0.0" if text == "-0.0" else text


def format_p(p: Any) -> str:
    """Format a p-value with two significant digits, ``<0.001`` below that."""
    if is_missing(p):
        return MISSING_TEXT
    p = float(p)
    if p < 0.001:
        return "<0.001"
    return f"{p:.2g}"


def p_equals(p: Any) -> str:
    """Write ``p = 0.03``, or ``p < 0.001`` for small p."""
    text = format_p(p)
    if text.startswith("<"):
        return f"p < {text[1:]}"
    return f"p = {text}"


def format_percent(fraction: Any) -> str:
    """Format a fraction in [0, 1] as a whole percentage (``38%``)."""
    if is_missing(fraction):
        return MISSING_TEXT
    return f"{100 * float(fraction):.0f}%"


def interval_decimals(low: Any, high: Any) -> int | None:
    """Return the decimals that give the interval's width two significant digits.

    Returns:
        The number of decimals (0 to 12), or None when the width is zero,
        infinite or missing and the caller should use significant digits.
    """
    if is_missing(low) or is_missing(high):
        return None
    width = abs(float(high) - float(low))
    if width == 0 or math.isinf(width):
        return None
    decimals = 1 - math.floor(math.log10(width))
    return min(max(decimals, 0), 12)


def format_fixed(number: Any, decimals: int | None) -> str:
    """Format with fixed ``decimals``, or three significant digits when None."""
    if decimals is None or is_missing(number) or math.isinf(float(number)):
        return format_number(number)
    return f"{float(number):.{decimals}f}"


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """Join ``["a", "b", "c"]`` into ``"a, b and c"``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def count_noun(count: int, noun: str, plural: str | None = None) -> str:
    """Return ``"1 seed"`` or ``"3 seeds"``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or noun + 's'}"


def parse_group(group: str) -> list[tuple[str, str]]:
    """Split a group label ``"model=resnet, opt=adam"`` into ``(key, text)`` pairs.

    NOTE: a value that itself contains ", " splits wrongly; group labels are
    built from config values, which rarely contain one.
    """
    if not group:
        return []
    pairs = []
    for part in group.split(", "):
        key, _, text = part.partition("=")
        pairs.append((key, text))
    return pairs


def matches_text(value: Any, text: str) -> bool:
    """Tell whether a run table cell contains the value a group label wrote as ``text``."""
    if is_missing(value):
        return text in ("nan", "None", "<NA>", "")
    if str(value) == text or format_value(value) == text:
        return True
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with ``...``."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    return text[: width - 3] + "..."


def shorten_values(labels: Sequence[str], width: int) -> list[str]:
    """Shorten value labels to ``width`` characters, keeping them apart where possible.

    A prefix that every label shares (``optimizer_setting_1``,
    ``optimizer_setting_2``) is replaced by ``...`` first, so the part that
    distinguishes the values survives the cut.
    """
    labels = list(labels)
    if all(len(label) <= width for label in labels):
        return labels
    prefix = os.path.commonprefix(labels) if len(labels) > 1 else ""
    if len(prefix) > 3:
        labels = ["..." + label[len(prefix):] for label in labels]
    return [shorten(label, width) for label in labels]


def first_line(text: Any) -> str:
    """Return the first non-empty line of ``text`` ('' for None or NaN)."""
    if is_missing(text):
        return ""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def sorted_seeds(seeds: Iterable[Any]) -> list[int]:
    """Return the distinct seeds as ints in ascending order."""
    return sorted({int(seed) for seed in seeds if not is_missing(seed)})
