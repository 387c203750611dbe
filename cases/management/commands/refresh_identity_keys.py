"""Give existing cases the identity keys of the current formulas (``cases/identity.py``).

Run after a migration that adds key columns, or after ``IDENTITY_VERSION`` was raised:
``manage.py refresh_identity_keys [--batch-size N] [--check]``.

- Resumable: only rows whose ``identity_version`` is older than ``IDENTITY_VERSION`` are
  touched, in primary-key order; every batch commits on its own, so an interrupted run
  continues where it stopped.
- Concurrency-safe: a batch is read under ``select_for_update``, so an edit of one of its
  cases waits for the batch (and then writes keys of its own values); ``updated_at`` is left
  alone, so an open edit form is not reported as a concurrent change.
- Reads only the identity columns of each case (and ``state``, which the FSM mixin reads on
  load); the folding and the HMACs dominate: docs/identity.md has the measured rate.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from cases.identity import IDENTITY_VERSION, KEY_COLUMNS
from cases.models import Case

LOADED = ("id", "state", "given_name", "family_name", "birth_date", "birth_year", "erased_at")


def stale_cases() -> Any:
    return Case.objects.filter(identity_version__lt=IDENTITY_VERSION)


def refresh_batch(*, after: int, size: int) -> tuple[int, int]:
    """Refresh the next ``size`` stale cases with a primary key above ``after``.

    Returns (how many were refreshed, the last primary key seen; 0 when none was left).
    """
    with transaction.atomic():
        batch = list(
            stale_cases()
            .filter(pk__gt=after)
            .order_by("pk")
            .select_for_update()
            # ``state`` too: the FSM mixin reads it on load (deferred: one query per row).
            .only(*LOADED)[:size]
        )
        for case in batch:
            if case.erased_at is None:
                case.refresh_blind_indexes()
            else:  # erased: its keys were emptied with its data and stay empty
                case.identity_version = IDENTITY_VERSION
        _write(batch)
    return len(batch), batch[-1].pk if batch else 0


WRITTEN = (*KEY_COLUMNS, "birth_year", "identity_version")


def _write(batch: list[Case]) -> None:
    """Store the batch's new keys. On PostgreSQL one ``UPDATE ... FROM (VALUES ...)`` per
    batch: ``bulk_update``'s CASE expressions grow with the batch (a batch of 5,000 took
    longer per case than one of 1,000); with this the rate no longer depends on the batch
    size (docs/identity.md has the measured rate)."""
    if not batch:
        return
    if connection.vendor != "postgresql":
        Case.objects.bulk_update(batch, list(WRITTEN), batch_size=200)
        return
    table = connection.ops.quote_name(Case._meta.db_table)
    columns = ["id", *WRITTEN]
    quoted = [connection.ops.quote_name(c) for c in columns]
    row = "(" + ", ".join(["%s::bigint", *["%s::varchar"] * len(KEY_COLUMNS),
                           "%s::smallint", "%s::smallint"]) + ")"  # fmt: skip
    params: list[Any] = []
    for case in batch:
        params += [case.pk, *(getattr(case, c) for c in WRITTEN)]
    assignments = ", ".join(f"{q} = v.{q}" for q in quoted[1:])
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(batch))}) "  # noqa: S608 - names are the model's own columns; values are parameters
        f"AS v({', '.join(quoted)}) WHERE {table}.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class Command(BaseCommand):
    help = (
        "Compute the identity keys (blind indexes) of cases made with older formulas, in "
        "batches, resumable. --check counts them and exits non-zero if any remain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="cases per transaction (default 1000)"
        )
        parser.add_argument(
            "--check", action="store_true", help="only count stale cases; exit 1 if any"
        )

    def handle(self, *args: Any, batch_size: int, check: bool, **options: Any) -> None:
        remaining = stale_cases().count()
        if check:
            self.stdout.write(
                f"{remaining} case(s) with keys older than version {IDENTITY_VERSION}"
            )
            if remaining:
                raise SystemExit(1)
            return
        size = max(1, batch_size)
        done, last, started = 0, 0, time.monotonic()
        while True:
            count, last_pk = refresh_batch(after=last, size=size)
            if not count:
                break
            done, last = done + count, last_pk
            rate = done / max(time.monotonic() - started, 1e-9)
            self.stdout.write(f"{done}/{remaining} cases refreshed ({rate:,.0f} per second)")
        self.stdout.write(
            self.style.SUCCESS(f"{done} case(s) now at key version {IDENTITY_VERSION}")
        )
