"""Moving in (issue 19) in a real browser, in German: a coordinator uploads the office's Excel
list, checks the suggested columns, reads the preview and the report per row, decides on a
likely duplicate, confirms, watches the progress bar and reads the result."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journeys import PASSWORD, log_in
from tests.factories import CaseFactory, DistrictFactory, TeamFactory, UserFactory
from tests.transfer.conftest import DATA

pytestmark = pytest.mark.e2e


def test_coordinator_imports_the_office_list(
    journeys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transfer import services
    from transfer.models import ImportBatch

    team = TeamFactory(name="Team Nord")
    coordinator = UserFactory(username="koordination", role="coordinator", team=team,
                              password=PASSWORD)  # fmt: skip
    DistrictFactory(name="Altstadt")
    DistrictFactory(name="Lützel")
    existing = CaseFactory(coordinator=coordinator, given_name="Amina", family_name="Haddad",
                           birth_date=dt.date(2016, 3, 14))  # fmt: skip
    j = journeys.open("import")
    page = j.page
    log_in(page, "koordination")

    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Listen importieren")).to_be_visible()
    j.check("upload")
    page.get_by_label("Liste (.xlsx oder .csv)").set_input_files(str(DATA / "faelle_buero.xlsx"))
    page.get_by_role("button", name="Hochladen und Spalten zuordnen").click()

    expect(page.get_by_role("heading", level=1, name="Spalten zuordnen")).to_be_visible()
    expect(page.get_by_label("Geb.-Datum")).to_have_value("birth_date")
    expect(page.get_by_label("Nr.")).to_have_value("")
    j.check("columns")
    page.get_by_role("button", name="Zeilen prüfen").click()

    expect(page.get_by_role("heading", name="Ergebnis der Prüfung")).to_be_visible()
    expect(page.get_by_role("heading", name="Zeile 5")).to_be_visible()  # the preview
    problems = page.get_by_role("table", name="Zeilen mit Problemen")
    expect(problems).to_contain_text("Dieses Datum gibt es nicht.")
    expect(problems).to_contain_text("Atlantis")
    j.check("report")
    page.get_by_label(f"Dem Fall {existing.reference} zuordnen: dasselbe Kind").check()
    # The import is left to the test (not the eager worker), so the progress page shows.
    monkeypatch.setattr(services, "_queue", lambda what, batch_id: None)
    page.get_by_role("button", name="5 Zeilen importieren").click()

    expect(page.get_by_role("progressbar")).to_be_visible()
    j.check("progress")
    services.import_run(ImportBatch.objects.get().pk)  # the worker

    expect(page.get_by_role("heading", name="Ergebnis")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("neu angelegt: 4")).to_be_visible()
    expect(page.get_by_text("vorhandenen Fällen zugeordnet: 1")).to_be_visible()
    expect(page.get_by_role("table", name="Nicht importierte Zeilen")).to_contain_text("9")
    j.check("result")
    journeys.assert_clean()
