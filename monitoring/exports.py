"""Exports of the figures: CSV, XLSX, and the audit record of every export or print view.

An export holds exactly the page's tables (every district, as the print view) from the same
protected tables, cached like the page. Every text cell is defused against spreadsheet
formula injection (``coordination.spreadsheet.defuse``): an institution or district named
``=HYPERLINK(...)`` is written as text, never as a live formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.core.cache import cache
from django.utils.formats import date_format
from django.utils.translation import gettext

from coordination.models import User
from coordination.spreadsheet import defuse
from monitoring.cache import PAGE_SECONDS
from monitoring.dimensions import FigureFilters
from monitoring.pages import figures_header, page_for
from monitoring.tables import Cell, FiguresPage


def export(filters: FigureFilters, fmt: str, *, today: dt.date | None = None) -> str | bytes:
    """The page as CSV text or XLSX bytes (cached like the page)."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format {fmt!r}")
    header = figures_header(filters, today=today)
    body = cache.get(f"{header.cache_key}:{fmt}") if header.computed_at else None
    if body is None:
        page = page_for(header)
        body = page_csv(page) if fmt == "csv" else page_xlsx(page)
        cache.set(f"{page.header.cache_key}:{fmt}", body, PAGE_SECONDS)
    return body


# --- exports ---------------------------------------------------------------------------------


def _head(page: FiguresPage) -> list[list[str]]:
    rows = [[page.title], [gettext("As of"), date_format(page.as_of, "SHORT_DATE_FORMAT")]]
    rows += [[label, value] for label, value in page.filter_labels]
    return rows


def page_rows(page: FiguresPage) -> list[list[Any]]:
    """The page as rows of cells: heading, every table (caption, header, rows), footnotes.
    Cells are :class:`Cell` inside tables and plain text elsewhere."""
    rows: list[list[Any]] = [*_head(page), []]
    for table in page.tables:
        rows.append([table.caption])
        rows.append([table.row_label, *table.columns])
        for row in table.rows:
            rows.append([row.header, *row.cells])
        if not table.rows:
            rows.append([gettext("No figures.")])
        rows.append([])
    rows += [[note] for note in page.footnotes]
    return rows


def _text(item: Any) -> str:
    """A cell's text as written to a file: a name such as "=HYPERLINK(...)" (an institution,
    a district) is defused, never written as a live formula."""
    return defuse(item.text if isinstance(item, Cell) else str(item))


def page_csv(page: FiguresPage) -> str:
    """CSV (semicolon-separated, as German spreadsheets expect) of exactly what the page shows;
    hidden cells are the symbol, text that looks like a formula is defused."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in page_rows(page):
        writer.writerow([_text(c) for c in row])
    return out.getvalue()


def page_xlsx(page: FiguresPage) -> bytes:
    """An XLSX workbook with the same rows as the CSV; numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Figures")[:31]
    bold = Font(bold=True)
    captions = {t.caption for t in page.tables}
    headers = {(t.row_label, *t.columns) for t in page.tables}
    for r, row in enumerate(page_rows(page), start=1):
        texts = tuple(c.text if isinstance(c, Cell) else c for c in row)
        for c, item in enumerate(row, start=1):
            if isinstance(item, Cell) and item.value is not None:
                value: Any = item.value  # a number: never a formula
            else:
                value = _text(item)
            cell = sheet.cell(row=r, column=c, value=value)
            if (len(row) == 1 and item in captions) or texts in headers or r == 1:
                cell.font = bold
    sheet.column_dimensions["A"].width = 42
    book.properties.creator = "Ankommen"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def log_export(*, actor: User | None, fmt: str, filters: FigureFilters, via: str) -> None:
    """Record an export (or print view) of the figures in the audit log."""
    from coordination.audit import audit_log

    audit_log(
        actor=actor,
        action="figures.export",
        detail={"format": fmt, "filters": filters.as_dict(), "via": via},
    )
