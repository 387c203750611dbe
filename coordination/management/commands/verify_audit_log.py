"""Walk the whole audit log and report the first broken link of its hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from coordination.audit import verify_chain_report


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain. Exits non-zero and names the first entry that "
        "was altered, inserted or removed. Note the printed head hash somewhere outside the "
        "system: it lets you prove later that no newest entries were cut off."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain_report(batch_size=options["batch_size"])
        if report.broken is not None:
            entry = report.broken
            raise CommandError(
                f"audit log BROKEN at entry #{entry.id} ({entry.at:%Y-%m-%d %H:%M:%S%z}, "
                f"{entry.action}, {entry.actor_name or '-'}): {report.reason}. "
                f"{report.checked} entries before it are intact.",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"audit log OK: {report.checked} entries verified; head #{report.head_id} "
                f"{report.head_hash or '-'}"
            )
        )
