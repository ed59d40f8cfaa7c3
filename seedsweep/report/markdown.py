"""Render the report document as markdown (report.md).

Tables are GitHub-flavoured pipe tables; figures are linked as
``figures/*.png`` next to the report.
"""

from __future__ import annotations

import re

from seedsweep.report.document import Cell
from seedsweep.report.document import Document
from seedsweep.report.document import FigureRef
from seedsweep.report.document import Link
from seedsweep.report.document import Section
from seedsweep.report.document import Table


def render(document: Document) -> str:
    """Return the whole report as markdown text."""
    overview, *findings = [escape(text) for text in document.summary]
    parts = [f"# {escape(document.title)}", overview]
    if document.notes:
        parts.append("\n".join(f"- Note: {escape(note)}" for note in document.notes))
    parts.extend(findings)
    for section in document.sections:
        parts.extend(render_section(section))
    parts.extend(render_table(document.run_index, level=2))
    if document.files:
        parts.append("## Files")
        parts.append("\n".join(f"- {render_cell(link)}" for link in document.files))
    return "\n\n".join(parts) + "\n"


def render_section(section: Section) -> list[str]:
    """Return the markdown blocks of one (study parameter, group) section."""
    parts = [f"## {escape(section.title)}"]
    for table in section.tables:
        parts.extend(render_table(table, level=3))
    if section.figures:
        parts.append("### Figures")
        parts.extend(render_figure(figure) for figure in section.figures)
    return parts


def render_table(table: Table, level: int) -> list[str]:
    """Return a table's heading and pipe table, or its empty text."""
    heading = f"{'#' * level} {escape(table.title)}"
    if not table.rows:
        return [heading, escape(table.empty_text)]

    lines = [
        "| " + " | ".join(escape_cell(column) for column in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(render_cell(cell) for cell in row) + " |")
    return [heading, "\n".join(lines)]


def render_cell(cell: Cell) -> str:
    """Return one table cell: escaped text, or a link."""
    if isinstance(cell, Link):
        return f"[{escape_cell(cell.text)}]({cell.href})"
    return escape_cell(cell)


def render_figure(figure: FigureRef) -> str:
    """Return a figure as an image link, or the reason it is absent."""
    if figure.error is not None:
        return f"*{escape(figure.title)}: could not be drawn ({escape(figure.error)}).*"
    return f"![{escape(figure.title)}]({figure.href})"


def escape(text: str) -> str:
    """Escape the characters that markdown would read as markup in running text.

    An underscore inside a word (``val_loss``) stays as it is, because
    GitHub-flavoured markdown does not read it as emphasis.
    """
    text = re.sub(r"([\\`*\[\]])", r"\\\1", text)
    # "<" starts raw html only before a letter, "/", "!" or "?" ("p < 0.001" is text).
    text = re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text)
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def escape_cell(text: str) -> str:
    """Escape a table cell: markup characters, pipes and line breaks."""
    return escape(" ".join(str(text).split())).replace("|", "\\|")
