"""Sending one reminder through the outbox: idempotent, re-checked under lock, retried with
backoff, failures shown in the case history.

The sweep writes the reminder's outbox row without handing it over (no commit in these
tests); ``send`` runs the outbox's send as the worker would, ignoring the backoff's wait.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.template.loader import render_to_string
from django.utils import translation

from cases.models import CaseEvent
from coordination.models import OutboxMessage
from coordination.outbox import MAX_ATTEMPTS, backoff_seconds, outbox_send
from referrals.models import ReminderLog
from referrals.reminders import reminders_claim_due
from referrals.services import referral_withdraw
from tests.factories import ReferralFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_school_holidays")]

BERLIN = ZoneInfo("Europe/Berlin")
Outcome = ReminderLog.Outcome


class FlakyBackend(LocmemBackend):
    """Fails the first ``failures`` sends with ``error``, then delivers to the outbox."""

    failures = 0
    error: Exception = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    calls = 0

    def send_messages(self, messages: Any) -> int:
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise type(self).error
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):  # type: ignore[no-untyped-def]
    """Mail through FlakyBackend."""
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.calls = 0
    FlakyBackend.failures = 0
    FlakyBackend.error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    return FlakyBackend


def mail_of(reminder: ReminderLog) -> OutboxMessage:
    return OutboxMessage.objects.get(object_type="referrals.reminderlog", object_id=reminder.pk)


def send(reminder: ReminderLog) -> str:
    """Send the reminder's mail, and again after each failure (as the flush would, later)."""
    outcome = "retry later"
    while outcome == "retry later":
        outcome = outbox_send(message_id=mail_of(reminder).pk, force=True)
    return outcome


@pytest.fixture
def due_reminder(coordinator, institution) -> ReminderLog:  # type: ignore[no-untyped-def]
    """A first reminder written by the sweep and not sent yet."""
    with time_machine.travel(dt.datetime(2026, 4, 1, 10, tzinfo=BERLIN), tick=False):
        referral = ReferralFactory(coordinator=coordinator, institution=institution)
    with time_machine.travel(dt.datetime(2026, 4, 10, 8, tzinfo=BERLIN), tick=False):
        _result, ids = reminders_claim_due()
    assert len(ids) == 1
    reminder = ReminderLog.objects.get(pk=ids[0])
    assert reminder.referral_id == referral.pk
    return reminder


def test_sending_twice_sends_once(due_reminder, mailoutbox) -> None:
    assert send(due_reminder) == "sent"
    assert send(due_reminder) == "sent"
    assert len(mailoutbox) == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts) == (Outcome.SENT, 1)
    assert due_reminder.recipient == "institution"
    assert due_reminder.sent_at is not None
    events = due_reminder.referral.case.events.filter(kind=CaseEvent.Kind.REMINDER)
    assert list(events.values_list("transition", "reason")) == [("r1", "sent")]


def test_a_missing_row_is_a_no_op(db) -> None:
    assert outbox_send(message_id=987654) == "missing"


def test_withdrawn_referral_cancels_the_queued_reminder(due_reminder, coordinator, mailoutbox):
    referral_withdraw(referral=due_reminder.referral, by=coordinator, comment="family moved")
    mailoutbox.clear()  # the withdrawal's own notification
    assert send(due_reminder) == "cancelled"
    assert mailoutbox == []
    due_reminder.refresh_from_db()
    assert due_reminder.outcome == Outcome.SKIPPED


def test_a_mail_server_error_is_retried_until_it_goes_through(due_reminder, flaky, mailoutbox):
    flaky.failures = 2
    assert send(due_reminder) == "sent"
    assert flaky.calls == 3
    assert len(mailoutbox) == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts, due_reminder.error) == (
        Outcome.SENT, 3, "",
    )  # fmt: skip


