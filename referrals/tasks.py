"""Celery tasks of the referrals app: thin, take ids, idempotent, retried with backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task

log = logging.getLogger(__name__)


@shared_task(
    name="referrals.tasks.send_referral_notification",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=5,
)
def send_referral_notification(kind: str, referral_id: int) -> str:
    """Tell the other side that a referral was made or answered (no personal data)."""
    from referrals.notifications import send_referral_mail

    return send_referral_mail(kind=kind, referral_id=referral_id)


# --- reminders and escalation (referrals/reminders.py) ------------------------------------------


@shared_task(name="referrals.tasks.sweep_referrals", acks_late=True)
def sweep_referrals() -> dict[str, object]:
    """The beat sweep: write what is due, expire what is overdue, queue the sends, catch up."""
    from referrals.reminders import referrals_sweep

    return referrals_sweep().as_dict()


def _send_or_retry(
    task: Task, send: Callable[[], str], record: Callable[[str, int | None], bool]
) -> str:
    """Run one send; on an error retry with exponential backoff, record the last failure.

    Mail server errors are expected; anything else is logged as well (and retried: a database
    that went away for a moment is worth another try). The attempt count lives in the row,
    so a task queued twice (sweep catch-up, broker redelivery) never gets more attempts.
    """
    from referrals.reminders import (
        MAIL_ERRORS,
        PERMANENT_MAIL_ERRORS,
        backoff_seconds,
        describe_error,
    )

    try:
        return send()
    except Exception as exc:
        if not isinstance(exc, MAIL_ERRORS):
            log.exception("%s failed", task.name)
        retries = task.request.retries or 0
        last = isinstance(exc, PERMANENT_MAIL_ERRORS) or retries >= (task.max_retries or 0)
        countdown = backoff_seconds(retries)
        if record(describe_error(exc), None if last else countdown):
            return "failed"
        raise task.retry(exc=exc, countdown=countdown) from exc


@shared_task(bind=True, name="referrals.tasks.send_reminder", acks_late=True, max_retries=5)
def send_reminder(self: Task, reminder_id: int) -> str:
    """Send one reminder (idempotent: the row is locked and says whether it went out)."""
    from referrals.reminders import reminder_record_failure, reminder_send

    return _send_or_retry(
        self,
        send=lambda: reminder_send(reminder_id=reminder_id),
        record=lambda error, retry_in: reminder_record_failure(
            reminder_id=reminder_id, error=error, retry_in=retry_in
        ),
    )


@shared_task(name="referrals.tasks.send_waiting_digests", acks_late=True)
def send_waiting_digests() -> int:
    """Monday morning: one digest per coordinator with cases waiting over the target."""
    from referrals.reminders import digests_queue_weekly

    return len(digests_queue_weekly())


@shared_task(bind=True, name="referrals.tasks.send_waiting_digest", acks_late=True, max_retries=5)
def send_waiting_digest(self: Task, digest_id: int) -> str:
    """Send one coordinator's weekly digest (idempotent per coordinator and ISO week)."""
    from referrals.reminders import digest_record_failure, digest_send

    return _send_or_retry(
        self,
        send=lambda: digest_send(digest_id=digest_id),
        record=lambda error, retry_in: digest_record_failure(
            digest_id=digest_id, error=error, retry_in=retry_in
        ),
    )
