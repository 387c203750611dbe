"""Sweeps and sends racing each other on real PostgreSQL: every reminder goes out once.

Each thread has its own database connection (Django opens one per thread). Tasks run eagerly
(test settings), so a thread's sweep also sends what it queued, right after its commit.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections, transaction

from coordination.models import OfficeSettings, OutboxMessage
from coordination.outbox import outbox_send
from referrals.models import Referral, ReminderLog
from referrals.reminders import Cutoffs, referrals_due, referrals_sweep, reminders_claim_due
from tests.factories import ReferralFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_school_holidays"),
]

BERLIN = ZoneInfo("Europe/Berlin")
WAIT = 60  # seconds: an upper bound for a hung thread, never a timed assertion
Outcome = ReminderLog.Outcome


def in_threads(n: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``n`` threads released together; return results (or exceptions)."""
    barrier = threading.Barrier(n, timeout=WAIT)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work()
        except Exception as exc:  # reported by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


@pytest.fixture
def due_referrals(coordinator, institution):  # type: ignore[no-untyped-def]
    """Twelve referrals: six due for a first reminder, six for a second (on 17 April)."""
    made = []
    for day in (1, 1, 1, 1, 1, 1, 8, 8, 8, 8, 8, 8):
        when = dt.datetime(2026, 4, day, 10, tzinfo=BERLIN)
        with time_machine.travel(when, tick=False):
            made.append(ReferralFactory(coordinator=coordinator, institution=institution))
    return made


def test_parallel_sweeps_send_each_reminder_once(due_referrals, mailoutbox) -> None:
    mailoutbox.clear()  # the referral notifications of the set-up
    with time_machine.travel(dt.datetime(2026, 4, 17, 8, tzinfo=BERLIN), tick=False):
        results = in_threads(4, referrals_sweep)
    rows = list(ReminderLog.objects.values_list("referral_id", "level", "outcome"))
    sent = Counter((referral, level) for referral, level, outcome in rows if outcome == "sent")
    assert all(n == 1 for n in sent.values())
    assert Counter(level for _referral, level in sent) == {"r1": 6, "r2": 6}
    # r2 goes to the institution and the coordinator; r1 to the institution: 6*2 + 6 mails.
    assert len(mailoutbox) == 18
    assert sum(sum(r.queued.values()) for r in results) == 12
    # The six r2 referrals skipped their overdue r1 (written by exactly one sweep).
    assert Counter(outcome for _ref, _lvl, outcome in rows) == {"sent": 12, "skipped": 6}


def test_parallel_sweeps_in_small_batches_write_each_reminder_and_mail_once(
    due_referrals, mailoutbox, monkeypatch
) -> None:
    """Four sweeps at once, each in batches of three: the batches skip each other's locked
    referrals, and every reminder gets its row and one outbox row per recipient, once."""
    from referrals import reminders

    monkeypatch.setattr(reminders, "BATCH_SIZE", 3)
    OutboxMessage.objects.all().delete()
    with (
        time_machine.travel(dt.datetime(2026, 4, 17, 8, tzinfo=BERLIN), tick=False),
        mock.patch("coordination.outbox.hand_over"),
    ):
        results = in_threads(4, reminders_claim_due)
    assert sum(sum(result.queued.values()) for result, _ids in results) == 12
    queued = ReminderLog.objects.filter(outcome=Outcome.QUEUED)
    assert Counter(queued.values_list("level", flat=True)) == {"r1": 6, "r2": 6}
    mails = Counter(
        OutboxMessage.objects.filter(kind__startswith="reminder.").values_list(
            "object_id", flat=True
        )
    )
    assert mails == {str(r.pk): 2 if r.level == "r2" else 1 for r in queued}


def test_parallel_sends_of_one_outbox_row_send_it_once(due_referrals, mailoutbox) -> None:
    mailoutbox.clear()
    with (
        time_machine.travel(dt.datetime(2026, 4, 10, 8, tzinfo=BERLIN), tick=False),
        mock.patch("coordination.outbox.hand_over"),  # the threads below are the workers
    ):
        reminders_claim_due()
    message = OutboxMessage.objects.filter(kind="reminder.r1").first()
    assert message is not None
    results = in_threads(4, lambda: outbox_send(message_id=message.pk))
    # One sends; the others skip the locked row ("busy") or find it sent or sending.
    assert results.count("sent") == 1
    assert set(results) <= {"sent", "busy", "sending"}
    assert len([m for m in mailoutbox if m.extra_headers["Message-ID"] == message.message_id]) == 1


