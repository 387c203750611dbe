"""The migration that adds ``Referral.reminder_level`` fills it from the reminder log.

Run with rows in the tables: on PostgreSQL the backfill's UPDATEs leave deferred trigger
events behind, and any DDL on the table after them in the same migration fails (the benchmark
data set found that; empty test tables never would).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("referrals", "0002_reminder_queue_and_digest")]
AFTER = [("referrals", "0003_referral_reminder_level")]


def _migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_backfill_records_each_referrals_highest_level(ready_case, institution) -> None:
    old = _migrate(BEFORE)
    try:
        Referral = old.get_model("referrals", "Referral")
        ReminderLog = old.get_model("referrals", "ReminderLog")
        now = dt.datetime(2026, 4, 1, 10, tzinfo=dt.UTC)
        states = ["declined", "withdrawn", "expired", "pending"]  # one open per case
        made = [
            Referral.objects.create(
                case_id=ready_case.pk,
                institution_id=institution.pk,
                group="3",
                state=state,
                created_at=now,
                message="",
                answer_comment="",
            )
            for state in states
        ]
        for referral, levels in zip(
            made, [[], ["r1"], ["r1", "r2", "esc", "exp"], ["r2", "r1"]], strict=True
        ):
            for level in levels:
                ReminderLog.objects.create(referral_id=referral.pk, level=level, created_at=now)
        new = _migrate(AFTER)
        levels = dict(
            new.get_model("referrals", "Referral").objects.values_list("pk", "reminder_level")
        )
        assert [levels[r.pk] for r in made] == ["", "r1", "exp", "r2"]
    finally:
        _migrate(_latest())


def _latest():  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
