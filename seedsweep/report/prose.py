"""The report's summary, written as a results paragraph.

The first paragraph states what was compared, on how many runs and seeds,
how the runs ended, and which test ran and why. Then one paragraph per
(study parameter, group) states what the test found: the reliable values with their
effect in the metric's units, the trend, the failures per value, the chance
of a false alarm and how many seeds would settle the open questions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from seedsweep.plots import section_values
from seedsweep.plots import sections
from seedsweep.report.text import count_noun
from seedsweep.report.text import format_fixed
from seedsweep.report.text import format_number
from seedsweep.report.text import format_percent
from seedsweep.report.text import format_t
from seedsweep.report.text import format_value
from seedsweep.report.text import interval_decimals
from seedsweep.report.text import is_missing
from seedsweep.report.text import join_words
from seedsweep.report.text import p_equals
from seedsweep.report.text import section_title
from seedsweep.report.text import trend_direction
from seedsweep.report.text import value_label
from seedsweep.report.text import verdict_phrase

if TYPE_CHECKING:
    import pandas as pd

    from seedsweep.stats import Analysis

STATUS_ORDER = ("ok", "diverged", "crashed", "invalid", "missing")
STATUS_PHRASES = {
    "ok": "{n} {were} ok",
    "diverged": "{n} diverged",
    "crashed": "{n} crashed",
    "invalid": "{n} returned no usable metric (invalid)",
    "missing": "{n} {are} missing",
}
# Above this many values the overview gives the range instead of the list.
MAX_LISTED_VALUES = 8
# Above this many seeds a sentence gives their count instead of the list.
MAX_LISTED_SEEDS = 6


def summary_paragraphs(analysis: Analysis) -> list[str]:
    """Write the summary: the overview paragraph, then one per section."""
    paragraphs = [overview_paragraph(analysis)]
    for param, group in sections(analysis):
        paragraphs.append(section_paragraph(analysis, param, group))
    return paragraphs


# ---------------------------------------------------------------- overview


def overview_paragraph(analysis: Analysis) -> str:
    """Write what was compared, how the runs ended and which test ran."""
    settings = analysis.settings
    params = _analysed_params(analysis)
    direction = "higher" if settings.get("direction") == "maximize" else "lower"
    seeds = int(analysis.groups["n_seeds"].max()) if len(analysis.groups) else 0

    sentences = [
        f"seedsweep compared {_compared(analysis, params)} on {settings['metric']} "
        f"({direction} is better), running every value on the same {count_noun(seeds, 'seed')}"
        f"{_groups_phrase(analysis, params)}.",
        _status_sentence(analysis, params[0]),
        _exclusion_sentence(analysis),
        _method_sentence(analysis),
    ]
    return " ".join(sentence for sentence in sentences if sentence)


def _analysed_params(analysis: Analysis) -> list[str]:
    params: list[str] = []
    for param, _ in sections(analysis):
        if param not in params:
            params.append(param)
    return params


def _compared(analysis: Analysis, params: list[str]) -> str:
    if len(params) > 1:
        counts = [f"{param} ({_value_count(analysis, param)} values)" for param in params]
        return join_words(counts)

    param = params[0]
    group = sections(analysis)[0][1]
    values = section_values(analysis, param, group)
    if len(values) > MAX_LISTED_VALUES:
        return (
            f"{len(values)} values of {param} from {format_value(values[0])} "
            f"to {format_value(values[-1])}"
        )
    return f"{param} = {join_words([format_value(value) for value in values])}"


def _value_count(analysis: Analysis, param: str) -> int:
    rows = analysis.summary[analysis.summary["param"] == param]
    return int(rows["value"].nunique())


def _groups_phrase(analysis: Analysis, params: list[str]) -> str:
    if len(params) > 1:
        return (
            "; each study parameter was analysed with the other swept parameters "
            "held fixed as groups"
        )
    groups = [group for param, group in sections(analysis) if param == params[0] and group]
    if not groups:
        return ""
    if len(groups) > 4:
        return f" in each of {len(groups)} groups"
    return f" in {count_noun(len(groups), 'group')} ({'; '.join(groups)})"


def status_counts(analysis: Analysis, param: str) -> dict[str, int]:
    """Count the runs of a study parameter's grid by status.

    Every grid cell is counted once: ok runs from the summary, the rest,
    missing cells included, from the failures table. In a factorial every
    study parameter's groups cover the same grid, so any one of them counts
    every run.
    """
    summary = analysis.summary[analysis.summary["param"] == param]
    failures = analysis.failures[analysis.failures["param"] == param]

    counts = {"ok": int(summary["n_ok"].sum())}
    for status, count in failures["status"].astype(str).value_counts().items():
        counts[status] = int(count)
    return counts


def _status_sentence(analysis: Analysis, param: str) -> str:
    counts = status_counts(analysis, param)
    total = sum(counts.values())
    if counts.get("ok") == total:
        return f"All {count_noun(total, 'run')} {'was' if total == 1 else 'were'} ok."
    return f"Of the {count_noun(total, 'run')}, {status_phrase(counts)}."


def status_phrase(counts: dict[str, int]) -> str:
    """Write counts by status: ``"21 were ok, 2 diverged and 1 crashed"``."""
    phrases = []
    for status, n in _ordered(counts):
        template = STATUS_PHRASES.get(status, "{n} " + status)
        singular = n == 1
        phrase = template.format(
            n=n, were="was" if singular else "were", are="is" if singular else "are"
        )
        phrases.append(phrase)
    return join_words(phrases) if phrases else "none ran"


def _ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    known = [status for status in STATUS_ORDER if counts.get(status)]
    other = sorted(status for status in counts if status not in STATUS_ORDER and counts[status])
    return [(status, counts[status]) for status in known + other]


def _exclusion_sentence(analysis: Analysis) -> str:
    set_aside = _set_aside_sentence(analysis)
    if set_aside:
        return set_aside + " " + _seed_exclusion_sentence(analysis, "the other values' runs")
    return _seed_exclusion_sentence(analysis, "its runs")


def _set_aside_sentence(analysis: Analysis) -> str:
    """Name the values that failed on every seed and so were left out of the comparison."""
    summary = analysis.summary
    set_aside = summary[_set_aside_rows(summary)]
    if set_aside.empty:
        return ""
    named = join_words([f"{row.param}={format_value(row.value)}" for row in set_aside.itertuples(index=False)])
    return f"{named} failed on every seed, so {'it is' if len(set_aside) == 1 else 'they are'} left out of the comparison."


def _set_aside_rows(summary: pd.DataFrame) -> pd.Series:
    """Mark the summary rows of values that failed on every seed (False where the column is absent)."""
    import pandas as pd

    if "set_aside" not in summary:
        return pd.Series(False, index=summary.index)
    return summary["set_aside"].astype(bool)


def _seed_exclusion_sentence(analysis: Analysis, runs_phrase: str) -> str:
    if not any(len(seeds) for seeds in analysis.groups["excluded_seeds"]):
        if len(analysis.groups) > 1:
            return f"Every seed is complete in every group: all of {runs_phrase} succeeded."
        return f"Every seed is complete: all of {runs_phrase} succeeded."
    if len(analysis.groups) != 1:
        return (
            "A seed with a failed run is left out of its group's statistics, so that every "
            "value is compared on the same seeds. The paragraph for each group names them."
        )
    row = next(analysis.groups.itertuples(index=False))
    seeds = [int(item["seed"]) for item in row.excluded_seeds]
    because = "it has a failed run" if len(seeds) == 1 else "each has a failed run"
    verb = "was" if len(seeds) == 1 else "were"
    return (
        f"{_seed_list(seeds).capitalize()} {verb} left out of the statistics because "
        f"{because}, which leaves {count_noun(len(row.complete_seeds), 'complete seed')}."
    )


def _seed_list(seeds: list[int]) -> str:
    if len(seeds) > MAX_LISTED_SEEDS:
        return count_noun(len(seeds), "seed")
    return f"{'seed' if len(seeds) == 1 else 'seeds'} {join_words([str(seed) for seed in seeds])}"


def _method_sentence(analysis: Analysis) -> str:
    settings = analysis.settings
    threshold = float(settings.get("t_threshold", 2.0))
    test = (
        f"Within each seed the values' {settings['metric']} became z-scores, which removes how "
        "easy or hard the seed was, and a one-sample t-test of each value's z-scores across "
        "the complete seeds gives its t-statistic. Better or worse here means than the "
        "average of the compared values on the same seed, while effects are paired "
        "differences from the reference value."
    )
    if settings.get("verdict_rule") == "strict":
        rule = (
            "With the strict rule a value is called reliably better or worse only when its "
            "Holm-adjusted p across the values of its group is below 0.05."
        )
    else:
        rule = (
            f"A value is called reliably better or worse when |t| > {threshold:g} on at least "
            "4 seeds, and Holm's correction across the values of a group tells whether that "
            "also holds at the 5% level."
        )
    return f"{test} {rule}"


# ---------------------------------------------------------------- one section


def section_paragraph(analysis: Analysis, param: str, group: str) -> str:
    """Write the findings of one (study parameter, group) section."""
    summary = analysis.summary
    rows = summary[(summary["param"] == param) & (summary["group"] == group)]
    group_row = _group_row(analysis, param, group)

    sentences = [
        _seeds_sentence(param, group, group_row),
        _reference_sentence(param, rows, group_row, analysis.settings),
        *_reliable_sentences(param, rows, analysis.settings["metric"]),
        *_other_verdict_sentences(param, rows),
        trend_sentence(analysis, param, group),
        *_failure_sentences(analysis, param, group, rows),
        _false_alarm_sentence(group_row, analysis.settings),
        _seeds_needed_sentence(param, rows),
        _note_sentence(group_row, analysis.notes),
    ]
    return " ".join(sentence for sentence in sentences if sentence)


def _group_row(analysis: Analysis, param: str, group: str) -> Any:
    groups = analysis.groups
    rows = groups[(groups["param"] == param) & (groups["group"] == group)]
    return next(rows.itertuples(index=False))


def _seeds_sentence(param: str, group: str, row: Any) -> str:
    complete = len(row.complete_seeds)
    excluded = list(row.excluded_seeds)
    subject = f"For {section_title(param, group)}"
    if not excluded:
        return f"{subject}, all {count_noun(complete, 'seed')} are complete."
    if len(excluded) > MAX_LISTED_SEEDS:
        detail = f"{count_noun(len(excluded), 'seed')} were excluded (see the failures table)"
    else:
        parts = [f"seed {int(item['seed'])} ({item['reason']})" for item in excluded]
        detail = f"excluded: {join_words(parts)}"
    return f"{subject}, {complete} of {row.n_seeds} seeds are complete; {detail}."


def _reference_sentence(param: str, rows: pd.DataFrame, group_row: Any, settings: dict) -> str:
    reference = group_row.reference
    if is_missing(reference) or rows["effect"].isna().all():
        return ""
    label = value_label(param, reference)
    baseline = settings.get("baseline")
    if baseline is not None and not is_missing(baseline):
        return f"Effects are paired differences against the baseline {label}."
    return f"Effects are paired differences against {label}, the best value by mean z-score."


def _reliable_sentences(param: str, rows: pd.DataFrame, metric: str) -> list[str]:
    reliable = rows[rows["verdict"].isin(["reliably_better", "reliably_worse"])]
    if reliable.empty:
        return [f"No value of {param} is reliably better or worse than the others."]
    return [_reliable_sentence(param, row, metric) for row in reliable.itertuples(index=False)]


def _reliable_sentence(param: str, row: Any, metric: str) -> str:
    label = value_label(param, row.value)
    evidence = f"t = {format_t(row.t)} on {count_noun(int(row.n), 'seed')}, {holm_phrase(row)}"
    verdict = verdict_phrase(row.verdict, row.verdict_text)
    if _is_reference(row) or is_missing(row.effect):
        return f"{label} is {verdict} ({evidence})."
    return f"{label} is {verdict}: {effect_phrase(row, metric)}, {evidence}."


def _is_reference(row: Any) -> bool:
    return not is_missing(row.reference) and row.value == row.reference


def effect_phrase(row: Any, metric: str) -> str:
    """Write a summary row's effect: ``"0.021 lower val_loss than lr=0.0003 (95% CI ...)"``.

    The interval is turned with the effect, so ``lower`` reads with positive
    bounds. Both bounds and the effect share decimals that give the
    interval's width two significant digits.
    """
    effect = float(row.effect)
    low, high = float(row.effect_low), float(row.effect_high)
    word = "lower" if effect < 0 else "higher"
    if effect < 0:
        effect, low, high = -effect, -high, -low

    decimals = interval_decimals(low, high)
    reference = value_label(str(row.param), row.reference)
    interval = f"95% CI {format_fixed(low, decimals)} to {format_fixed(high, decimals)}"
    return f"{format_fixed(effect, decimals)} {word} {metric} than {reference} ({interval})"


def holm_phrase(row: Any) -> str:
    """Write whether a value survives the Holm correction."""
    if bool(row.holm_significant):
        return "survives Holm"
    return f"does not survive Holm (adjusted {p_equals(row.p_holm)})"


def _other_verdict_sentences(param: str, rows: pd.DataFrame) -> list[str]:
    sentences = []
    set_aside = _set_aside_rows(rows)
    if set_aside.any():
        labels = [value_label(param, value) for value in rows.loc[set_aside, "value"]]
        pronoun = "they have" if len(labels) > 1 else "it has"
        sentences.append(f"{join_words(labels)} failed on every seed, so {pronoun} no verdict.")
        rows = rows[~set_aside]

    for verdict, template in OTHER_VERDICTS:
        chosen = rows[rows["verdict"] == verdict]
        if chosen.empty:
            continue
        labels = [
            f"{value_label(param, row.value)} (t = {format_t(row.t)})"
            for row in chosen.itertuples()
        ]
        plural = len(labels) > 1
        sentences.append(template.format(
            values=join_words(labels),
            verb_look="look" if plural else "looks",
            verb_have="have" if plural else "has",
            verb_show="show" if plural else "shows",
            pronoun="they have" if plural else "it has",
        ))
    return sentences


OTHER_VERDICTS = (
    (
        "suggestive_better",
        "{values} {verb_look} better, but on fewer than 4 seeds: suggestive only.",
    ),
    (
        "suggestive_worse",
        "{values} {verb_look} worse, but on fewer than 4 seeds: suggestive only.",
    ),
    (
        "inconsistent",
        "{values} {verb_have} a large mean z-score but a weak t, which one lucky or unlucky "
        "seed can cause.",
    ),
    ("no_effect", "{values} {verb_show} no consistent effect."),
    ("undetermined", "{values} {verb_have} one complete seed only: replicate before concluding."),
    ("no_data", "{values} {verb_have} no complete seed, so {pronoun} no verdict."),
)


# ---------------------------------------------------------------- trend


def trend_sentence(analysis: Analysis, param: str, group: str) -> str:
    """Write whether the trend is a clean dose-response, or why none was fitted."""
    trend = analysis.trend
    rows = trend[(trend["param"] == param) & (trend["group"] == group)]
    if rows.empty:
        return _no_trend_sentence(analysis, param, group)

    row = next(rows.itertuples(index=False))
    unit = f"decade of {param}" if str(row.scale) == "log" else f"unit of {param}"
    slope = f"about {format_number(row.slope)} {analysis.settings['metric']} per {unit}"
    stats = (
        f"pooled r = {float(row.r):.2f} and a per-seed slope t = {format_t(row.slope_t)} "
        f"({p_equals(row.slope_p)})"
    )
    direction = trend_direction(param, analysis.settings["metric"], row.r)
    if float(row.slope) * float(row.r) < 0:
        slope = f"while the mean per-seed slope in {analysis.settings['metric']} points the other way ({slope})"
    if bool(row.clean):
        return f"The trend is a clean dose-response: {direction}, with {stats}, {slope}."
    return (
        f"The trend is not a clean dose-response: {stats}, Spearman rho = "
        f"{float(row.spearman_rho):.2f}. The direction of r is {direction}, {slope}."
    )


def _no_trend_sentence(analysis: Analysis, param: str, group: str) -> str:
    from seedsweep.plots import is_numeric

    values = section_values(analysis, param, group)
    if not is_numeric(values):
        return f"No trend was fitted because {param} is not numeric."
    count = "1 value" if len(values) == 1 else f"{len(values)} values"
    return f"No trend was fitted because {param} has only {count} (3 are needed)."


# ---------------------------------------------------------------- failures


def _failure_sentences(analysis: Analysis, param: str, group: str, rows: pd.DataFrame) -> list[str]:
    by_value = failures_by_value(analysis, param, group)
    if not by_value:
        return ["Every run of every value succeeded."]

    parts = []
    for row in rows.itertuples(index=False):
        counts = by_value.get(row.value)
        if counts:
            failed = sum(counts.values())
            total = int(row.n_ok) + failed
            breakdown = ", ".join(f"{n} {status}" for status, n in _ordered(counts))
            parts.append(f"{failed} of {total} for {value_label(param, row.value)} ({breakdown})")
    sentences = [f"Runs that failed: {join_words(parts)}."]
    sentences.append(_highest_failure_rate_sentence(param, rows, by_value))
    return sentences


def failures_by_value(analysis: Analysis, param: str, group: str) -> dict[Any, dict[str, int]]:
    """Count a section's failed runs by value and status, missing cells included."""
    failures = analysis.failures
    rows = failures[(failures["param"] == param) & (failures["group"] == group)]
    counts: dict[Any, dict[str, int]] = {}
    for row in rows.itertuples(index=False):
        per_value = counts.setdefault(row.value, {})
        per_value[str(row.status)] = per_value.get(str(row.status), 0) + 1
    return counts


