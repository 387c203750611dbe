"""Celery tasks of the cases app: thin, idempotent, retried with backoff."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(
    name="cases.tasks.apply_retention",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=3,
)
def apply_retention(dry_run: bool = False) -> dict[str, Any]:
    """Daily: list the cases due for the archive (mail the administrators), erase the ones
    the archive has decided on, prune the audit log past its retention period."""
    from cases.retention import retention_run

    report = retention_run(dry_run=dry_run)
    log.info(
        "retention%s: %s erased, %s awaiting offer, %s awaiting decision, %s audit entries and "
        "%s outgoing e-mails pruned",
        " (dry run)" if dry_run else "",
        len(report.erased) or len(report.would_erase),
        len(report.awaiting_offer),
        len(report.awaiting_decision),
        report.audit_pruned,
        report.outbox_pruned,
    )
    return report.as_dict()
