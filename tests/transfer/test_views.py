"""The browser flow with the test client: upload → columns → report → decisions → import."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from cases.models import Case
from coordination.models import AuditEntry
from tests.factories import CaseFactory
from tests.second_factor import log_in
from tests.transfer.conftest import DATA
from transfer.models import ImportBatch


def _client(user: Any) -> Client:
    return log_in(Client(), user)  # administrators must use a second factor


def _upload(client: Client, name: str = "faelle_buero.xlsx", **extra: Any) -> ImportBatch:
    upload = SimpleUploadedFile(name, (DATA / name).read_bytes())
    response = client.post(reverse("transfer:upload"), {"file": upload, **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportBatch.objects.latest("id")


@pytest.fixture(autouse=True)
def _run_on_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's tasks are handed over on commit; the test's transaction never commits,
    so they run at once here (eagerly, as CELERY_TASK_ALWAYS_EAGER makes them)."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


def test_coordinator_imports_a_list_step_by_step(office: Any) -> None:
    existing = CaseFactory(coordinator=office.coordinator, given_name="Amina",
                           family_name="Haddad", birth_date=dt.date(2016, 3, 14))  # fmt: skip
    client = _client(office.coordinator)

    batch = _upload(client)
    page = client.get(reverse("transfer:mapping", args=[batch.pk])).content.decode()
    assert "Nachname" in page and 'value="family_name" selected' in page
    assert Case.objects.count() == 1  # nothing written yet
    form = {f"col_{i}": f for i, f in batch.mapping.items()}
    response = client.post(reverse("transfer:mapping", args=[batch.pk]), form)
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == "checked" and Case.objects.count() == 1

    page = client.get(reverse("transfer:detail", args=[batch.pk])).content.decode()
    assert "Dmytro" in page  # the preview, decrypted only in the page
    assert "Atlantis" in page and "Stadtteil" in page  # the report: line, column, problem
    assert f"attach:{existing.pk}" in page
    assert AuditEntry.objects.filter(action="import.preview").exists()

    response = client.post(reverse("transfer:confirm", args=[batch.pk]),
                           {"line_4": f"attach:{existing.pk}"})  # fmt: skip
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.state == "done" and batch.content is None
    assert batch.counts["outcomes"] == {"created": 4, "attached": 1, "skipped": 3}
    assert Case.objects.count() == 5
    page = client.get(reverse("transfer:detail", args=[batch.pk])).content.decode()
    assert "Ergebnis" in page or "Result" in page
    done = AuditEntry.objects.get(action="import.done")
    # The file name may carry a person's name: the audit log names the batch, not the file.
    assert done.object_id == str(batch.pk)
    uploaded = AuditEntry.objects.get(action="import.upload")
    for entry in (done, uploaded):
        assert "faelle_buero" not in json.dumps(entry.detail)


def test_the_uploaded_file_is_stored_encrypted(office: Any) -> None:
    batch = _upload(_client(office.coordinator))

    stored = bytes(ImportBatch.objects.values_list("content", flat=True).get(pk=batch.pk))
    assert b"Haddad" not in stored and not stored.startswith(b"PK")


def test_administrator_chooses_the_team_and_imports_institutions(office: Any) -> None:
    client = _client(office.admin)
    response = client.post(reverse("transfer:upload"), {
        "file": SimpleUploadedFile("x.csv", (DATA / "cases_utf8_bom.csv").read_bytes()),
        "kind": "cases",
    })  # fmt: skip
    assert response.status_code == 200 and ImportBatch.objects.count() == 0  # no team chosen

    batch = _upload(client, "einrichtungen.xlsx", kind="institutions")
    assert batch.team is None
    client.post(reverse("transfer:mapping", args=[batch.pk]),
                {f"col_{i}": f for i, f in batch.mapping.items()})  # fmt: skip
    client.post(reverse("transfer:confirm", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.counts["outcomes"] == {"created": 2, "skipped": 1}


def test_another_teams_coordinator_cannot_see_the_import(office: Any) -> None:
    batch = _upload(_client(office.coordinator))

    response = _client(office.other_coordinator).get(reverse("transfer:detail", args=[batch.pk]))

    assert response.status_code == 404


def test_a_file_that_is_no_table_is_a_form_error(office: Any) -> None:
    client = _client(office.coordinator)
    response = client.post(reverse("transfer:upload"), {
        "file": SimpleUploadedFile("liste.xlsx", b"PK\x03\x04 kaputt"),
    })  # fmt: skip
    assert response.status_code == 200
    assert ImportBatch.objects.count() == 0


def test_discarding_deletes_the_file(office: Any) -> None:
    client = _client(office.coordinator)
    batch = _upload(client)

    client.post(reverse("transfer:discard", args=[batch.pk]))

    batch.refresh_from_db()
    assert batch.state == "discarded" and batch.content is None


def test_team_lead_downloads_the_team_export(office: Any) -> None:
    office.team.lead = office.coordinator
    office.team.save()
    client = _client(office.coordinator)

    response = client.post(reverse("transfer:export"), {"team": office.team.pk})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content).startswith(b"PK")
