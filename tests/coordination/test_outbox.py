"""The outbox: written with the change, "sending" committed before the hand-over, retried with
backoff and one Message-ID, put back by the flush after a stopped worker, broker outages."""

from __future__ import annotations

import datetime as dt
import smtplib
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from coordination import outbox
from coordination.models import OutboxMessage
from coordination.outbox import (
    MAX_ATTEMPTS,
    SENDING_TIMEOUT,
    mail_enqueue,
    outbox_flush,
    outbox_send,
)

pytestmark = pytest.mark.django_db
State = OutboxMessage.State


def enqueue(**kwargs: Any) -> OutboxMessage:
    fields = {"kind": "test.mail", "to": "kita@example.org", "subject": "S", "body": "B"}
    message = mail_enqueue(**{**fields, **kwargs})
    assert message is not None
    return message


class StateCheckingBackend(LocmemBackend):
    """Records the row's state, read from the database, at the moment of the hand-over."""

    seen: list[tuple[str, int]] = []

    def send_messages(self, messages: Any) -> int:
        for message in messages:
            row = OutboxMessage.objects.get(message_id=message.extra_headers["Message-ID"])
            type(self).seen.append((row.state, row.attempts))
        return super().send_messages(messages)


class FailingBackend(LocmemBackend):
    error: Exception = smtplib.SMTPServerDisconnected("gone")

    def send_messages(self, messages: Any) -> int:
        raise type(self).error


def test_a_rolled_back_change_leaves_no_mail() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue()
        raise RuntimeError("the change fails")
    assert not OutboxMessage.objects.exists()


def test_nothing_is_handed_over_before_the_commit(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = enqueue(case_reference="NZ-2026-0001")
    assert mail.outbox == [] and len(callbacks) == 1
    callbacks[0]()
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.SENT, 1)
    [sent] = mail.outbox
    assert sent.message()["Message-ID"] == message.message_id
    assert sent.message()["Auto-Submitted"] == "auto-generated"


def test_an_empty_address_writes_no_row(caplog) -> None:
    assert mail_enqueue(kind="test.mail", to="  ", subject="S", body="B") is None
    assert not OutboxMessage.objects.exists()
    assert "no address" in caplog.text


def test_sending_is_committed_before_the_hand_over(settings) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.StateCheckingBackend"
    StateCheckingBackend.seen = []
    message = enqueue()
    assert outbox_send(message_id=message.pk) == State.SENT
    assert StateCheckingBackend.seen == [(State.SENDING, 1)]
    message.refresh_from_db()
    assert (message.state, message.sending_since) == (State.SENT, None)


def test_a_failed_attempt_waits_its_backoff_with_the_same_message_id(settings) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    FailingBackend.error = smtplib.SMTPServerDisconnected("gone")
    message = enqueue()
    first_id = message.message_id
    assert outbox_send(message_id=message.pk) == "retry later"
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.QUEUED, 1)
    assert message.last_error == "SMTPServerDisconnected: gone"
    assert message.next_attempt_at > timezone.now() + dt.timedelta(seconds=50)
    assert outbox_send(message_id=message.pk) == "not due"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_send(message_id=message.pk, force=True) == State.SENT
    message.refresh_from_db()
    assert (message.message_id, message.attempts) == (first_id, 2)
    assert mail.outbox[0].message()["Message-ID"] == first_id


def test_a_refused_recipient_fails_at_once_and_the_hook_learns_it(settings) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    FailingBackend.error = smtplib.SMTPRecipientsRefused({"kita@example.org": (550, b"no")})
    finals: list[tuple[str, str]] = []
    outbox.register_kind("hooked.", on_final=lambda m: finals.append((m.kind, m.state)))
    message = enqueue(kind="hooked.one")
    assert outbox_send(message_id=message.pk) == State.FAILED
    assert finals == [("hooked.one", State.FAILED)]
    message.refresh_from_db()
    assert message.last_error == "SMTPRecipientsRefused: 550"


def test_after_the_last_attempt_the_row_fails(settings) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    FailingBackend.error = ConnectionRefusedError(111, "refused")
    message = enqueue()
    outcomes = [outbox_send(message_id=message.pk, force=True) for _ in range(MAX_ATTEMPTS + 1)]
    assert outcomes == ["retry later"] * (MAX_ATTEMPTS - 1) + [State.FAILED, State.FAILED]


def test_a_message_no_longer_wanted_is_cancelled_not_sent() -> None:
    outbox.register_kind("unwanted.", still_wanted=lambda m: "answered meanwhile")
    message = enqueue(kind="unwanted.one")
    assert outbox_send(message_id=message.pk) == State.CANCELLED
    message.refresh_from_db()
    assert (message.state, message.last_error, message.attempts) == (
        State.CANCELLED, "answered meanwhile", 0,
    )  # fmt: skip
    assert mail.outbox == []


