"""The report files, the summary paragraph and the terminal summary."""

from __future__ import annotations

import base64
import csv
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import seedsweep
from seedsweep.report import terminal_summary
from seedsweep.report import write_report
from seedsweep.report.prose import summary_paragraphs
from seedsweep.report.prose import trend_sentence
from seedsweep.report.text import format_p
from seedsweep.report.text import format_t
from seedsweep.report.text import interval_decimals
from tests.report_fixtures import make_factorial_runs
from tests.report_fixtures import make_runs
from tests.report_fixtures import make_wide_runs
from tests.report_fixtures import reference_analysis

COMPLETE_SEEDS = [0, 1, 3, 4, 7]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep folder with job folders and the report written into sweep/seedsweep."""
    root = tmp_path_factory.mktemp("sweep")
    runs = make_runs(job_root=str(root))
    for job_dir in runs["job_dir"]:
        Path(job_dir).mkdir()
    analysis = reference_analysis(runs, baseline=3e-4)
    out_dir = root / "seedsweep"
    written = write_report(analysis, runs, out_dir, figure_formats=("png", "svg"))
    return runs, analysis, out_dir, written


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("grouped")
    runs = make_runs(models=["mlp", "resnet"])
    analysis = reference_analysis(runs, groups=["model"])
    write_report(analysis, runs, out_dir, plots=False)
    return analysis, out_dir


@pytest.fixture(scope="module")
def factorial(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("factorial")
    runs = make_factorial_runs()
    analysis = reference_analysis(runs, params=["lr", "wd"])
    write_report(analysis, runs, out_dir, plots=False)
    return analysis, out_dir


def loss_matrix(runs, lrs):
    """val_loss of the complete seeds: one row per seed, one column per lr."""
    rows = []
    for seed in COMPLETE_SEEDS:
        chosen = runs[runs["seed"] == seed].set_index("lr")["val_loss"]
        rows.append([chosen[lr] for lr in lrs])
    return np.array(rows)


# ---------------------------------------------------------------- files


def test_report_writes_the_layout(sweep):
    _, _, out_dir, written = sweep
    names = {path.relative_to(out_dir).as_posix() for path in written}

    expected = {"report.md", "report.html", "runs.csv", "summary.csv", "trend.csv",
                "failures.csv", "analysis.json"}
    for kind in ("paired", "z", "t", "trend", "status"):
        expected |= {f"figures/{kind}_lr.png", f"figures/{kind}_lr.svg"}
    assert names == expected
    assert all(path.exists() for path in written)


def test_runs_csv_has_every_run(sweep):
    runs, _, out_dir, _ = sweep
    table = pd.read_csv(out_dir / "runs.csv")

    assert len(table) == len(runs)
    assert table["status"].value_counts().to_dict() == {"ok": 28, "diverged": 2, "crashed": 1}
    assert list(table["job"]) == list(runs["job"])


def test_failures_csv_has_failed_and_missing(sweep):
    _, _, out_dir, _ = sweep
    with open(out_dir / "failures.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))

    cells = {(row["seed"], row["value"], row["status"]) for row in rows}
    assert cells == {("2", "0.01", "diverged"), ("5", "0.01", "diverged"),
                     ("6", "0.0001", "crashed"), ("6", "0.001", "missing")}


def test_summary_csv_matches_analysis(sweep):
    _, analysis, out_dir, _ = sweep
    table = pd.read_csv(out_dir / "summary.csv")

    assert list(table.columns) == list(analysis.summary.columns)
    assert table["t"].to_numpy() == pytest.approx(analysis.summary["t"].to_numpy())
    assert list(table["verdict"]) == list(analysis.summary["verdict"])


def test_analysis_json_is_the_analysis(sweep):
    _, analysis, out_dir, _ = sweep
    document = json.loads((out_dir / "analysis.json").read_text())

    assert document == json.loads(json.dumps(analysis.to_json()))
    assert document["schema_version"] == 1


def test_report_files_are_readable_by_others(sweep):
    _, _, out_dir, _ = sweep

    for name in ("report.html", "runs.csv", "analysis.json"):
        assert (out_dir / name).stat().st_mode & 0o044, name


def test_unknown_format_is_rejected(tmp_path):
    runs = make_runs()
    analysis = reference_analysis(runs)

    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        write_report(analysis, runs, tmp_path, formats=("md", "pdf"))
    with pytest.raises(ValueError, match="got the string 'md'"):
        write_report(analysis, runs, tmp_path, formats="md")
    with pytest.raises(ValueError, match="unknown figure format 'jpg'"):
        write_report(analysis, runs, tmp_path, figure_formats=("jpg",))
    assert not (tmp_path / "report.md").exists()


def test_report_without_plots(grouped):
    _, out_dir = grouped

    assert not (out_dir / "figures").exists()
    assert "<img" not in (out_dir / "report.html").read_text()
    assert "figures/" not in (out_dir / "report.md").read_text()


# ---------------------------------------------------------------- summary paragraph


def test_summary_states_reliable_effect_with_interval(sweep):
    runs, analysis, _, _ = sweep
    m = loss_matrix(runs, [3e-4, 1e-3])
    difference = m[:, 1] - m[:, 0]
    mean = difference.mean()
    low, high = stats.t.interval(0.95, len(difference) - 1, loc=mean, scale=stats.sem(difference))
    # The interval is about 0.04 wide, so two significant digits of it are 3 decimals.
    assert 0.01 <= high - low < 0.1

    text = summary_paragraphs(analysis)[1]

    expected = (
        f"lr=0.001 is reliably better: {-mean:.3f} lower val_loss than lr=0.0003 "
        f"(95% CI {-high:.3f} to {-low:.3f}), t = "
    )
    assert expected in text


def test_summary_states_t_and_holm(sweep):
    runs, analysis, _, _ = sweep
    m = loss_matrix(runs, [1e-4, 3e-4, 1e-3, 1e-2])
    z = stats.zscore(m, axis=1, ddof=0)
    t = stats.ttest_1samp(z[:, 2], 0.0).statistic

    text = summary_paragraphs(analysis)[1]

    assert f"t = {t:.1f} on 5 seeds, survives Holm." in text


def test_summary_counts_runs_by_status(sweep):
    _, analysis, _, _ = sweep
    overview = summary_paragraphs(analysis)[0]

    assert "Of the 32 runs, 28 were ok, 2 diverged, 1 crashed and 1 is missing." in overview
    assert "Seeds 2, 5 and 6 were left out of the statistics" in overview
    assert "5 complete seeds" in overview
    assert "lr = 0.0001, 0.0003, 0.001 and 0.01 on val_loss (lower is better)" in overview


def test_summary_names_the_diverging_value(sweep):
    _, analysis, _, _ = sweep
    text = summary_paragraphs(analysis)[1]

    assert "2 of 8 for lr=0.01 (2 diverged)" in text
    assert "1 of 8 for lr=0.001 (1 missing)" in text
    assert "lr=0.01 diverges more often than any other value (25% of its runs)" in text
    assert "even though its surviving runs look reliably better" in text


def test_summary_states_false_alarm_chance(sweep):
    _, analysis, _, _ = sweep
    chance = 1 - (1 - 2 * stats.t.sf(2.0, 4)) ** 4

    text = summary_paragraphs(analysis)[1]

    assert f"With 5 complete seeds and 4 values, the chance" in text
    assert f"by luck alone, with no real effect anywhere, is {100 * chance:.0f}%." in text


def test_summary_states_seeds_needed():
    runs = make_runs()
    analysis = reference_analysis(runs)
    m = loss_matrix(runs, [3e-4, 1e-3])
    difference = m[:, 0] - m[:, 1]
    from statsmodels.stats.power import TTestPower

    size = abs(difference.mean()) / difference.std(ddof=1)
    needed = int(np.ceil(TTestPower().solve_power(effect_size=size, alpha=0.05, power=0.8)))

    text = summary_paragraphs(analysis)[1]

    assert needed <= 5
    assert f"For lr=0.0003 (about {needed} seeds), the complete seeds already give a paired t-test" in text
    assert "against lr=0.001, the best value by mean z-score" in text


def test_summary_states_trend(sweep, factorial):
    _, analysis, _, _ = sweep
    factorial_analysis, _ = factorial

    assert "The trend is not a clean dose-response" in summary_paragraphs(analysis)[1]
    assert "per decade of lr" in summary_paragraphs(analysis)[1]
    lr_paragraph = summary_paragraphs(factorial_analysis)[1]
    assert "The trend is a clean dose-response: higher lr -> lower val_loss" in lr_paragraph
    wd_paragraph = summary_paragraphs(factorial_analysis)[3]
    assert "No trend was fitted because wd has only 2 values" in wd_paragraph


def test_summary_without_failures():
    runs = make_runs(failed={}, missing=set())
    analysis = reference_analysis(runs)

    paragraphs = summary_paragraphs(analysis)

    assert "All 32 runs were ok." in paragraphs[0]
    assert "Every seed is complete" in paragraphs[0]
    assert "Every run of every value succeeded." in paragraphs[1]


# ---------------------------------------------------------------- html and markdown


class TableParser(HTMLParser):
    """Collects the text of every html table, the img sources and the links."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.links = [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def markdown_tables(text):
    """Parse the pipe tables of a markdown text into lists of rows of cell text."""
    tables, current = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if re.fullmatch(r"\|(---\|)+", line):
            continue
        if current is None:
            current = []
            tables.append(current)
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        current.append([markdown_text(cell.strip()) for cell in cells])
    return tables


