"""Where the outbox is visible: the case page (its coordinators) and the Django admin."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from coordination.models import AuditEntry, OutboxMessage
from coordination.outbox import mail_enqueue
from tests.factories import CaseFactory, ReferralFactory
from tests.second_factor import log_in

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    type(user).objects.filter(pk=user.pk).update(language="en")
    return log_in(Client(), user)


@pytest.fixture
def case_with_mail(coordinator, institution):  # type: ignore[no-untyped-def]
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    return referral.case


def test_the_case_page_lists_its_mails_for_the_coordinator(coordinator, case_with_mail) -> None:
    mail = OutboxMessage.objects.get(case_reference=case_with_mail.reference)
    html = client_for(coordinator).get(reverse("cases:detail", args=[case_with_mail.pk]))
    text = html.content.decode()
    assert "E-mails" in text
    assert mail.subject in text and mail.to in text
    assert "queued" in text


def test_institution_staff_and_management_do_not_see_the_mails(
    school_user, management_user, case_with_mail
) -> None:
    url = reverse("cases:detail", args=[case_with_mail.pk])
    mail = OutboxMessage.objects.get(case_reference=case_with_mail.reference)
    for user in (school_user, management_user):
        response = client_for(user).get(url)
        assert response.status_code in (403, 404)
        assert mail.message_id not in response.content.decode()
        assert mail.to not in response.content.decode()


def test_another_teams_case_shows_no_mails_of_this_case(other_coordinator, coordinator) -> None:
    from cases.selectors import case_mails

    case = CaseFactory(coordinator=coordinator)
    mail_enqueue(
        kind="test.x", to="a@example.org", subject="S", body="B", case_reference=case.reference
    )
    assert len(case_mails(user=coordinator, case=case)) == 1
    assert case_mails(user=other_coordinator, case=case) == []


def test_admin_lists_the_mails_and_requeues_and_cancels_through_the_services(
    admin_user_role,
) -> None:
    queued = mail_enqueue(kind="test.x", to="a@example.org", subject="S", body="B")
    failed = mail_enqueue(kind="test.x", to="b@example.org", subject="S", body="B")
    assert queued is not None and failed is not None
    OutboxMessage.objects.filter(pk=failed.pk).update(state="failed", attempts=6)
    client = client_for(admin_user_role)
    url = reverse("admin:coordination_outboxmessage_changelist")
    assert client.get(url).status_code == 200
    assert client.get(url, {"state__exact": "failed"}).status_code == 200
    assert client.get(reverse("admin:coordination_outboxmessage_add")).status_code == 403

    client.post(url, {"action": "cancel", "_selected_action": [queued.pk, failed.pk]})
    queued.refresh_from_db()
    failed.refresh_from_db()
    assert (queued.state, failed.state) == ("cancelled", "failed")
    client.post(url, {"action": "requeue", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("queued", 0)
    assert AuditEntry.objects.filter(action__in=["outbox.cancel", "outbox.requeue"]).count() == 2
