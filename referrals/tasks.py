"""Celery tasks of the referrals app: thin, take ids, idempotent, retried with backoff."""

from __future__ import annotations

import logging

from celery import shared_task

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
