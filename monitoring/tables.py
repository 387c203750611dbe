"""What a figures page is made of: cells, rows, tables, sections, the header and the page.

Plain values, shared by the page, the print view and every export.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from monitoring import charts
from monitoring.cache import CACHE_SECONDS
from monitoring.dimensions import NOT_APPLICABLE, NOT_SHOWN, FigureFilters

# Districts per page of the figures page (the exports and the print view hold all of them).
DISTRICTS_PER_PAGE = 25


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: ``text`` is what the page, CSV and XLSX show; ``value`` is the
    number behind it (None when hidden or not applicable)."""

    text: str
    value: int | float | None = None
    suppressed: bool = False
    numeric: bool = True

    @property
    def not_shown(self) -> bool:
        """Never shown at this level of detail ("/"), unlike a hidden small count ("•")."""
        return self.text == NOT_SHOWN


@dataclass
class Row:
    header: str
    cells: list[Cell]
    total: bool = False
    level: int = 0


@dataclass
class Table:
    key: str
    caption: str
    row_label: str
    columns: list[str]
    rows: list[Row]

    @property
    def has_suppressed(self) -> bool:
        return any(c.suppressed for r in self.rows for c in r.cells)

    @property
    def has_not_shown(self) -> bool:
        return any(c.not_shown for r in self.rows for c in r.cells)

    @property
    def has_not_applicable(self) -> bool:
        return any(c.text == NOT_APPLICABLE for r in self.rows for c in r.cells)


@dataclass
class Section:
    key: str
    title: str
    intro: str
    tables: list[Table]
    charts: list[charts.Chart] = field(default_factory=list)


@dataclass(frozen=True)
class FiguresHeader:
    """What the page shows around its figures (cheap: no figure is computed for it)."""

    title: str
    as_of: dt.date
    filters: FigureFilters
    filter_labels: list[tuple[str, str]]
    threshold: int
    period_choices: list[tuple[str, str]]
    district_choices: list[tuple[int, str]]
    target_choices: list[tuple[str, str]]
    # The key of the computed figures this page reads, and of their time stamp (":stamp").
    data_key: str
    # The cache key without the computation's time (see ``cache_key``).
    key_base: str
    # Which page of districts the page shows (None: every district, as exports do).
    district_page: int | None = None
    district_pages: int = 1
    # When the cached figures were computed; None: none are cached (yet).
    computed_at: dt.datetime | None = None
    # No figures cached and the cache does not answer: the page computes them itself.
    compute_here: bool = False

    @property
    def cache_key(self) -> str:
        """Key of the page and its fragments: a fresh computation makes a new one."""
        stamp = self.computed_at.timestamp() if self.computed_at else "none"
        return f"{self.key_base}:{stamp}"

    @property
    def is_stale(self) -> bool:
        return (
            self.computed_at is not None
            and (timezone.now() - self.computed_at).total_seconds() > CACHE_SECONDS
        )

    @property
    def district_first(self) -> int:
        """Position of the first district shown (1-based), for "districts 26 to 50 of 500"."""
        return ((self.district_page or 1) - 1) * DISTRICTS_PER_PAGE + 1

    @property
    def district_last(self) -> int:
        return min(self.district_first + DISTRICTS_PER_PAGE - 1, len(self.district_choices))

    def shows_district_page(self, districts: list[Any]) -> list[Any]:
        """The districts (in order) this page shows; all of them when not paged."""
        if self.district_page is None:
            return districts
        return districts[self.district_first - 1 : self.district_last]


@dataclass
class FiguresPage:
    """Everything the figures page, its print view and every export show."""

    header: FiguresHeader
    sections: list[Section]
    footnotes: list[str]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def title(self) -> str:
        return self.header.title

    @property
    def as_of(self) -> dt.date:
        return self.header.as_of

    @property
    def filters(self) -> FigureFilters:
        return self.header.filters

    @property
    def filter_labels(self) -> list[tuple[str, str]]:
        return self.header.filter_labels

    @property
    def threshold(self) -> int:
        return self.header.threshold
