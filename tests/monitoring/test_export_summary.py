"""``manage.py export_summary``: the page's tables for scheduled reporting, audit-logged."""

from __future__ import annotations

import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import load_workbook

from coordination.models import AuditEntry
from monitoring import dimensions, exports, pages
from tests.monitoring.test_summaries import NOW, ready, world  # noqa: F401 - fixture


@pytest.fixture
def data(world):  # type: ignore[no-untyped-def]  # noqa: F811
    for _ in range(4):
        ready(world, "north")
    ready(world, "south", group="g03")
    return world


def run(*args: str) -> str:
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("export_summary", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def csv_for(filters: dimensions.FigureFilters, language: str = "de") -> str:
    with time_machine.travel(NOW, tick=False), translation.override(language):
        return exports.page_csv(pages.figures_page(filters))


def test_csv_to_standard_output_is_the_page(data) -> None:  # type: ignore[no-untyped-def]
    printed = run("--format", "csv")
    assert printed == csv_for(dimensions.FigureFilters())
    assert "•" in printed and "Nord;" in printed


def test_filters_and_language_as_on_the_page(data) -> None:  # type: ignore[no-untyped-def]
    printed = run("--period", "3", "--district", "süd", "--target", "school", "--language", "en")
    filters = dimensions.FigureFilters(period="3", district=data["south"].pk, target="school")
    assert printed == csv_for(filters, "en")
    assert "Places and demand by district: School" in printed


def test_xlsx_to_a_file(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "figures.xlsx"
    run("--format", "xlsx", "--output", str(target))
    sheet = load_workbook(target).active
    first = [c for c in next(sheet.iter_rows(values_only=True)) if c is not None]
    assert first == ["Kennzahlen"]
    values = {v for r in sheet.iter_rows(values_only=True) for v in r if v is not None}
    assert "•" in values, "hidden cells as the symbol"
    assert 13 in values, "numbers as numbers (13 free places in grade 2 and 3 in Nord)"


def test_csv_to_a_file_opens_in_spreadsheets(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "figures.csv"
    run("--output", str(target))
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark"
    assert raw.decode("utf-8-sig") == csv_for(dimensions.FigureFilters())


def test_every_run_is_audit_logged(data) -> None:  # type: ignore[no-untyped-def]
    run("--format", "csv", "--target", "kita")
    entry = AuditEntry.objects.get(action="figures.export")
    assert entry.actor is None and entry.actor_name == "system"
    assert entry.detail == {
        "format": "csv",
        "filters": {"period": "12", "district": None, "target": "kita"},
        "via": "command",
    }


def test_mistakes_are_reported(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="--output"):
        run("--format", "xlsx")
    for district in ("Atlantis", "\u00b2", "99999999999999999999"):
        with pytest.raises(CommandError, match="unknown district"):
            run("--district", district)
    assert not AuditEntry.objects.filter(action="figures.export").exists()
