"""The sweep records a batch of due reminders set-based: one insert for the batch's reminder
rows, one for their mails, all in the batch's transaction.

Dated like test_sweep.py: referrals made on Wednesday 1 April 2026 are due for r1 on Friday
10 April, those made on Wednesday 25 March for r2 on 10 April (their r1 is skipped).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from coordination import outbox
from coordination.models import OfficeSettings, OutboxMessage
from referrals import mails, reminders
from referrals.models import Referral, ReminderLog
from referrals.reminders import reminders_claim_due
from tests.factories import ReferralFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_school_holidays")]

BERLIN = ZoneInfo("Europe/Berlin")
Level = ReminderLog.Level
Outcome = ReminderLog.Outcome
SWEEP_AT = dt.datetime(2026, 4, 10, 8, tzinfo=BERLIN)


def refer(coordinator, institution, day: dt.date) -> Referral:  # type: ignore[no-untyped-def]
    when = dt.datetime.combine(day, dt.time(10), tzinfo=BERLIN)
    with time_machine.travel(when, tick=False):
        return ReferralFactory(coordinator=coordinator, institution=institution)


@pytest.fixture
def claim(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """One claim (the sweep's recording part), its on-commit hand-overs run; returns the
    result, the new reminder ids and the outbox ids handed to the worker."""

    def _claim() -> tuple[reminders.SweepResult, list[int], list[int]]:
        handed: list[int] = []
        with (
            time_machine.travel(SWEEP_AT, tick=False),
            mock.patch.object(
                outbox, "hand_over", side_effect=lambda pk: handed.append(pk) or True
            ),
            django_capture_on_commit_callbacks(execute=True),
        ):
            result, ids = reminders_claim_due()
        return result, ids, handed

    return _claim


def reminder_mails() -> Counter[tuple[str, str]]:
    """Outbox rows per (reminder id, kind)."""
    return Counter(
        OutboxMessage.objects.filter(object_type=mails.REMINDER_TYPE).values_list(
            "object_id", "kind"
        )
    )


@pytest.fixture
def batch(coordinator, institution) -> list[Referral]:  # type: ignore[no-untyped-def]
    """Seven referrals due: four for r1, three for r2 (to the institution and coordinator)."""
    return [refer(coordinator, institution, dt.date(2026, 4, 1)) for _ in range(4)] + [
        refer(coordinator, institution, dt.date(2026, 3, 25)) for _ in range(3)
    ]


def test_a_batch_gets_one_outbox_mail_per_recipient_of_each_reminder(batch, claim) -> None:
    OutboxMessage.objects.all().delete()  # the referral notifications of the set-up
    result, ids, handed = claim()
    assert result.queued == {Level.REMINDER_1: 4, Level.REMINDER_2: 3}
    assert result.superseded == {Level.REMINDER_1: 3}
    assert result.mails == 4 + 3 * 2
    sent = ReminderLog.objects.filter(outcome=Outcome.QUEUED)
    assert sorted(ids) == sorted(sent.values_list("pk", flat=True))
    # Every queued reminder has exactly one mail per recipient, and nothing else has one.
    expected = Counter()
    for reminder in sent:
        expected[(str(reminder.pk), f"reminder.{reminder.level}")] = (
            2 if reminder.level == Level.REMINDER_2 else 1
        )
        assert reminder.recipient == (
            "institution,coordinator" if reminder.level == Level.REMINDER_2 else "institution"
        )
    assert reminder_mails() == expected
    # All of them handed to the worker after the commit, each once.
    assert sorted(handed) == sorted(OutboxMessage.objects.values_list("pk", flat=True))
    assert {r.reminder_level for r in Referral.objects.all()} == {"r1", "r2"}


def test_the_batch_is_two_inserts_whatever_the_number_due(coordinator, institution, claim) -> None:
    def recording() -> tuple[int, int, int]:
        with CaptureQueriesContext(connection) as ctx:
            _result, ids, _handed = claim()
        statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
        mail_inserts = [q for q in statements if q.startswith('INSERT INTO "coordination_outbox')]
        return len(statements), len(mail_inserts), len(ids)

    OfficeSettings.current()  # cached: not part of what is measured
    refer(coordinator, institution, dt.date(2026, 4, 1))
    refer(coordinator, institution, dt.date(2026, 3, 25))
    one = recording()
    for _ in range(6):
        refer(coordinator, institution, dt.date(2026, 4, 1))
        refer(coordinator, institution, dt.date(2026, 3, 25))
    many = recording()
    assert one[2] == 2 and many[2] == 12
    assert one[1] == many[1] == 1  # one INSERT for all the batch's mails
    assert many[0] == one[0]  # the batch's queries do not grow with the number due


def test_several_batches_record_everything_once(batch, monkeypatch, claim) -> None:
    monkeypatch.setattr(reminders, "BATCH_SIZE", 3)
    OutboxMessage.objects.all().delete()
    result, ids, handed = claim()
    assert sum(result.queued.values()) == 7
    assert len(ids) == 7 and len(handed) == 10
    per_level = ReminderLog.objects.values("referral", "level").annotate(n=Count("pk"))
    assert ReminderLog.objects.count() == 7 + 3  # three r1 skipped for the r2 referrals
    assert {row["n"] for row in per_level} == {1}
    # A second sweep finds nothing left.
    again, again_ids, again_handed = claim()
    assert again.queued == {} and again_ids == [] and again_handed == []


def test_a_failure_in_a_batch_leaves_nothing_of_that_batch(batch, monkeypatch, claim) -> None:
    """The second batch fails while writing its mails: its reminder rows, levels and mails
    are rolled back with it (the first batch stays committed); the next sweep does the rest,
    each reminder once."""
    monkeypatch.setattr(reminders, "BATCH_SIZE", 4)
    OutboxMessage.objects.all().delete()
    real = outbox.mails_enqueue
    calls = []

    def failing(drafts):  # type: ignore[no-untyped-def]
        calls.append(len(drafts))
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(drafts)

    with (
        mock.patch.object(outbox, "mails_enqueue", side_effect=failing),
        pytest.raises(RuntimeError),
    ):
        claim()
    first = set(Referral.objects.exclude(reminder_level="").values_list("pk", flat=True))
    assert len(first) == 4  # the first batch only
    assert set(ReminderLog.objects.values_list("referral_id", flat=True)) == first
    logged = {str(pk) for pk in ReminderLog.objects.values_list("pk", flat=True)}
    assert {object_id for object_id, _kind in reminder_mails()} <= logged
    result, _ids, _handed = claim()
    assert sum(result.queued.values()) == 3
    queued = ReminderLog.objects.filter(outcome=Outcome.QUEUED)
    assert queued.count() == 7
    counts = reminder_mails()
    for reminder in queued:
        recipients = 2 if reminder.level == Level.REMINDER_2 else 1
        assert counts[(str(reminder.pk), f"reminder.{reminder.level}")] == recipients


def test_a_reminder_without_any_address_is_failed_in_the_batch_and_gets_no_mail(
    coordinator, institution, claim
) -> None:
    institution.email = ""
    institution.save()
    refer(coordinator, institution, dt.date(2026, 4, 1))
    reachable = refer(coordinator, institution, dt.date(2026, 3, 25))  # r2: coordinator too
    OutboxMessage.objects.all().delete()
    result, ids, handed = claim()
    assert result.no_address == 1 and len(ids) == 2 and len(handed) == 1
    failed = ReminderLog.objects.get(outcome=Outcome.FAILED)
    assert failed.level == Level.REMINDER_1 and failed.recipient == ""
    assert failed.referral.case.events.filter(kind="reminder", reason="failed").exists()
    r2 = ReminderLog.objects.get(referral=reachable, level=Level.REMINDER_2)
    assert r2.outcome == Outcome.QUEUED and r2.recipient == "coordinator"
    assert reminder_mails() == {(str(r2.pk), "reminder.r2"): 1}