def _highest_failure_rate_sentence(
    param: str, rows: pd.DataFrame, by_value: dict[Any, dict[str, int]]
) -> str:
    # A value whose failure rate is above every other value's is named, even
    # when its surviving runs look good: the failures are part of its result.
    rates = {}
    for row in rows.itertuples(index=False):
        failed = sum(by_value.get(row.value, {}).values())
        total = int(row.n_ok) + failed
        rates[row.value] = failed / total if total else 0.0
    top = max(rates.values())
    worst = [value for value, rate in rates.items() if rate == top]
    if len(worst) == len(rates) or len(worst) > 1:
        return ""

    value = worst[0]
    counts = by_value[value]
    verb = "diverges" if counts.get("diverged", 0) * 2 > sum(counts.values()) else "fails"
    row = next(r for r in rows.itertuples(index=False) if r.value == value)
    sentence = (
        f"{value_label(param, value)} {verb} more often than any other value "
        f"({format_percent(top)} of its runs)"
    )
    if str(row.verdict).endswith("better"):
        sentence += (
            f", even though its surviving runs look {verdict_phrase(row.verdict)}: its verdict only "
            "describes the runs that survived"
        )
    return sentence + "."


# ---------------------------------------------------------------- caveats


def _false_alarm_sentence(row: Any, settings: dict) -> str:
    chance = row.false_alarm_chance
    if is_missing(chance):
        return ""
    if settings.get("verdict_rule") == "strict":
        rule = "Holm-adjusted p < 0.05"
    else:
        rule = f"|t| > {float(settings.get('t_threshold', 2.0)):g} rule"
    return (
        f"With {count_noun(len(row.complete_seeds), 'complete seed')} and "
        f"{count_noun(int(row.k), 'value')}, the chance that at least one value passes the "
        f"{rule} by luck alone, with no real effect anywhere, is {format_percent(chance)}."
    )


