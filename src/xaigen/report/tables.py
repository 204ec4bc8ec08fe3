"""A report table: one definition, written as an HTML table and as ``tables/<name>.csv``.

Cells hold the raw values (numbers, text, None, :class:`~xaigen.report.values.Spread`); each
column says how to show them. The CSV keeps full precision in the unit the page shows
(percentage points and percent scaled by 100; a percent column's title gets "(%)") and leaves
undefined cells empty;
a column with values over seeds gets a ``<title> std`` column beside it.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaigen.fileio import atomic_write_text
from xaigen.report.values import MISSING, Spread, cell, csv_value


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "number"  # see xaigen.report.values.show
    digits: int = 3
    missing: str = MISSING


@dataclass
class Table:
    """``name`` is the CSV file's stem and the HTML table's id (``table-<name>``)."""

    name: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""

    def html(self) -> str:
        head = "".join(f"<th{' class=text' if c.kind == 'text' else ''}>{html.escape(c.title)}</th>"
                       for c in self.columns)
        opening = {c.title: '<td class="text">' if c.kind == "text" else "<td>" for c in self.columns}
        body = "".join("<tr>" + "".join(f"{opening[c.title]}{cell(v, c.kind, c.digits, c.missing)}</td>"
                                        for v, c in zip(row, self.columns)) + "</tr>" for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        empty = "" if self.rows else f'<p class="empty">No rows ({html.escape(self.name)}).</p>'
        return (f'<table id="table-{self.name}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                f'{empty}<p class="files">Table as CSV: <code>tables/{html.escape(self.name)}.csv</code></p>')

    def csv(self) -> str:
        spread = [any(isinstance(row[i], Spread) for row in self.rows) for i in range(len(self.columns))]
        header = []
        for c, has_spread in zip(self.columns, spread):
            title = f"{c.title} (%)" if c.kind == "percent" and "%" not in c.title else c.title
            header += [title, f"{title} std"] if has_spread else [title]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            values = []
            for v, c, has_spread in zip(row, self.columns, spread):
                values.append(csv_value(v, c.kind))
                if has_spread:
                    values.append(csv_value(v.std, c.kind) if isinstance(v, Spread) else "")
            writer.writerow(values)
        return buffer.getvalue()

    def write_csv(self, folder: Path) -> Path:
        return atomic_write_text(Path(folder) / f"{self.name}.csv", self.csv())