def test_every_attempt_carries_the_same_message_id(due_reminder, flaky, mailoutbox) -> None:
    flaky.failures = 2
    seen: list[str] = []
    real = FlakyBackend.send_messages

    def spy(self, messages):  # type: ignore[no-untyped-def]
        seen.extend(m.message()["Message-ID"] for m in messages)
        return real(self, messages)

    FlakyBackend.send_messages = spy  # type: ignore[method-assign]
    try:
        assert send(due_reminder) == "sent"
    finally:
        FlakyBackend.send_messages = real  # type: ignore[method-assign]
    assert seen == [mail_of(due_reminder).message_id] * 3


def test_after_the_last_retry_the_failure_is_recorded_and_shown(
    due_reminder, flaky, mailoutbox
) -> None:
    flaky.failures = 100
    assert send(due_reminder) == "failed"
    assert flaky.calls == MAX_ATTEMPTS
    assert mailoutbox == []
    due_reminder.refresh_from_db()
    assert due_reminder.outcome == Outcome.FAILED
    assert due_reminder.attempts == MAX_ATTEMPTS
    assert "SMTPServerDisconnected" in due_reminder.error
    event = due_reminder.referral.case.events.get(kind=CaseEvent.Kind.REMINDER)
    assert (event.transition, event.reason) == ("r1", "failed")
    assert "SMTPServerDisconnected" in event.comment
    # The coordinator sees it on the referral, as text (not a colour only).
    with translation.override("en"):
        html = render_to_string(
            "referrals/_reminders.html", {"reminders": list(due_reminder.referral.reminders.all())}
        )
    assert "Not delivered" in html
    assert f"Sending failed after {MAX_ATTEMPTS} attempts" in html
    assert "SMTPServerDisconnected" in html
    # A failed reminder is settled: another run neither sends nor counts.
    assert send(due_reminder) == "failed"
    assert flaky.calls == MAX_ATTEMPTS


def test_a_refused_recipient_is_not_retried(due_reminder, flaky, mailoutbox) -> None:
    flaky.failures = 100
    flaky.error = smtplib.SMTPRecipientsRefused({"x@example.org": (550, b"no such user")})
    assert send(due_reminder) == "failed"
    assert flaky.calls == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts) == (Outcome.FAILED, 1)
    assert "x@example.org" not in due_reminder.error  # the code only
    assert due_reminder.referral.case.events.filter(reason="failed").count() == 1


def test_a_network_error_counts_as_a_mail_error(due_reminder, flaky, mailoutbox) -> None:
    flaky.failures = 1
    flaky.error = ConnectionRefusedError(111, "Connection refused")
    assert send(due_reminder) == "sent"
    assert len(mailoutbox) == 1


def test_backoff_is_exponential_and_capped() -> None:
    waits = [backoff_seconds(n) for n in range(1, MAX_ATTEMPTS)]
    assert waits == [60, 120, 240, 480, 900]


def test_a_retry_waits_its_backoff_before_the_flush_hands_it_over(
    due_reminder, flaky, django_capture_on_commit_callbacks
) -> None:
    from coordination.outbox import HANDOVER_GRACE, outbox_flush

    flaky.failures = 1
    now = dt.datetime(2026, 4, 10, 9, tzinfo=BERLIN)
    message = mail_of(due_reminder)
    with time_machine.travel(now, tick=False):
        assert outbox_send(message_id=message.pk) == "retry later"
        assert outbox_send(message_id=message.pk) == "not due"
    message.refresh_from_db()
    assert message.next_attempt_at == now + dt.timedelta(seconds=60)
    with time_machine.travel(now + dt.timedelta(seconds=60), tick=False):
        outbox_flush()  # due, but the grace is not over
    message.refresh_from_db()
    assert (message.state, message.handed_over_at) == ("queued", None)
    later = now + dt.timedelta(seconds=60) + HANDOVER_GRACE
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        outbox_flush()
    due_reminder.refresh_from_db()
    assert due_reminder.outcome == Outcome.SENT
