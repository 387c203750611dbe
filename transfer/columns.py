"""The fields an office's column can be mapped to, with the header names that suggest them.

A header matches a field when its normalised text (lower case, umlauts spelt out, no
punctuation) equals one of the field's names, German or English. A team's choices are saved
(``ImportMapping``) and win over these suggestions next time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cases.identity import normalise

IGNORE = ""


@dataclass(frozen=True)
class Column:
    name: str
    label: Any
    synonyms: tuple[str, ...]

    def names(self) -> set[str]:
        return {normalise(s) for s in (self.name, *self.synonyms)} - {""}


def header_key(header: str) -> str:
    return normalise(header)


def suggest(
    headers: Sequence[str], columns: Iterable[Column], saved: dict[str, str] | None = None
) -> dict[str, str]:
    """{column index: field} for the headers: a saved choice first, then a known name.

    A field is suggested for one column only (the first that names it).
    """
    by_key: dict[str, str] = {}
    fields: set[str] = set()
    for column in columns:
        fields.add(column.name)
        for k in column.names():
            by_key.setdefault(k, column.name)
    taken: set[str] = set()
    result: dict[str, str] = {}
    for index, header in enumerate(headers):
        k = header_key(header)
        choice = (saved or {}).get(k)
        if choice is None or (choice and choice not in fields):
            choice = by_key.get(k, IGNORE)
        if choice and choice in taken:
            choice = IGNORE
        if choice:
            taken.add(choice)
        result[str(index)] = choice
    return result


def is_known_header(columns: Iterable[Column]) -> Any:
    keys = set().union(*(c.names() for c in columns))

    def check(cell: str) -> bool:
        return header_key(cell) in keys

    return check