def markdown_text(cell):
    cell = re.sub(r"\[(.*?)\]\((.*?)\)", r"\1", cell)
    return re.sub(r"\\(.)", r"\1", cell)


def html_of(out_dir):
    parser = TableParser()
    parser.feed((out_dir / "report.html").read_text())
    return parser


def test_markdown_and_html_have_the_same_tables(sweep):
    _, _, out_dir, _ = sweep

    html_tables = html_of(out_dir).tables
    md_tables = markdown_tables((out_dir / "report.md").read_text())

    assert len(md_tables) == 4
    assert md_tables == html_tables


def test_grouped_report_tables_match(grouped):
    _, out_dir = grouped

    md_tables = markdown_tables((out_dir / "report.md").read_text())

    assert len(md_tables) == 2 * 3 + 1
    assert md_tables == html_of(out_dir).tables


def test_html_is_self_contained(sweep):
    _, _, out_dir, _ = sweep
    text = (out_dir / "report.html").read_text()
    parser = html_of(out_dir)

    assert "http" not in text.lower()
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "@import" not in text
    assert len(parser.images) == 5
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)


def test_html_embeds_the_figure_files(sweep):
    _, _, out_dir, _ = sweep
    images = html_of(out_dir).images

    embedded = base64.b64decode(images[0].split(",", 1)[1])

    assert embedded == (out_dir / "figures" / "paired_lr.png").read_bytes()


