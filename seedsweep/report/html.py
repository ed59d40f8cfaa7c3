"""Render the report document as one self-contained html file (report.html).

Figures are embedded as base64 data URIs and the style sheet is inline, so
the file opens offline and can be mailed on its own. It has no JavaScript
and fetches nothing; its only links are relative links to job folders and
to the CSV and JSON files next to it.
"""

from __future__ import annotations

import base64
from html import escape

from seedsweep.report.document import Cell
from seedsweep.report.document import Document
from seedsweep.report.document import FigureRef
from seedsweep.report.document import Link
from seedsweep.report.document import Section
from seedsweep.report.document import Table

MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45;
       color: #1a1a1a; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
p.summary { max-width: 50em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.5em; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
.error { color: #a00; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  h2 { page-break-before: auto; page-break-after: avoid; }
  h3 { page-break-after: avoid; }
  figure, tr { page-break-inside: avoid; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


def render(document: Document) -> str:
    """Return the whole report as one html page."""
    overview, *findings = [f'<p class="summary">{escape(text)}</p>' for text in document.summary]
    parts = [f"<h1>{escape(document.title)}</h1>", overview]
    if document.notes:
        parts.append(_list(f"Note: {escape(note)}" for note in document.notes))
    parts.extend(findings)
    for section in document.sections:
        parts.extend(render_section(section))
    parts.extend(render_table(document.run_index, level=2))
    if document.files:
        parts.append("<h2>Files</h2>")
        parts.append(_list(render_cell(link) for link in document.files))
    return _page(document.title, "\n".join(parts))


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _list(items) -> str:
    return "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def render_section(section: Section) -> list[str]:
    """Return the html blocks of one (study parameter, group) section."""
    parts = [f"<h2>{escape(section.title)}</h2>"]
    for table in section.tables:
        parts.extend(render_table(table, level=3))
    if section.figures:
        parts.append("<h3>Figures</h3>")
        parts.extend(render_figure(figure) for figure in section.figures)
    return parts


def render_table(table: Table, level: int) -> list[str]:
    """Return a table's heading and table, or its empty text."""
    heading = f"<h{level}>{escape(table.title)}</h{level}>"
    if not table.rows:
        return [heading, f"<p>{escape(table.empty_text)}</p>"]

    head = "".join(f"<th>{escape(column)}</th>" for column in table.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{render_cell(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    table_html = (
        f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )
    return [heading, table_html]


def render_cell(cell: Cell) -> str:
    """Return one table cell: escaped text, or a link."""
    if isinstance(cell, Link):
        return f'<a href="{escape(cell.href)}">{escape(cell.text)}</a>'
    return escape(cell)


def render_figure(figure: FigureRef) -> str:
    """Return a figure with its image embedded as a data URI, or the reason it is absent."""
    caption = f"<figcaption>{escape(figure.title)}</figcaption>"
    if figure.error is not None or figure.file is None:
        reason = escape(figure.error or "not drawn")
        return f'<p class="error">{escape(figure.title)}: could not be drawn ({reason}).</p>'
    return f'<figure><img src="{data_uri(figure)}" alt="{escape(figure.title)}">{caption}</figure>'


def data_uri(figure: FigureRef) -> str:
    """Return the figure's file as a base64 ``data:`` URI."""
    media_type = MEDIA_TYPES[figure.file.suffix]
    encoded = base64.b64encode(figure.file.read_bytes()).decode("ascii")
    return f"data:{media_type};base64,{encoded}"
