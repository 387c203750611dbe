"""The referral panel on the case page: state, deadline, answers, buttons, constant queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import Case
from coordination.models import OfficeSettings
from coordination.workdays import add_working_days
from referrals.calendars import Calendars
from referrals.models import Referral, ReminderLog
from referrals.services import referral_decline, referral_withdraw
from tests.factories import InstitutionFactory, PlacesFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def _render(case: Case, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    # The refer button is the case page's next step; the panel lists the referrals.
    template = Template(
        "{% load referrals_extras %}{% case_referral_next_step case user %}"
        "{% case_referral_panel case user %}"
    )
    with translation.override("en"):
        return template.render(Context({"case": case, "user": user, "request": request}))


def _fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def test_ready_case_shows_the_refer_button_to_its_coordinator(coordinator, ready_case) -> None:
    html = _render(ready_case, coordinator)
    assert reverse("referrals:create", args=[ready_case.pk]) in html
    assert "No referrals yet." in html


def test_other_coordinator_and_referred_case_get_no_refer_button(
    coordinator, other_coordinator, referral
) -> None:
    case = referral.case
    assert reverse("referrals:create", args=[case.pk]) not in _render(case, coordinator)
    referral_withdraw(referral=referral, by=coordinator, comment="anders")
    case.refresh_from_db()
    assert reverse("referrals:create", args=[case.pk]) in _render(case, coordinator)
    assert reverse("referrals:create", args=[case.pk]) not in _render(case, other_coordinator)


def test_pending_referral_shows_state_deadline_and_withdraw(coordinator, referral) -> None:
    html = _render(referral.case, coordinator)
    # The school's calendar: no school-holiday day counts (Weihnachtsferien in December).
    calendar = Calendars.load().school
    deadline = add_working_days(timezone.localdate(referral.created_at), 20, calendar)
    assert "pending" in html
    assert deadline.strftime("%m/%d/%Y") in html
    assert reverse("referrals:withdraw", args=[referral.pk]) in html


def test_declined_referral_shows_reason_and_comment(coordinator, school_user, referral) -> None:
    referral_decline(referral=referral, by=school_user, reason="other", comment="Umbau bis Mai")
    case = Case.objects.get(pk=referral.case_id)
    html = _render(case, coordinator)
    assert "declined" in html
    assert "other reason" in html
    assert "Umbau bis Mai" in html
    assert reverse("referrals:withdraw", args=[referral.pk]) not in html


def test_reminders_of_a_referral_are_listed(coordinator, referral) -> None:
    ReminderLog.objects.create(
        referral=referral, level=ReminderLog.Level.REMINDER_1, outcome=ReminderLog.Outcome.SENT,
        sent_at=timezone.now(),
    )  # fmt: skip
    html = _render(referral.case, coordinator)
    assert "first reminder to the institution" in html


def test_panel_needs_the_same_number_of_queries_for_one_or_many_referrals(
    coordinator, school_user, institution, ready_case
) -> None:
    def referral_round(case: Case) -> None:
        other = InstitutionFactory(district=institution.district)
        staff_referral = ReferralFactory(coordinator=coordinator, institution=other, case=case)
        ReminderLog.objects.create(referral=staff_referral, level=ReminderLog.Level.REMINDER_1)
        referral_withdraw(referral=staff_referral, by=coordinator, comment="weiter")

    # One referral, pending (the case waits for the answer: the next step shows its deadline).
    first = ReferralFactory(coordinator=coordinator, institution=InstitutionFactory(
        district=institution.district), case=ready_case)  # fmt: skip
    ReminderLog.objects.create(referral=first, level=ReminderLog.Level.REMINDER_1)
    OfficeSettings.current()  # the settings row is cached, as on any page after the first
    with CaptureQueriesContext(connection) as one:
        _render(_fresh(ready_case), type(coordinator).objects.get(pk=coordinator.pk))
    referral_withdraw(referral=Referral.objects.get(pk=first.pk), by=coordinator, comment="weiter")
    # Six referrals, the last one pending again: the same state, five times the rows.
    for _ in range(4):
        referral_round(Case.objects.get(pk=ready_case.pk))
    PlacesFactory(institution=institution, group=ready_case.wanted_group, free=1)
    ReferralFactory(coordinator=coordinator, institution=institution,
                    case=Case.objects.get(pk=ready_case.pk))  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        html = _render(_fresh(ready_case), type(coordinator).objects.get(pk=coordinator.pk))
    assert html.count("kern-card app-referral") == 6
    assert len(many) == len(one)


def test_accepted_referral_shows_the_agreed_start_date(coordinator, institution, school_user):
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, accepted=True
    )
    Referral.objects.filter(pk=referral.pk).update(start_date=dt.date(2031, 8, 11))
    html = _render(Case.objects.get(pk=referral.case_id), coordinator)
    assert "accepted" in html
    assert "08/11/2031" in html