def test_html_is_printable(sweep):
    _, _, out_dir, _ = sweep
    text = (out_dir / "report.html").read_text()

    assert "@media print" in text
    assert '<meta name="viewport"' in text


def test_html_links_only_local_files(sweep):
    _, _, out_dir, _ = sweep
    links = html_of(out_dir).links

    assert "../24" in links
    assert "runs.csv" in links
    for link in links:
        assert (out_dir / link).exists(), link


def test_markdown_links_figures(sweep):
    _, _, out_dir, _ = sweep
    text = (out_dir / "report.md").read_text()

    figures = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", text)

    assert figures == [f"figures/{kind}_lr.png" for kind in ("paired", "z", "t", "trend", "status")]


def test_markdown_and_html_share_the_summary(sweep):
    _, analysis, out_dir, _ = sweep
    md = (out_dir / "report.md").read_text()
    html = (out_dir / "report.html").read_text()

    for paragraph in summary_paragraphs(analysis):
        assert paragraph in md
        assert paragraph.replace("'", "&#x27;").replace(">", "&gt;").replace("<", "&lt;") in html


def test_summary_table_formats_effect(sweep):
    runs, _, out_dir, _ = sweep
    m = loss_matrix(runs, [3e-4, 1e-3])
    difference = m[:, 1] - m[:, 0]
    low, high = stats.t.interval(0.95, 4, loc=difference.mean(), scale=stats.sem(difference))

    values = markdown_tables((out_dir / "report.md").read_text())[0]

    assert values[0][10] == "effect vs lr=0.0003 (95% CI)"
    row = next(row for row in values if row[0] == "0.001")
    assert row[10] == f"{difference.mean():.3f} ({low:.3f} to {high:.3f})"
    assert row[2] == "7/8"
    assert next(row for row in values if row[0] == "0.0003 (ref)")[10] == "reference"


