"""Issue 14, point 10: an institution stops seeing the child's details of a referral that
ended without a place (withdrawn, declined, expired, did not start) once the office's period
(OfficeSettings.closed_referral_visible_days, 30 days by default) has passed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from coordination.models import AuditEntry, OfficeSettings
from referrals.models import Referral
from referrals.selectors import inbox_rows, referral_get_for_page, referrals_inbox
from referrals.services import referral_decline
from tests.factories import CaseFactory, ReferralFactory

pytestmark = pytest.mark.django_db

BIRTH = dt.date(2016, 2, 29)


def _declined(coordinator, institution, school_user, *, closed_days_ago: int) -> Referral:
    case = CaseFactory(
        coordinator=coordinator, ready=True, district=institution.district,
        given_name="Nesrin", family_name="Xoshnaw", birth_date=BIRTH,
    )  # fmt: skip
    referral = ReferralFactory(coordinator=coordinator, institution=institution, case=case, free=5)
    referral_decline(referral=referral, by=school_user, reason="no_place")
    Referral.objects.filter(pk=referral.pk).update(
        closed_at=timezone.now() - dt.timedelta(days=closed_days_ago)
    )
    return Referral.objects.get(pk=referral.pk)


def _page(login, user, referral) -> str:
    return login(user).get(reverse("referrals:detail", args=[referral.pk])).content.decode()


def test_name_and_birth_date_are_visible_within_the_period(
    login, coordinator, institution, school_user
) -> None:
    referral = _declined(coordinator, institution, school_user, closed_days_ago=29)
    inbox = login(school_user).get(reverse("referrals:inbox") + "?show=all").content.decode()
    assert "Xoshnaw" in inbox
    page = _page(login, school_user, referral)
    assert "Xoshnaw" in page
    assert "2016" in page  # the birth date


def test_name_and_birth_date_are_gone_after_the_period(
    login, coordinator, institution, school_user, decrypted
) -> None:
    referral = _declined(coordinator, institution, school_user, closed_days_ago=31)
    inbox = login(school_user).get(reverse("referrals:inbox") + "?show=all").content.decode()
    assert referral.case.reference in inbox
    assert "Xoshnaw" not in inbox and "Nesrin" not in inbox
    assert "Details no longer visible (closed more than 30 days ago)" in inbox
    page = _page(login, school_user, referral)
    assert referral.case.reference in page
    assert "Xoshnaw" not in page and "Nesrin" not in page
    assert "2016" not in page
    assert "no free place" in page  # the outcome stays
    assert "Details no longer visible" in page
    entry = AuditEntry.objects.filter(action="referral.view").latest("id")
    assert entry.fields == ["reference"]


def test_the_selectors_do_not_even_decrypt_the_hidden_details(
    coordinator, institution, school_user, decrypted
) -> None:
    referral = _declined(coordinator, institution, school_user, closed_days_ago=40)
    decrypted.clear()
    rows = inbox_rows(referrals_inbox(user=school_user, show="all"))
    page = referral_get_for_page(user=school_user, pk=referral.pk)
    assert [r.child_name for r in rows] == [None]
    assert page.details_hidden
    assert decrypted == []  # nothing of the case or the referral was decrypted


def test_the_period_comes_from_the_office_settings(
    login, coordinator, institution, school_user
) -> None:
    office = OfficeSettings.current()
    office.closed_referral_visible_days = 60
    office.save()
    referral = _declined(coordinator, institution, school_user, closed_days_ago=31)
    assert "Xoshnaw" in _page(login, school_user, referral)


def test_enrolled_referrals_stay_visible(login, coordinator, institution, school_user) -> None:
    case = CaseFactory(
        coordinator=coordinator, ready=True, district=institution.district,
        family_name="Xoshnaw", birth_date=BIRTH,
    )  # fmt: skip
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, case=case, free=5,
        staff=school_user, enrolled=True,
    )  # fmt: skip
    Referral.objects.filter(pk=referral.pk).update(
        closed_at=timezone.now() - dt.timedelta(days=400)
    )
    assert "Xoshnaw" in _page(login, school_user, referral)


def test_the_coordinator_still_sees_everything(login, coordinator, institution, school_user):
    referral = _declined(coordinator, institution, school_user, closed_days_ago=90)
    assert "Xoshnaw" in _page(login, coordinator, referral)
