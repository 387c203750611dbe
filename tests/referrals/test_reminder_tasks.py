"""Sending one reminder: idempotent, re-checked under lock, retried, failures shown.

Tasks run eagerly in the test settings; Celery then runs each retry at once (the countdown
is not waited for), so a whole retry chain runs inside one ``delay()``.
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
from referrals.models import ReminderLog
from referrals.reminders import MAX_ATTEMPTS, backoff_seconds, reminders_claim_due
from referrals.services import referral_withdraw
from referrals.tasks import send_reminder
from tests.factories import ReferralFactory

pytestmark = pytest.mark.django_db

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
    """Mail through FlakyBackend. Eager retries need ``task_eager_propagates`` off: with it
    on, Celery raises the ``Retry`` instead of running the retry at once."""
    from coordination.celery import app

    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.calls = 0
    FlakyBackend.failures = 0
    FlakyBackend.error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    old = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield FlakyBackend
    app.conf.task_eager_propagates = old


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
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.SENT
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.SENT
    assert len(mailoutbox) == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts) == (Outcome.SENT, 1)
    assert due_reminder.recipient == "institution"
    assert due_reminder.sent_at is not None
    events = due_reminder.referral.case.events.filter(kind=CaseEvent.Kind.REMINDER)
    assert list(events.values_list("transition", "reason")) == [("r1", "sent")]


def test_a_missing_row_is_a_no_op(db) -> None:
    assert send_reminder.delay(987654).get() == "missing"


def test_withdrawn_referral_skips_the_queued_reminder(due_reminder, coordinator, mailoutbox):
    referral_withdraw(referral=due_reminder.referral, by=coordinator, comment="family moved")
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.SKIPPED
    assert mailoutbox == []
    due_reminder.refresh_from_db()
    assert due_reminder.outcome == Outcome.SKIPPED


def test_a_mail_server_error_is_retried_until_it_goes_through(due_reminder, flaky, mailoutbox):
    flaky.failures = 2
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.SENT
    assert flaky.calls == 3
    assert len(mailoutbox) == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts, due_reminder.error) == (
        Outcome.SENT, 3, "",
    )  # fmt: skip


def test_after_the_last_retry_the_failure_is_recorded_and_shown(
    due_reminder, flaky, mailoutbox
) -> None:
    flaky.failures = 100
    assert send_reminder.delay(due_reminder.pk).get() == "failed"
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
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.FAILED
    assert flaky.calls == MAX_ATTEMPTS


def test_a_refused_recipient_is_not_retried(due_reminder, flaky, mailoutbox) -> None:
    flaky.failures = 100
    flaky.error = smtplib.SMTPRecipientsRefused({"x@example.org": (550, b"no such user")})
    assert send_reminder.delay(due_reminder.pk).get() == "failed"
    assert flaky.calls == 1
    due_reminder.refresh_from_db()
    assert (due_reminder.outcome, due_reminder.attempts) == (Outcome.FAILED, 1)


def test_a_network_error_counts_as_a_mail_error(due_reminder, flaky, mailoutbox) -> None:
    flaky.failures = 1
    flaky.error = ConnectionRefusedError(111, "Connection refused")
    assert send_reminder.delay(due_reminder.pk).get() == Outcome.SENT
    assert len(mailoutbox) == 1


def test_backoff_is_exponential_and_never_far_in_the_future(settings) -> None:
    waits = [backoff_seconds(n) for n in range(MAX_ATTEMPTS - 1)]
    assert waits == [60, 120, 240, 480, 900]
    # Redis redelivers a task that waits longer than the visibility timeout: stay below it.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    assert max(waits) < visibility


def test_a_retry_waits_its_backoff_before_the_sweep_catches_it_up(
    due_reminder, flaky, django_capture_on_commit_callbacks
) -> None:
    """A row waiting for its retry is not queued a second time by the sweep's catch-up."""
    from referrals.reminders import REQUEUE_AFTER, reminder_record_failure

    now = dt.datetime(2026, 4, 10, 9, tzinfo=BERLIN)
    with time_machine.travel(now, tick=False):
        assert (
            reminder_record_failure(reminder_id=due_reminder.pk, error="x", retry_in=900) is False
        )
    due_reminder.refresh_from_db()
    assert due_reminder.queued_at == now + dt.timedelta(seconds=900)
    from referrals.reminders import referrals_sweep

    later = now + dt.timedelta(seconds=900) + REQUEUE_AFTER - dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert referrals_sweep().requeued == 0
    with (
        time_machine.travel(later + dt.timedelta(minutes=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert referrals_sweep().requeued == 1
    due_reminder.refresh_from_db()
    assert due_reminder.outcome == Outcome.SENT
