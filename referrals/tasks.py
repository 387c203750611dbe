"""Celery tasks of the referrals app: thin, take ids, idempotent.

The e-mails themselves are sent by the outbox (``coordination/outbox_tasks.py``). The three
send tasks of the version before the outbox stay as thin shims for messages still waiting in
a broker at the upgrade; they can go in the release after.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction


@shared_task(name="referrals.tasks.sweep_referrals", acks_late=True)
def sweep_referrals() -> dict[str, object]:
    """The beat sweep: write what is due and its e-mails, expire what is overdue."""
    from coordination.heartbeat import SWEEP, heartbeat_record
    from referrals.reminders import referrals_sweep

    result = referrals_sweep().as_dict()
    heartbeat_record(SWEEP)
    return result


@shared_task(name="referrals.tasks.send_waiting_digests", acks_late=True)
def send_waiting_digests() -> int:
    """Monday morning: one digest per coordinator with cases waiting over the target."""
    from referrals.reminders import digests_queue_weekly

    return len(digests_queue_weekly())


@shared_task(name="referrals.tasks.send_referral_notification", acks_late=True)
def send_referral_notification(kind: str, referral_id: int) -> str:
    """Shim: a notification queued by the version before the outbox is written to it now."""
    from referrals.mails import KINDS, notification_enqueue
    from referrals.models import Referral

    if kind not in KINDS or not Referral.objects.filter(pk=referral_id).exists():
        return "nothing to do"
    with transaction.atomic():
        notification_enqueue(kind=kind, referral_id=referral_id)
    return "moved to the outbox"


@shared_task(name="referrals.tasks.send_reminder", acks_late=True)
def send_reminder(reminder_id: int) -> str:
    """Shim: the sweep gives a queued reminder of the version before the outbox its e-mails."""
    return "left to the sweep"


@shared_task(name="referrals.tasks.send_waiting_digest", acks_late=True)
def send_waiting_digest(digest_id: int) -> str:
    """Shim: the sweep gives a queued digest of the version before the outbox its e-mail."""
    return "left to the sweep"