def test_a_row_left_sending_by_a_stopped_worker_is_sent_again_with_its_message_id() -> None:
    """The worker died between "sending" and "sent": the flush puts the row back after the
    timeout and it is sent again (at-least-once), with the Message-ID of the first try."""
    message = enqueue()
    long_ago = timezone.now() - SENDING_TIMEOUT - dt.timedelta(seconds=1)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=State.SENDING, attempts=1, sending_since=long_ago
    )
    recent = enqueue()
    OutboxMessage.objects.filter(pk=recent.pk).update(
        state=State.SENDING, attempts=1, sending_since=timezone.now()
    )
    result = outbox_flush(send_now=True)
    assert (result.released, result.sent[State.SENT]) == (1, 1)
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.SENT, 2)
    [sent] = mail.outbox
    assert sent.message()["Message-ID"] == message.message_id
    recent.refresh_from_db()
    assert recent.state == State.SENDING  # still within its time: the worker may be alive


def test_a_row_that_stopped_every_worker_fails_after_its_attempts() -> None:
    message = enqueue()
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=State.SENDING,
        attempts=MAX_ATTEMPTS,
        sending_since=timezone.now() - SENDING_TIMEOUT - dt.timedelta(seconds=1),
    )
    assert outbox_flush().given_up == 1
    message.refresh_from_db()
    assert (message.state, message.last_error) == (State.FAILED, "worker stopped while sending")


def test_broker_down_leaves_the_row_queued_and_the_flush_hands_it_over_later(
    django_capture_on_commit_callbacks,
) -> None:
    from kombu.exceptions import OperationalError

    from coordination.outbox_tasks import send_outbox_message

    with (
        mock.patch.object(send_outbox_message, "delay", side_effect=OperationalError("down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = enqueue()
        assert outbox_flush(now=timezone.now() + dt.timedelta(minutes=2)).broker_down == 1
    message.refresh_from_db()
    assert (message.state, message.handed_over_at) == (State.QUEUED, None)
    assert outbox_flush().handed_over == 0  # handed over a moment ago? no: within the grace
    assert outbox_flush(now=timezone.now() + dt.timedelta(minutes=2)).handed_over == 1
    message.refresh_from_db()
    assert message.state == State.SENT


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_mail_written_while_the_broker_is_down_is_sent_after_it_returns() -> None:
    """A real, closed broker port: the change commits, its mail stays queued. Once the broker
    (real Redis) is back, the flush hands the id over; the worker's task then sends it."""
    import redis
    from django.conf import settings

    from coordination.celery import app
    from coordination.outbox_tasks import send_outbox_message

    def closed_port(pk: int) -> None:
        with app.connection_for_write("redis://127.0.0.1:1/0") as conn:
            send_outbox_message.apply_async((pk,), connection=conn, retry=False)

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    try:
        with mock.patch.object(send_outbox_message, "delay", side_effect=closed_port):
            with transaction.atomic():
                message = enqueue()
            message.refresh_from_db()
            assert message.state == State.QUEUED  # committed; the hand-over failed
        assert client.llen("celery") == 0
        result = outbox_flush(now=timezone.now() + dt.timedelta(minutes=2))
        assert result.handed_over == 1
        assert client.llen("celery") == 1  # in the real broker now
    finally:
        app.conf.task_always_eager = eager
        client.delete("celery")
    assert send_outbox_message(message.pk) == State.SENT  # what the worker runs
    message.refresh_from_db()
    assert message.state == State.SENT
    assert [m.message()["Message-ID"] for m in mail.outbox] == [message.message_id]


def test_send_outbox_command_sends_due_rows_here(capsys) -> None:
    message = enqueue()
    call_command("send_outbox")
    message.refresh_from_db()
    assert message.state == State.SENT
    assert "sent: 1" in capsys.readouterr().out


def test_requeue_and_cancel_work_only_in_their_states() -> None:
    message = enqueue()
    assert outbox.outbox_requeue(message=message) is False  # queued already
    assert outbox.outbox_cancel(message=message) is True
    message.refresh_from_db()
    assert message.state == State.CANCELLED
    assert outbox.outbox_cancel(message=message) is False
    assert outbox.outbox_requeue(message=message) is True
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.QUEUED, 0)


def _aged(message: OutboxMessage, state: str, days: int) -> OutboxMessage:
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=state, created_at=timezone.now() - dt.timedelta(days=days)
    )
    return message


def test_prune_deletes_only_final_rows_past_the_keep_period(settings) -> None:
    settings.OUTBOX_KEEP_DAYS = 90
    old = {
        state: _aged(enqueue(subject=state), state, 91)
        for state in (State.SENT, State.FAILED, State.CANCELLED, State.QUEUED, State.SENDING)
    }
    young_sent = _aged(enqueue(subject="young"), State.SENT, 89)

    assert outbox.outbox_prune(dry_run=True) == 3
    assert OutboxMessage.objects.count() == 6  # the dry run deleted nothing

    assert outbox.outbox_prune() == 3
    left = set(OutboxMessage.objects.values_list("pk", flat=True))
    # Queued and sending rows are work still to do, however old; a young sent row stays.
    assert left == {old[State.QUEUED].pk, old[State.SENDING].pk, young_sent.pk}
    assert outbox.outbox_prune() == 0


def test_prune_works_in_batches(settings, monkeypatch) -> None:
    settings.OUTBOX_KEEP_DAYS = 1
    monkeypatch.setattr(outbox, "PRUNE_BATCH", 2)
    for i in range(5):
        _aged(enqueue(subject=f"m{i}"), State.SENT, 2)
    assert outbox.outbox_prune() == 5
    assert not OutboxMessage.objects.exists()