def test_the_due_query_reads_only_open_referrals_through_an_index(due_referrals) -> None:
    """Thousands of closed referrals: the plan for what is due never scans the table."""
    case, institution = due_referrals[0].case, due_referrals[0].institution
    start = dt.datetime(2024, 1, 1, tzinfo=BERLIN)
    Referral.objects.bulk_create(
        Referral(
            case=case,
            institution=institution,
            group=case.wanted_group,
            state=("enrolled", "declined", "expired", "withdrawn")[i % 4],
            created_at=start + dt.timedelta(hours=3 * i),
            start_date=(start + dt.timedelta(hours=3 * i)).date(),
        )
        for i in range(5000)
    )
    now = dt.datetime(2026, 4, 17, 8, tzinfo=BERLIN)
    query = referrals_due(Cutoffs.at(now, OfficeSettings.current())).select_for_update(
        skip_locked=True
    )[:200]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE referrals_referral")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "LockRows" in plan
    assert "Seq Scan on referrals_referral" not in plan, plan
    # Each level is an index-only range scan of the sweep's partial indexes; the reminder
    # log is not probed at all (a NOT EXISTS per level read the whole log when little was due).
    assert "Index Only Scan using ref_due_pending" in plan, plan
    assert "Index Only Scan using ref_due_accepted" in plan, plan
    assert "referrals_reminderlog" not in plan, plan


def test_the_due_query_stays_index_only_with_school_kita_and_own_calendars(
    due_referrals, district
) -> None:
    """School holidays, Kitas and a Kita with closing days of its own: more arms (one set per
    calendar scope), each still an index-only range scan; nothing due reads nothing."""
    from referrals.models import ClosingPeriod
    from referrals.reminders import SweepCutoffs
    from tests.factories import InstitutionFactory

    case, institution = due_referrals[0].case, due_referrals[0].institution
    kitas = [InstitutionFactory(kita=True, district=district) for _ in range(3)]
    ClosingPeriod.objects.create(
        name="Osterferien 2026", start=dt.date(2026, 3, 30), end=dt.date(2026, 4, 10)
    )
    ClosingPeriod.objects.create(
        name="Schließtage", start=dt.date(2026, 4, 13), end=dt.date(2026, 4, 14),
        applies_to="institution", institution=kitas[0],
    )  # fmt: skip
    start = dt.datetime(2024, 1, 1, tzinfo=BERLIN)
    Referral.objects.bulk_create(
        Referral(
            case=case,
            institution=(institution, *kitas)[i % 4],
            group=case.wanted_group,
            state=("enrolled", "declined", "expired", "withdrawn")[i % 4],
            created_at=start + dt.timedelta(hours=3 * i),
            start_date=(start + dt.timedelta(hours=3 * i)).date(),
        )
        for i in range(5000)
    )
    now = dt.datetime(2026, 4, 17, 8, tzinfo=BERLIN)
    cutoffs = SweepCutoffs.at(now, OfficeSettings.current())
    assert len(cutoffs.scopes) == 3  # schools, Kitas, the Kita with its own closing days
    assert "institution_id" in str(referrals_due(cutoffs).query)
    query = referrals_due(cutoffs).select_for_update(skip_locked=True)[:200]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE referrals_referral")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on referrals_referral" not in plan, plan
    assert "Index Only Scan using ref_due_pending" in plan, plan
    assert "Index Only Scan using ref_due_accepted" in plan, plan
    # Kitas are named by their kind, in a subquery read once per arm into a hash (never a
    # join per referral, never a list of ids that grows with the number of Kitas).
    institution_scans = [line for line in plan.splitlines() if "on referrals_institution" in line]
    assert len(institution_scans) == plan.count("hashed SubPlan"), plan
    assert "Join" not in plan, plan
