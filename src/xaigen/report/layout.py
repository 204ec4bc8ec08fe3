"""The one layout of every xaigen report (``report.html`` and ``nas.html``).

A report is a title, a line under it, and numbered sections; a section holds paragraphs (HTML
already escaped by whoever wrote them), :class:`~xaigen.report.tables.Table` s and
:class:`FigureFiles`. :func:`write_page` writes the page into ``out``, every table into
``out/tables/<name>.csv``; the figures are already in ``out/figures/<stem>.png|.svg``. The page is
self-contained and works offline: figures are embedded as base64 PNG, no script, no external URL.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from xaigen.fileio import atomic_write_text
from xaigen.report.tables import Table

FIGURES, TABLES = "figures", "tables"

STYLE = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}caption{text-align:left;font-weight:bold;padding:4px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}th{background:#f4f4f4}
td:first-child,th:first-child,td.text,th.text{text-align:left}figure{margin:1em 0}img{max-width:100%}
figcaption,.files{color:#666;font-size:12px}.warning{color:#8a3b00}.good{color:#1a6b1a}.bad{color:#a00}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow-x:auto}nav a{margin-right:1em}"""


@dataclass(frozen=True)
class FigureFiles:
    """One figure written as PNG and SVG; ``stem`` is its id (``figure-<stem>``)."""

    stem: str
    png: Path
    svg: Path
    caption: str

    def html(self) -> str:
        data = base64.b64encode(self.png.read_bytes()).decode()
        return (f'<figure id="figure-{self.stem}"><img alt="{html.escape(self.caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{html.escape(self.caption)} '
                f'Vector: <code>{FIGURES}/{self.stem}.svg</code>, raster: <code>{FIGURES}/{self.stem}.png</code>.'
                f'</figcaption></figure>')


@dataclass
class Section:
    """``key`` is the section's id (``section-<key>``); parts are HTML strings, tables and figures."""

    key: str
    title: str
    parts: list[str | Table | FigureFiles] = field(default_factory=list)

    def html(self, number: int) -> str:
        body = "\n".join(p if isinstance(p, str) else p.html() for p in self.parts)
        return f'<section id="section-{self.key}"><h2>{number}. {html.escape(self.title)}</h2>\n{body}</section>'


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of plain text (escaped here)."""
    return f'<p class="{css}">{html.escape(text)}</p>' if css else f"<p>{html.escape(text)}</p>"


def bullet_list(items: list[str], css: str = "") -> str:
    """A list of plain-text items (escaped here)."""
    lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    return f'<ul class="{css}">{lis}</ul>'


def render_page(title: str, subtitle: str, sections: list[Section], footer: str) -> str:
    nav = "".join(f'<a href="#section-{s.key}">{i}. {html.escape(s.title)}</a>'
                  for i, s in enumerate(sections, 1))
    body = "\n".join(s.html(i) for i, s in enumerate(sections, 1))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>"
            f"<nav>{nav}</nav>\n{body}\n<p class=\"files\">{html.escape(footer)}</p></body></html>\n")


def write_page(out: Path, page_name: str, title: str, subtitle: str, sections: list[Section], footer: str) -> Path:
    """Every table's CSV, then the page (last, so a page on disk always has its files beside it)."""
    out = Path(out)
    for section in sections:
        for part in section.parts:
            if isinstance(part, Table):
                part.write_csv(out / TABLES)
    return atomic_write_text(out / page_name, render_page(title, subtitle, sections, footer))
