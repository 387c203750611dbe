"""Verify the audit log's keyed hash chain and report the first broken link, and the rate.

By default the walk starts at the latest checkpoint (the last successful verification,
recorded in the log itself as a keyed entry) and covers only what was written since;
``--full`` (and ``--expect-head``) walks from the first entry. Details and how often to run a
full walk: docs/audit-log.md, "Checkpoints"; the trust decision: ADR 0017.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from coordination.audit import record_checkpoint, verify_chain_report, verify_from_checkpoint
from coordination.audit_head import head_problem, parse_head


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain (HMAC with AUDIT_KEY). Exits non-zero and names the "
        "first entry that was altered, inserted or removed. Starts at the latest checkpoint "
        "(the last successful verification, a keyed entry in the log) unless --full; records "
        "a new checkpoint when the walk succeeds. With --expect-head ID:HASH (the head mailed "
        "to the data-protection officer) walks the whole log and also proves that this entry "
        "is still in the log unchanged, i.e. that the log was not cut off or rewritten since."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--full",
            action="store_true",
            help="walk from the first entry instead of the latest checkpoint (finds a change "
            "made before the checkpoint; the nightly head does this every night)",
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="do not record the successful walk as a checkpoint (e.g. with a read-only role)",
        )
        parser.add_argument(
            "--expect-head",
            metavar="ID:HASH",
            help="a head received earlier (nightly mail); fails unless it is still in the log "
            "(implies --full)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = None
        if options["expect_head"]:
            try:
                expected = parse_head(options["expect_head"])
            except ValueError as exc:
                raise CommandError(f"--expect-head: {exc}", returncode=2) from None
        if options["full"] or expected is not None:
            report = verify_chain_report(batch_size=options["batch_size"])
        else:
            report = verify_from_checkpoint(batch_size=options["batch_size"])
        since = report.since
        scope = (
            f"incremental, after checkpoint #{since.entry_id} of "
            f"{since.at:%Y-%m-%d %H:%M:%S%z} (entries up to #{since.through_id} were verified "
            "then; --full walks them again)"
            if since is not None
            else "full, from the first entry"
        )
        self.stdout.write(
            f"{report.checked} entries verified in {report.seconds:.2f} s "
            f"({report.rate:,.0f} entries/s); {scope}"
        )
        if report.broken is not None:
            entry = report.broken
            raise CommandError(
                f"audit log BROKEN at entry #{entry.id} ({entry.at:%Y-%m-%d %H:%M:%S%z}, "
                f"{entry.action}, {entry.actor_name or '-'}): {report.reason}. "
                f"{report.checked} entries before it are intact in this walk ({scope}).",
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
        if options["no_checkpoint"]:
            return
        try:
            recorded = record_checkpoint(report)
        except DatabaseError as exc:
            self.stdout.write(self.style.WARNING(f"checkpoint not recorded: {exc}".strip()))
            return
        if recorded is not None:
            self.stdout.write(f"checkpoint recorded: entry #{recorded.id}")
