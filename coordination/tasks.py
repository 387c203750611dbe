"""Celery tasks of the shared base (the outbox's are in ``coordination/outbox_tasks.py``)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="coordination.tasks.send_audit_head", acks_late=True, ignore_result=True)
def send_audit_head() -> int:
    """Nightly: verify the audit log and send its head to the data-protection officer
    (coordination/audit_head.py). Returns the head entry's id."""
    from coordination.audit_head import audit_head_send

    return audit_head_send().id


@shared_task(name="coordination.tasks.worker_heartbeat", acks_late=True, ignore_result=True)
def worker_heartbeat() -> None:
    """Beat sends this every few minutes: that a worker ran it proves broker, beat and worker
    work together (shown on the administrators' start page)."""
    from coordination.heartbeat import WORKER, heartbeat_record

    heartbeat_record(WORKER)
