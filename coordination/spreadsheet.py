"""Cells for files a spreadsheet opens (CSV, XLSX): text that starts like a formula is defused.

A value such as ``=HYPERLINK("http://evil", "click")`` or ``+1+cmd|...`` in an exported cell
would be run by the spreadsheet program (CSV/formula injection). Such text gets a leading
apostrophe, as OWASP recommends; the audit export and every figures export use this.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(text: str) -> str:
    """``text``, with an apostrophe in front when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text
