"""``manage.py import_cases`` with the messy sample lists of tests/data/import/."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cases.models import Case, CaseEvent, Guardian, State
from coordination.models import AuditEntry
from tests.transfer.conftest import DATA
from transfer.models import ImportBatch, ImportedRow


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command("import_cases", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def names() -> set[str]:
    return {f"{c.given_name} {c.family_name}" for c in Case.objects.all()}


def test_office_excel_with_title_row_serial_dates_and_empty_lines(office: Any) -> None:
    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination")

    assert "header in line 3" in out
    assert names() == {
        "Amina Haddad", "Dmytro Kovalenko", "Zofia Nowak", "Omid Rahimi", "Kofi Mensah",
    }  # fmt: skip
    amina = Case.objects.get(bidx_family__isnull=False, family_name__isnull=False, pk__in=[
        c.pk for c in Case.objects.all() if c.given_name == "Amina"
    ])  # fmt: skip
    assert amina.birth_date == dt.date(2016, 3, 14)
    assert amina.wanted_group == "g03"
    assert amina.team == office.team and amina.coordinator == office.coordinator
    assert Guardian.objects.get(family=amina.family).phone == "0261 12345"
    by_name = {c.given_name: c for c in Case.objects.all()}
    # an Excel serial number as a date; "4." as a grade; "in Klärung" as a state
    assert by_name["Dmytro"].birth_date == dt.date(2015, 9, 1)
    assert by_name["Dmytro"].wanted_group == "g04"
    assert by_name["Dmytro"].state == State.CLARIFICATION
    # "ca. 2022": the year only, with a note; "sucht Platz" = ready
    assert by_name["Zofia"].birth_date == dt.date(2022, 1, 1)
    assert "2022" in by_name["Zofia"].notes
    assert by_name["Zofia"].state == State.READY
    # "14.03.09": a two-digit year; "Dari / Paschtu": two languages; "ruht" = on hold
    assert by_name["Omid"].birth_date == dt.date(2009, 3, 14)
    assert by_name["Omid"].languages == ["Dari", "Paschtu"]
    assert by_name["Omid"].state == State.ON_HOLD
    assert by_name["Kofi"].state == State.CLOSED and by_name["Kofi"].close_reason == "moved_away"
    # every row with a problem is named by line and column, in German
    assert "line 9, Geb.-Datum: Dieses Datum gibt es nicht." in out
    assert "line 10, Ziel: „Hort“" in out
    assert "line 11, Stadtteil: „Atlantis“" in out
    # the history says where each case came from
    created = CaseEvent.objects.get(case=by_name["Amina"], kind=CaseEvent.Kind.CREATED)
    assert "faelle_buero.xlsx" in created.comment and "Zeile 4" in created.comment


def test_running_the_same_file_again_imports_nothing_twice(office: Any) -> None:
    run(DATA / "faelle_buero.xlsx", "--user", "koordination")
    before = Case.objects.count()

    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination")

    assert Case.objects.count() == before
    assert "5 imported before" in out
    assert ImportedRow.objects.filter(outcome="created").count() == before


def test_windows_1252_with_semicolons_and_umlauts(office: Any) -> None:
    out = run(DATA / "faelle_windows1252.csv", "--user", "koordination")

    assert {"Jürgen Müller", "Ayse Özdemir", "Zoë Weiß"} == names()
    muller = next(c for c in Case.objects.all() if c.family_name == "Müller")
    assert muller.address == "Hauptstraße 5"
    assert muller.birth_date == dt.date(2016, 4, 3)
    # the missing birth date is a row error, never a default
    assert "line 7, Geburtsdatum: Dieses Feld ist zwingend erforderlich." in out


def test_utf8_with_bom_and_english_headers(office: Any) -> None:
    run(DATA / "cases_utf8_bom.csv", "--user", "verwaltung", "--team", "Team Süd")

    cases = {c.given_name: c for c in Case.objects.all()}
    assert set(cases) == {"Samir", "Lina", "Pavel"}
    assert all(c.team == office.other_team and c.coordinator is None for c in cases.values())
    assert cases["Samir"].state == State.READY
    assert cases["Lina"].wanted_group == "kita_3" and cases["Lina"].measles_proof is True
    assert cases["Pavel"].birth_date == dt.date(2015, 5, 12)  # 12/05/2015: day first
    assert cases["Pavel"].state == State.CLOSED


def test_dry_run_writes_nothing(office: Any) -> None:
    audit_before = AuditEntry.objects.count()

    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination", "--dry-run")

    assert "5 fine" in out and "3 with problems" in out
    assert "DRY RUN" in out
    assert Case.objects.count() == 0 and ImportBatch.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


def test_likely_duplicates_are_skipped_unless_told_otherwise(office: Any) -> None:
    from tests.factories import CaseFactory

    existing = CaseFactory(coordinator=office.coordinator, given_name="Amina",
                           family_name="Hadad", birth_date=dt.date(2016, 3, 14))  # fmt: skip

    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination")

    assert f"line 4: likely duplicate of case id(s) [{existing.pk}]" in out
    assert Case.objects.filter(pk__gt=existing.pk).count() == 4
    row = ImportedRow.objects.get(line=4)
    assert row.outcome == "skipped" and row.case is None


def test_attach_records_the_row_as_the_existing_case(office: Any) -> None:
    from tests.factories import CaseFactory

    existing = CaseFactory(coordinator=office.coordinator, given_name="Amina",
                           family_name="Haddad", birth_date=dt.date(2016, 3, 14))  # fmt: skip

    run(DATA / "faelle_buero.xlsx", "--user", "koordination", "--duplicates", "attach")

    row = ImportedRow.objects.get(line=4)
    assert row.outcome == "attached" and row.case == existing
    assert "keine Daten geändert" in existing.events.order_by("-id").first().comment
    # attached counts as imported: the next run leaves it alone
    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination")
    assert "line 4: imported before" in out


def test_a_failing_row_writes_nothing(office: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from cases import services as case_services
    from coordination.exceptions import DomainError

    real = case_services._create_case

    def failing(**kwargs: Any) -> Case:
        case = real(**kwargs)  # the family, the case and its history are written ...
        if case.given_name == "Dmytro":
            raise DomainError("boom")  # ... and must all go again
        return case

    monkeypatch.setattr(case_services, "_create_case", failing)
    families = Case.objects.values("family").count()

    run(DATA / "faelle_buero.xlsx", "--user", "koordination")

    assert "Dmytro Kovalenko" not in names()
    assert len(names()) == 4
    row = ImportedRow.objects.get(line=5)
    assert row.outcome == "failed" and row.message == "boom"
    assert CaseEvent.objects.filter(case__isnull=True).count() == 0
    from cases.models import Family

    assert Family.objects.count() == families + 4


def test_mapping_file_names_the_columns(office: Any, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Nachname": "family_name", "Vorname": "given_name",
                                   "Geb.-Datum": "birth_date", "Klasse": "", "Ziel": "",
                                   "Status": "", "Sprache(n)": "languages"}))  # fmt: skip

    out = run(DATA / "faelle_buero.xlsx", "--user", "koordination", "--dry-run",
              "--mapping", mapping)  # fmt: skip

    assert "column 'Klasse' -> (ignored)" in out
    assert "Dieses Feld ist zwingend erforderlich." in out  # no target any more


def test_a_coordinator_cannot_import_into_another_team(office: Any) -> None:
    with pytest.raises(CommandError, match="may not import"):
        run(DATA / "faelle_buero.xlsx", "--user", "koordination", "--team", "Team Süd")
    assert Case.objects.count() == 0


def test_an_unreadable_file_is_refused_clearly(office: Any, tmp_path: Path) -> None:
    bad = tmp_path / "liste.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(CommandError, match="konnte nicht gelesen werden"):
        run(bad, "--user", "koordination")
