"""Run the retention job now: ``python manage.py apply_retention [--dry-run]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cases.retention import retention_run


class Command(BaseCommand):
    help = (
        "List closed cases past their retention period, erase the personal data of those the "
        "archive has decided on, and prune the audit log past its own retention period."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only report what would happen; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry = options["dry_run"]
        report = retention_run(dry_run=dry)
        prefix = "DRY RUN: " if dry else ""
        out = self.stdout
        out.write(f"{prefix}awaiting an archive offer: {len(report.awaiting_offer)}")
        for ref in report.awaiting_offer:
            out.write(f"  {ref}")
        out.write(
            f"{prefix}offered, awaiting the archive's decision: {len(report.awaiting_decision)}"
        )
        for ref in report.awaiting_decision:
            out.write(f"  {ref}")
        erased = report.would_erase if dry else report.erased
        out.write(f"{prefix}{'would erase' if dry else 'erased'}: {len(erased)}")
        for ref in erased:
            out.write(f"  {ref}")
        if report.failed:
            out.write(f"not erased (changed meanwhile): {', '.join(report.failed)}")
        verb = "would prune" if dry else "pruned"
        out.write(f"{prefix}audit log: {verb} {report.audit_pruned} entries past their retention")
        out.write(
            f"{prefix}outgoing e-mails: {verb} {report.outbox_pruned} sent, failed or cancelled"
        )
        if not dry:
            out.write(f"administrators notified: {report.notified}")
