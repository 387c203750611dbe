"""The referral page shows an institution only what it needs, and every view is logged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.services import case_update
from coordination.models import AuditEntry

pytestmark = pytest.mark.django_db

SECRET_FIELDS = {
    "address": "Hauptstraße 1, 56068 Koblenz",
    "health_notes": "Asthma, Inhalator",
    "notes": "Vater in Haft",
    "support_notes": "Traumatherapie empfohlen",
    "nationality": "Syrien",
    "residence_status": "tolerated",
}


@pytest.fixture
def rich_referral(coordinator, referral):
    case_update(
        case=referral.case,
        by=coordinator,
        data={
            **SECRET_FIELDS,
            "interpreter_needed": True,
            "interpreter_language": "Arabisch",
            "school_years": 3,
            "last_grade": "3 (Aleppo)",
            "literate_own_script": True,
            "support_needed": True,
            "languages": ["Arabisch", "Kurdisch"],
        },
        expected_version=referral.case.version,
    )
    return referral


def test_school_sees_only_the_fields_it_needs(login, school_user, rich_referral) -> None:
    html = login(school_user).get(reverse("referrals:detail", args=[rich_referral.pk]))
    text = html.content.decode()
    case = rich_referral.case
    for shown in (case.given_name, "Haddad", "Arabisch, Kurdisch", "3 (Aleppo)", case.reference):
        assert shown in text
    assert "03/14/2017" in text  # the birth date, in the English short format
    for secret in SECRET_FIELDS.values():
        assert secret not in text
    assert "Duldung" not in text  # the residence status label
    assert "coord@example.org" in text  # the coordinator's contact


def test_referral_page_does_not_decrypt_other_case_fields(
    login, school_user, rich_referral, decrypted
) -> None:
    client = login(school_user)
    decrypted.clear()
    client.get(reverse("referrals:detail", args=[rich_referral.pk]))
    fields = {c.split(".")[-1] for c in decrypted if c.startswith("cases.case.")}
    assert fields
    assert fields.isdisjoint(
        {"address", "health_notes", "notes", "support_notes", "nationality", "residence_status",
         "arrival_germany", "arrival_city", "gender", "measles_proof", "german_level"}
    )  # fmt: skip
    assert not any(c.startswith("cases.caseevent.") or c.startswith("cases.guardian.")
                   for c in decrypted)  # fmt: skip


def test_inbox_decrypts_only_the_names(login, school_user, rich_referral, decrypted):
    client = login(school_user)
    decrypted.clear()
    client.get(reverse("referrals:inbox"))
    fields = {c.split(".")[-1] for c in decrypted if c.startswith("cases.case.")}
    assert fields == {"given_name", "family_name"}


def test_every_view_of_the_referral_page_is_logged_with_the_fields_shown(
    login, school_user, coordinator, rich_referral
) -> None:
    login(school_user).get(reverse("referrals:detail", args=[rich_referral.pk]))
    login(coordinator).get(reverse("referrals:detail", args=[rich_referral.pk]))
    entries = AuditEntry.objects.filter(action="referral.view").order_by("id")
    assert [e.actor for e in entries] == [school_user, coordinator]
    entry = entries[0]
    assert entry.case_reference == rich_referral.case.reference
    assert entry.object_id == str(rich_referral.pk)
    assert {"given_name", "birth_date", "languages", "support_needed"} <= set(entry.fields)
    assert "health_notes" not in entry.fields


def test_refused_view_is_not_shown_and_not_logged_as_a_view(
    login, other_school_user, rich_referral
) -> None:
    response = login(other_school_user).get(reverse("referrals:detail", args=[rich_referral.pk]))
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="referral.view").exists()
