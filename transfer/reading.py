"""Reading an office's spreadsheet: XLSX or CSV in whatever encoding and delimiter its Excel
wrote, with a title row or two above the header and empty lines in between.

``read_table`` returns the header and the data rows, each with its line number in the file
(as the office sees it in Excel), so that every problem can be named by line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from coordination.exceptions import DomainError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
# The header is looked for in the first lines only (a title block is a few lines high).
HEADER_SEARCH_LINES = 10
XLSX_MAGIC = b"PK\x03\x04"


class UnreadableFile(DomainError):
    default_message = _("The file could not be read. Save it as .xlsx or .csv and try again.")


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (line, cells)
    header_line: int = 1
    encoding: str = ""
    delimiter: str = ""


def read_table(
    content: bytes, *, file_name: str, is_header: Callable[[str], bool] | None = None
) -> Table:
    """The table in ``content``; ``is_header`` says whether a cell names a known column (to
    find the header row below a title). Raises ``UnreadableFile`` with a plain reason."""
    if len(content) > MAX_BYTES:
        raise UnreadableFile(_("The file is larger than 20 MB. Split it into several files."))
    if not content.strip():
        raise UnreadableFile(_("The file is empty."))
    if content.startswith(XLSX_MAGIC) or file_name.lower().endswith((".xlsx", ".xlsm")):
        lines = _xlsx_lines(content)
        table = _table(lines, is_header)
    else:
        text, encoding = decode(content)
        delimiter = sniff_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        table = _table(((n, row) for n, row in enumerate(reader, start=1)), is_header)
        table.encoding, table.delimiter = encoding, delimiter
    if not table.rows:
        raise UnreadableFile(_("The file has a header but no rows below it."))
    if len(table.rows) > MAX_ROWS:
        raise UnreadableFile(_("The file has more than 50,000 rows. Split it into several files."))
    return table


def decode(content: bytes) -> tuple[str, str]:
    """The text of a CSV file: UTF-8 (with or without BOM), else what charset-normalizer
    finds (Windows-1252 for an office's Excel), else Windows-1252."""
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16"), "utf-16"
    from charset_normalizer import from_bytes

    best = from_bytes(content[:200_000]).best()
    encoding = best.encoding if best is not None else "cp1252"
    # Latin-1 and cp1252 read the same letters except the euro sign and typographic quotes:
    # Excel on Windows writes cp1252.
    if encoding in {"latin_1", "iso8859_15", "iso8859_1"}:
        encoding = "cp1252"
    try:
        return content.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        return content.decode("cp1252", errors="replace"), "cp1252"


def sniff_delimiter(text: str) -> str:
    sample = "\n".join(line for line in text.splitlines()[:50] if line.strip())
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        return ";"  # German Excel's CSV


def _xlsx_lines(content: bytes) -> Iterable[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile() from exc
    sheet = book.worksheets[0]
    lines = [(n, list(row)) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    book.close()
    return lines


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _table(
    lines: Iterable[tuple[int, list[Any]]], is_header: Callable[[str], bool] | None
) -> Table:
    rows = [(n, cells) for n, cells in lines if not all(_blank(c) for c in cells)]
    if not rows:
        raise UnreadableFile(_("The file is empty."))
    header_at = 0
    if is_header is not None:
        # The first of the first lines in which most filled cells name a known column; a
        # title row ("Liste Neuzugänge 2024", merged over the columns) has one cell or none.
        best = -1
        for index, (_n, cells) in enumerate(rows[:HEADER_SEARCH_LINES]):
            named = sum(1 for c in cells if isinstance(c, str) and is_header(c))
            if named >= 2 and named > best:
                best, header_at = named, index
                break
    line, header_cells = rows[header_at]
    width = max(
        (i + 1 for i, c in enumerate(header_cells) if not _blank(c)), default=len(header_cells)
    )
    headers = [header_text(c) or f"({i + 1})" for i, c in enumerate(header_cells[:width])]
    table = Table(headers=headers, header_line=line)
    for n, cells in rows[header_at + 1 :]:
        cells = list(cells[:width]) + [None] * (width - len(cells))
        if all(_blank(c) for c in cells):
            continue
        table.rows.append((n, cells))
    return table


def header_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime | dt.date):
        return cell.isoformat()
    return " ".join(str(cell).split())
