"""The figures exports: no cell of a CSV or XLSX is ever a live spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest
import time_machine
from django.core.cache import cache
from openpyxl import load_workbook

from coordination.spreadsheet import defuse
from monitoring import dimensions, exports, pages
from monitoring.tables import FiguresPage
from tests.factories import DistrictFactory, InstitutionFactory, PlacesFactory
from tests.monitoring.test_summaries import NOW

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


@pytest.fixture
def hostile_names(db):  # type: ignore[no-untyped-def]
    """A district and institutions whose names a spreadsheet would run as formulas."""
    cache.clear()
    district = DistrictFactory(name=HOSTILE[0])
    for name in HOSTILE[1:]:
        PlacesFactory(institution=InstitutionFactory(name=name, district=district), free=4)
    yield district
    cache.clear()


def page(filters: dimensions.FigureFilters) -> FiguresPage:
    with time_machine.travel(NOW, tick=False):
        return pages.figures_page(filters)


@pytest.mark.parametrize("district_filter", [False, True])
def test_no_csv_cell_starts_like_a_formula(hostile_names, district_filter: bool) -> None:  # type: ignore[no-untyped-def]
    filters = dimensions.FigureFilters(district=hostile_names.pk if district_filter else None)
    text = exports.page_csv(page(filters))
    cells = [c for row in csv.reader(io.StringIO(text), delimiter=";") for c in row]
    assert "'" + HOSTILE[0] in cells, "the district's name is there, defused"
    if district_filter:  # the institutions are listed for one district
        assert {"'" + name for name in HOSTILE[1:]} <= set(cells)
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_no_xlsx_cell_is_a_formula(hostile_names) -> None:  # type: ignore[no-untyped-def]
    body = exports.page_xlsx(page(dimensions.FigureFilters(district=hostile_names.pk)))
    sheet = load_workbook(io.BytesIO(body)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "no formula cell"
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert {"'" + name for name in HOSTILE} <= texts
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@"))]


def test_defuse_leaves_plain_text_and_numbers_alone() -> None:
    assert defuse("Nord") == "Nord" and defuse("•") == "•" and defuse("\u2013") == "\u2013"
    assert defuse("=1+1") == "'=1+1"