def test_run_index_lists_every_run(sweep):
    runs, _, out_dir, _ = sweep
    index = markdown_tables((out_dir / "report.md").read_text())[-1]

    header, rows = index[0], index[1:]
    assert header == ["lr", "seed", "status", "val_loss", "reason", "job"]
    assert len(rows) == len(runs) + 1
    assert ["0.001", "6", "missing", "n/a", "no run record", "-"] in rows
    crashed = next(row for row in rows if row[2] == "crashed")
    assert crashed[:2] == ["0.0001", "6"]
    assert crashed[5] == "24"
    assert "[24](../24)" in (out_dir / "report.md").read_text()


def test_failures_table_lists_reasons(sweep):
    _, _, out_dir, _ = sweep
    failures = markdown_tables((out_dir / "report.md").read_text())[2]

    assert failures[0] == ["lr", "seed", "status", "reason", "job"]
    assert failures[1] == ["0.0001", "6", "crashed", "raised RuntimeError: CUDA out of memory", "24"]
    assert [row[2] for row in failures[1:]] == ["crashed", "missing", "diverged", "diverged"]


def test_grouped_report_has_section_per_group(grouped):
    _, out_dir = grouped
    md = (out_dir / "report.md").read_text()

    assert "## lr (model=mlp)" in md
    assert "## lr (model=resnet)" in md
    assert "in 2 groups (model=mlp; model=resnet)" in md


def test_factorial_report_warns_of_interaction(factorial):
    analysis, out_dir = factorial
    md = (out_dir / "report.md").read_text()
    html = (out_dir / "report.html").read_text()

    assert f"- Note: {analysis.notes[0]}" in md
    assert f"<li>Note: {analysis.notes[0]}</li>" in html
    paragraphs = summary_paragraphs(analysis)
    assert md.index(paragraphs[0]) < md.index(analysis.notes[0]) < md.index(paragraphs[1])
    assert "Every seed is complete in every group" in paragraphs[0]
    for heading in ("lr (wd=0.0)", "lr (wd=0.1)", "wd (lr=0.001)", "wd (lr=0.1)"):
        assert f"## {heading}" in md
        assert f"<h2>{heading}</h2>" in html
    assert "lr (3 values) and wd (2 values)" in md


# ---------------------------------------------------------------- number formats


@pytest.mark.parametrize(
    ("low", "high", "decimals"),
    [(0.012, 0.030, 3), (10.1, 14.5, 1), (-0.0131, 0.0252, 3), (120.0, 480.0, 0), (1.0, 1.0, None)],
)
def test_interval_decimals(low, high, decimals):
    assert interval_decimals(low, high) == decimals


def test_format_t_has_no_negative_zero():
    assert format_t(-0.04) == "0.0"
    assert format_t(-0.06) == "-0.1"
    assert format_t(float("-inf")) == "-inf"
    assert format_t(float("nan")) == "n/a"


def test_format_p_small_values():
    assert format_p(0.0004) == "<0.001"
    assert format_p(0.0123) == "0.012"
    assert format_p(None) == "n/a"


# ---------------------------------------------------------------- terminal


def test_trend_direction_follows_r():
    # Ten seeds rise a little and one falls steeply: r is positive, the mean slope negative.
    x = [1.0, 2.0, 3.0]
    rows = []
    for seed in range(11):
        metric = [0.0, 0.01, 0.02] if seed < 10 else [10.0, 5.0, 0.0]
        for value, number in zip(x, metric):
            rows.append({"seed": seed, "x": value, "loss": number + 0.001 * seed, "status": "ok"})
    runs = pd.DataFrame(rows)
    analysis = seedsweep.analyze(runs, param="x", metric="loss")
    row = analysis.trend.iloc[0]
    assert row["r"] > 0
    assert row["slope"] < 0

    terminal = terminal_summary(analysis, color=False)
    prose = trend_sentence(analysis, "x", "")
    assert "trend: higher x -> higher loss" in terminal
    assert "higher x -> higher loss" in prose
    assert "the mean per-seed slope in loss points the other way" in prose


