"""The admin: institutions with places and staff, referrals read-only and without personal data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from coordination.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_and_opens_institutions_and_referrals(
    login, admin_user_role, institution, referral
) -> None:
    client = login(admin_user_role)
    for url in (
        reverse("admin:referrals_institution_changelist"),
        reverse("admin:referrals_institution_change", args=[institution.pk]),
        reverse("admin:referrals_institution_add"),
        reverse("admin:referrals_referral_changelist"),
        reverse("admin:referrals_referral_change", args=[referral.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_referral_admin_is_read_only_and_shows_no_personal_data(
    login, admin_user_role, referral
) -> None:
    client = login(admin_user_role)
    html = client.get(reverse("admin:referrals_referral_change", args=[referral.pk]))
    text = html.content.decode()
    assert referral.case.reference in text
    assert referral.case.given_name not in text
    assert client.get(reverse("admin:referrals_referral_add")).status_code == 403
    response = client.post(reverse("admin:referrals_referral_delete", args=[referral.pk]))
    assert response.status_code == 403


def test_admin_assigns_staff_to_an_institution(login, admin_user_role, institution) -> None:
    newcomer = UserFactory(role="institution_staff", username="sekretariat")
    prefix = "institutionuserobjectpermission_set"
    data = {
        "name": institution.name,
        "kind": institution.kind,
        "district": institution.district_id,
        "email": institution.email,
        "is_active": "on",
        "places-TOTAL_FORMS": "0",
        "places-INITIAL_FORMS": "0",
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-user": newcomer.pk,
    }
    client = login(admin_user_role)
    response = client.post(
        reverse("admin:referrals_institution_change", args=[institution.pk]), data
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)
    assert newcomer.has_perm("referrals.staff_institution", institution)
    assert AuditEntry.objects.filter(action="institution.staff_change").exists()

    # The same person twice is a form error, not a crash.
    data[f"{prefix}-0-user"] = newcomer.pk
    response = client.post(
        reverse("admin:referrals_institution_change", args=[institution.pk]), data
    )
    assert response.status_code == 200
    assert "already works for this institution" in response.content.decode()
