"""Walk the whole audit log and report the first broken link of its keyed hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from coordination.audit import verify_chain_report
from coordination.audit_head import head_problem, parse_head


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain (HMAC with AUDIT_KEY). Exits non-zero and names the "
        "first entry that was altered, inserted or removed. With --expect-head ID:HASH (the "
        "head mailed to the data-protection officer) also proves that this entry is still in "
        "the log unchanged, i.e. that the log was not cut off or rewritten since."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--expect-head",
            metavar="ID:HASH",
            help="a head received earlier (nightly mail); fails unless it is still in the log",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = None
        if options["expect_head"]:
            try:
                expected = parse_head(options["expect_head"])
            except ValueError as exc:
                raise CommandError(f"--expect-head: {exc}", returncode=2) from None
        report = verify_chain_report(batch_size=options["batch_size"])
        if report.broken is not None:
            entry = report.broken
            raise CommandError(
                f"audit log BROKEN at entry #{entry.id} ({entry.at:%Y-%m-%d %H:%M:%S%z}, "
                f"{entry.action}, {entry.actor_name or '-'}): {report.reason}. "
                f"{report.checked} entries before it are intact.",
                returncode=1,
            )
        if expected is not None:
            problem = head_problem(expected)
            if problem:
                raise CommandError(
                    f"audit log does NOT match the expected head: {problem}.", returncode=1
                )
        if report.unkeyed:
            self.stdout.write(
                self.style.WARNING(
                    f"note: the oldest {report.unkeyed} entries were written before the chain "
                    "was keyed (plain SHA-256). They are protected from the first keyed entry "
                    "on; a change made to them before that cannot be excluded."
                )
            )
        matched = f"; matches the expected head #{expected[0]}" if expected else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"audit log OK: {report.checked} entries verified; head #{report.head_id} "
                f"{report.head_hash or '-'}{matched}"
            )
        )
