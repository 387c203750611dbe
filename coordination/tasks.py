"""Celery tasks of the shared base (the outbox's are in ``coordination/outbox_tasks.py``)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="coordination.tasks.send_audit_head", acks_late=True, ignore_result=True)
def send_audit_head() -> int:
    """Nightly: verify the audit log and send its head to the data-protection officer
    (coordination/audit_head.py). Returns the head entry's id."""
    from coordination.audit_head import audit_head_send

    return audit_head_send().id
