"""cases/admin.py: administrators see references and routing data, never personal fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from coordination.crypto import Keyring
from tests.factories import CaseFactory
from tests.second_factor import log_in


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Geheimname",
        notes="Geheimnotiz",
        clarification=True,
    )


@pytest.fixture
def no_decryption(monkeypatch):
    def refuse(self, token, *, context):
        raise AssertionError(f"admin decrypted {context}")

    monkeypatch.setattr(Keyring, "decrypt", refuse)


def test_the_case_admin_lists_and_shows_no_personal_field(
    client, admin_user_role, case, no_decryption
) -> None:
    log_in(client, admin_user_role)
    listing = client.get(reverse("admin:cases_case_changelist"))
    assert listing.status_code == 200
    assert case.reference in listing.content.decode()
    page = client.get(reverse("admin:cases_case_change", args=[case.pk]))
    assert page.status_code == 200
    assert "Geheim" not in page.content.decode()


def test_the_case_admin_is_read_only(client, admin_user_role, case) -> None:
    log_in(client, admin_user_role)
    assert client.get(reverse("admin:cases_case_add")).status_code == 403
    assert client.post(reverse("admin:cases_case_delete", args=[case.pk])).status_code == 403
    page = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert 'name="_save"' not in page


def test_the_history_admin_is_read_only_and_hides_comments(
    client, admin_user_role, case, no_decryption
) -> None:
    log_in(client, admin_user_role)
    listing = client.get(reverse("admin:cases_caseevent_changelist"))
    assert listing.status_code == 200 and case.reference in listing.content.decode()
    event = case.events.first()
    page = client.get(reverse("admin:cases_caseevent_change", args=[event.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