def _seeds_needed_sentence(param: str, rows: pd.DataFrame) -> str:
    parts = []
    enough = []
    for row in rows.itertuples(index=False):
        if is_missing(row.seeds_needed):
            continue
        label = value_label(param, row.value)
        if int(row.seeds_needed) <= int(row.n):
            enough.append(f"{label} (about {count_noun(int(row.seeds_needed), 'seed')})")
            continue
        needed = count_noun(int(row.seeds_needed), "seed")
        verdict = verdict_phrase(row.verdict, row.verdict_text)
        parts.append(f"{needed} for {label} ({verdict})")

    sentences = []
    if parts:
        sentences.append(
            "To settle the open questions, a paired t-test with 80% power at the 5% level "
            f"would need about {join_words(parts)}, given the observed differences against "
            "the reference and their spread."
        )
    if enough:
        sentences.append(
            f"For {join_words(enough)}, the complete seeds already give a paired t-test "
            "against the reference 80% power at the 5% level, although the verdict, which "
            "compares with the average of the values, shows no reliable effect."
        )
    return " ".join(sentences)


def _note_sentence(row: Any, notes: list[str]) -> str:
    # A group note that the analysis also lists among its notes is already
    # shown below the overview paragraph, so it is not repeated here.
    sentences = []
    note = str(row.note or "").strip()
    if note and not any(note in text for text in notes):
        sentences.append(note[0].upper() + note[1:] + ("" if note.endswith(".") else "."))
    flat = list(row.flat_seeds)
    if flat:
        sentences.append(
            f"{_seed_list([int(seed) for seed in flat]).capitalize()} gave the same metric for "
            "every value (flat), so their z-scores are all 0."
        )
    return " ".join(sentences)