def test_terminal_summary_plain(sweep):
    _, analysis, out_dir, _ = sweep

    text = terminal_summary(analysis, out_dir, color=False)

    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[1].split() == ["value", "n", "failed", "mean", "val_loss", "mean_z", "t", "p", "verdict"]
    assert lines[4].split() == ["0.001", "5", "1/8", "0.7553", "-0.82", "-12.3", "<0.001", "better"]
    assert lines[5].split()[2] == "2/8"
    assert "trend: higher lr -> lower val_loss, not a clean dose-response" in text
    assert text.rstrip().endswith(f"Report: {out_dir / 'report.html'}")


def test_terminal_summary_has_first_paragraph(sweep):
    _, analysis, _, _ = sweep

    text = terminal_summary(analysis, color=False)

    assert summary_paragraphs(analysis)[0] in " ".join(text.split())
    assert "Report:" not in text


def test_terminal_summary_colours_verdicts(sweep):
    _, analysis, _, _ = sweep

    text = terminal_summary(analysis, color=True)

    better = next(line for line in text.splitlines() if line.endswith("better\x1b[0m"))
    worse = next(line for line in text.splitlines() if line.endswith("worse\x1b[0m"))
    assert better.startswith("\x1b[32m")
    assert worse.startswith("\x1b[31m")


def test_terminal_colour_auto(sweep, monkeypatch):
    _, analysis, _, _ = sweep
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in terminal_summary(analysis)

    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in terminal_summary(analysis)


def test_terminal_fits_100_columns():
    runs = make_wide_runs(value_count=30, seed_count=6)
    lrs = sorted(runs["lr"].unique())
    runs["lr"] = runs["lr"].map({lr: f"very_long_optimizer_setting_number_{i:02d}_with_extras" for i, lr in enumerate(lrs)})
    analysis = reference_analysis(runs)

    text = terminal_summary(analysis, "/some/where/a/long/path", color=True)

    lines = [ANSI.sub("", line) for line in text.splitlines()]
    assert max(len(line) for line in lines) <= 100
    values = [line.split()[0] for line in lines[2:32]]
    assert values[12] == "...12_with_extras"
    assert len(set(values)) == 30


def test_terminal_marks_reliable_without_holm(grouped):
    analysis, _ = grouped
    summary = analysis.summary
    row = summary[(summary["group"] == "model=resnet") & (summary["value"] == 3e-4)].iloc[0]
    assert row["verdict"] == "reliably_better"
    assert not row["holm_significant"]

    text = terminal_summary(analysis, color=False)

    resnet = text.split("lr (model=resnet)")[1]
    assert "better (no Holm)" in resnet.splitlines()[3]


def test_summary_names_value_failing_everywhere():
    from seedsweep.stats import analyze

    rows = []
    for seed in range(4):
        for lr in (0.01, 0.03, 0.1):
            diverged = lr == 0.1
            rows.append(
                {"seed": seed, "lr": lr, "loss": np.nan if diverged else lr + 0.01 * seed * seed, "status": "diverged" if diverged else "ok"}
            )
    analysis = analyze(pd.DataFrame(rows), param="lr", metric="loss")
    text = " ".join(summary_paragraphs(analysis))

    assert "lr=0.1 failed on every seed, so it is left out of the comparison." in text
    assert "all of the other values' runs succeeded" in text
    assert "4 diverged" in text
    assert "no complete seed" not in text


def test_rewrite_drops_old_figures(tmp_path):
    runs = make_runs()
    from seedsweep.stats import analyze

    stale = tmp_path / "figures" / "paired_old_metric.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    written = write_report(analyze(runs, param="lr", metric="val_loss"), runs, tmp_path, formats=("md",))

    assert not stale.exists()
    figures = sorted(path.name for path in (tmp_path / "figures").iterdir())
    assert figures == sorted(path.name for path in written if path.parent.name == "figures")
