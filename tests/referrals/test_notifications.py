"""E-mails to the other side: written to the outbox with the change, sent after the commit,
German, no personal data."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone, translation

from cases.services import case_update
from coordination.models import OutboxMessage
from coordination.outbox import outbox_send
from referrals.mails import notification_enqueue
from referrals.services import (
    referral_accept,
    referral_create,
    referral_decline,
    referral_enrol,
    referral_withdraw,
)
from referrals.tasks import send_referral_notification
from tests.factories import CaseFactory, PlacesFactory

pytestmark = pytest.mark.django_db


def send_referral_mail(*, kind: str, referral_id: int) -> str:
    message = notification_enqueue(kind=kind, referral_id=referral_id)
    assert message is not None
    return outbox_send(message_id=message.pk)


@pytest.fixture
def case(coordinator, institution):
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    case_update(
        case=case,
        by=coordinator,
        data={"given_name": "Zaynab", "family_name": "Qasim"},
        expected_version=case.version,
    )
    PlacesFactory(institution=institution, group=case.wanted_group, free=2)
    return case


def _assert_no_personal_data(message, case) -> None:
    text = message.subject + message.body
    for personal in ("Zaynab", "Qasim", "2017", "Haddad"):
        assert personal not in text
    assert case.reference in message.subject
    assert case.reference in message.body


def test_referral_mail_goes_to_the_institution_only_after_commit(
    coordinator, institution, case, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        referral = referral_create(case=case, institution=institution, by=coordinator)
    assert mail.outbox == []  # nothing is sent before the transaction commits
    assert len(callbacks) == 1
    callbacks[0]()
    [message] = mail.outbox
    assert message.to == [institution.email]
    assert f"/referrals/{referral.pk}/" in message.body
    _assert_no_personal_data(message, case)


def test_answers_go_to_the_coordinator_with_a_link_to_the_case(
    coordinator, institution, school_user, case, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        referral = referral_create(case=case, institution=institution, by=coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        referral = referral_accept(referral=referral, by=school_user)
    with django_capture_on_commit_callbacks(execute=True):
        referral_enrol(referral=referral, by=school_user, first_day=timezone.localdate())
    created, accepted, enrolled = mail.outbox
    assert created.to == [institution.email]
    for message in (accepted, enrolled):
        assert message.to == [coordinator.email]
        assert f"/cases/{case.pk}/" in message.body
        _assert_no_personal_data(message, case)
    assert accepted.subject != enrolled.subject


def test_decline_mail_goes_to_the_team_mailbox_without_a_coordinator(
    coordinator, institution, school_user, case, django_capture_on_commit_callbacks
) -> None:
    referral = referral_create(case=case, institution=institution, by=coordinator)
    type(case).objects.filter(pk=case.pk).update(coordinator=None)
    with django_capture_on_commit_callbacks(execute=True):
        referral_decline(referral=referral, by=school_user, reason="no_place")
    [message] = mail.outbox
    assert message.to == [case.team.mailbox]
    _assert_no_personal_data(message, case)


def test_withdrawal_is_told_to_the_institution(
    coordinator, institution, case, django_capture_on_commit_callbacks
) -> None:
    referral = referral_create(case=case, institution=institution, by=coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        referral_withdraw(referral=referral, by=coordinator, comment="Familie zieht weg")
    [message] = mail.outbox
    assert message.to == [institution.email]
    assert "Familie zieht weg" not in message.body  # the reason stays in the case


def test_mail_is_rendered_in_german_whatever_the_active_language(
    coordinator, institution, case, monkeypatch
) -> None:
    referral = referral_create(case=case, institution=institution, by=coordinator)
    languages: list[str] = []
    original = translation.override

    class Spy(original):  # type: ignore[misc,valid-type]
        def __enter__(self):  # type: ignore[no-untyped-def]
            languages.append(self.language)
            return super().__enter__()

    monkeypatch.setattr(translation, "override", Spy)
    translation.activate("en")
    try:
        send_referral_mail(kind="created", referral_id=referral.pk)
    finally:
        translation.deactivate()
    assert languages == ["de"]
    assert mail.outbox[0].subject.startswith("Neue Vermittlung")


def test_institution_name_is_not_html_escaped_in_the_mail(coordinator, case, institution) -> None:
    type(institution).objects.filter(pk=institution.pk).update(name='Kita "Löwenzahn" & Co')
    referral = referral_create(case=case, institution=institution, by=coordinator)
    send_referral_mail(kind="accepted", referral_id=referral.pk)
    assert 'Kita "Löwenzahn" & Co' in mail.outbox[0].body


def test_old_task_for_a_vanished_referral_or_unknown_kind_sends_nothing(
    coordinator, institution, case
) -> None:
    referral = referral_create(case=case, institution=institution, by=coordinator)
    assert send_referral_notification.delay("bogus", referral.pk).get() == "nothing to do"
    assert send_referral_notification.delay("created", 987654).get() == "nothing to do"
    assert mail.outbox == []


def test_old_task_still_in_the_broker_writes_its_mail_to_the_outbox(
    coordinator, institution, case
) -> None:
    referral = referral_create(case=case, institution=institution, by=coordinator)
    assert send_referral_notification.delay("accepted", referral.pk).get() == "moved to the outbox"
    assert OutboxMessage.objects.filter(kind="referral.accepted").count() == 1


def test_sending_a_notification_does_not_decrypt_personal_fields(
    coordinator, institution, case, decrypted
):
    referral = referral_create(case=case, institution=institution, by=coordinator)
    decrypted.clear()
    send_referral_mail(kind="created", referral_id=referral.pk)
    assert decrypted == []
    assert len(mail.outbox) == 1


def test_a_rolled_back_change_leaves_no_mail(coordinator, institution, case) -> None:
    from django.db import transaction

    before = OutboxMessage.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        referral_create(case=case, institution=institution, by=coordinator)
        assert OutboxMessage.objects.count() == before + 1
        raise RuntimeError("the change fails after its mail was written")
    assert OutboxMessage.objects.count() == before
    assert mail.outbox == []


def test_the_notification_is_written_in_the_transaction_of_the_change(
    coordinator, institution, case, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        referral = referral_create(case=case, institution=institution, by=coordinator)
    message = OutboxMessage.objects.get(kind="referral.created")
    assert (message.state, message.to) == ("queued", institution.email)
    assert message.case_reference == case.reference
    assert (message.object_type, message.object_id) == ("referrals.referral", str(referral.pk))
