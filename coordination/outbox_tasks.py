"""Celery tasks of the outbox (``coordination/outbox.py``): thin, take ids, idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="coordination.outbox_tasks.send_outbox_message", acks_late=True)
def send_outbox_message(message_id: int) -> str:
    """Send one outbox row if it is still queued and due. No Celery retry: a failed attempt
    puts the row back to queued with its next attempt time, and the flush hands it over."""
    from coordination.outbox import outbox_send

    return outbox_send(message_id=message_id)


@shared_task(name="coordination.outbox_tasks.outbox_flush", acks_late=True, ignore_result=True)
def outbox_flush() -> dict[str, int]:
    """Beat, every minute: queue again what a dead worker left sending, and hand over the due
    rows the broker never got (it was down) or lost."""
    from coordination import outbox

    result = outbox.outbox_flush()
    return {
        "released": result.released,
        "given_up": result.given_up,
        "handed_over": result.handed_over,
        "broker_down": result.broker_down,
    }
