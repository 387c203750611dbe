"""The reminder sweep with 1 % of referrals due, and with none due (with and without a
school holiday in the window the levels look back on).

Runs on the working copy only (it writes reminder rows, history lines and sends mails).
"1 % due": ``ceil(1 % of all referrals)`` pending referrals are moved back to
``reminder_1_days + 1`` working days old and lose their reminder rows, so each is due for its
first reminder. Two figures, each per reminder:

- "recording": the sweep itself (reminder rows and their outbox rows, one transaction per
  batch), with the hand-over to the worker held back (Celery runs eagerly in the bench
  settings: it would otherwise send each mail inside the sweep's call);
- "sending": the worker's part, each outbox row the sweep wrote sent by ``outbox_send`` (as
  ``send_outbox_message`` does), to Django's in-memory mailbox.

"None due": the sweep again right after; nothing is left. "None due, school holidays": the
same inside a transaction (rolled back) that adds school holidays over the last two weeks, so
schools and Kitas count different working days and the due query takes the path with two
calendar scopes (which once named every Kita in a literal list).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from unittest import mock

from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone


def find_sweep() -> tuple[Callable[[], Any] | None, str]:
    try:
        from referrals.reminders import referrals_sweep
    except ImportError:
        pass
    else:
        return referrals_sweep, "referrals.reminders.referrals_sweep"
    try:
        from referrals.tasks import sweep_referrals  # type: ignore[attr-defined]
    except ImportError:
        return None, ""
    return sweep_referrals, "referrals.tasks.sweep_referrals"


def _age_back(today: dt.date, working_days: int) -> dt.date:
    from benchmarks.generate import rp_holidays, working_days_between

    hols = rp_holidays(range(today.year - 1, today.year + 1))
    day = today
    while working_days_between(day, today, hols) < working_days:
        day -= dt.timedelta(days=1)
    return day


def make_due(share: float) -> int:
    """Make ``share`` of all referrals due for their first reminder; returns how many."""
    from coordination.models import OfficeSettings
    from referrals.models import Referral, ReminderLog

    total = Referral.objects.count()
    wanted = math.ceil(total * share)
    pending = list(
        Referral.objects.filter(state="pending").order_by("id").values_list("id", flat=True)
    )
    if not pending or wanted == 0:
        return 0
    step = max(1, len(pending) // wanted)
    chosen = pending[::step][:wanted]
    office = OfficeSettings.current()
    day = _age_back(timezone.localdate(), office.reminder_1_days + 1)
    created = timezone.make_aware(dt.datetime.combine(day, dt.time(10, 0)))
    ReminderLog.objects.filter(referral_id__in=chosen).delete()
    Referral.objects.filter(id__in=chosen).update(created_at=created, reminder_level="")
    # As if time had made them due: their rows long written and vacuumed (autovacuum), so the
    # due query reads its partial indexes as it does in production, not freshly updated rows.
    if connection.vendor == "postgresql" and connection.get_autocommit():
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE referrals_referral, referrals_reminderlog")
    return len(chosen)


def _summary(result: Any) -> Any:
    if hasattr(result, "as_dict"):
        return result.as_dict()
    return result


def _holidays_recently() -> Any:
    """A (rolled-back) school-holiday period over the last two weeks: see the module doc."""
    from referrals.models import ClosingPeriod

    today = timezone.localdate()
    return ClosingPeriod(
        name="bench: school holidays",
        start=today - dt.timedelta(days=14),
        end=today - dt.timedelta(days=1),
        applies_to=ClosingPeriod.AppliesTo.SCHOOLS,
    )


def _time_none_due(sweep: Callable[[], Any], repeat: int) -> dict[str, Any]:
    runs = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = sweep()
        runs.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as ctx:
        sweep()
    return {
        "median_ms": round(statistics.median(runs) * 1000, 2),
        "runs_ms": [round(r * 1000, 2) for r in runs],
        "queries": len(ctx.captured_queries),
        "result": _summary(result),
    }


def run(*, share: float = 0.01, none_due_repeat: int = 5, explain: bool = True) -> dict[str, Any]:
    from coordination import outbox
    from referrals.models import Referral, ReminderLog

    sweep, name = find_sweep()
    if sweep is None:
        return {"skipped": "no sweep function (referrals.reminders / referrals.tasks) yet"}
    out: dict[str, Any] = {"function": name, "referrals": Referral.objects.count()}

    # Anything the data set has (or has aged into) is cleared first, untimed.
    first = sweep()
    out["cleared_before"] = _summary(first)
    outbox.outbox_flush(send_now=True, force=True)

    made_due = make_due(share)
    rows_before = ReminderLog.objects.count()
    mail.outbox = []
    handed: list[int] = []
    with mock.patch.object(outbox, "hand_over", side_effect=lambda pk: handed.append(pk) or True):
        started = time.perf_counter()
        result = sweep()
        recording = time.perf_counter() - started
    started = time.perf_counter()
    outcomes: Counter[str] = Counter(outbox.outbox_send(message_id=pk) for pk in handed)
    sending = time.perf_counter() - started

    def per(seconds: float) -> float | None:
        return round(seconds * 1000 / made_due, 2) if made_due else None

    out["due"] = {
        "made_due": made_due,
        "seconds": round(recording + sending, 3),
        "recording_seconds": round(recording, 3),
        "sending_seconds": round(sending, 3),
        "reminder_rows_written": ReminderLog.objects.count() - rows_before,
        "outbox_rows_written": len(handed),
        "mails_sent": len(mail.outbox),
        "send_outcomes": dict(outcomes),
        "recording_ms_per_reminder": per(recording),
        "sending_ms_per_reminder": per(sending),
        "ms_per_reminder": per(recording + sending),
        "result": _summary(result),
    }
    mail.outbox = []

    out["none_due"] = _time_none_due(sweep, none_due_repeat)
    with transaction.atomic():
        _holidays_recently().save()
        out["none_due_holidays"] = _time_none_due(sweep, none_due_repeat)
        transaction.set_rollback(True)
    if explain and connection.vendor == "postgresql":
        from benchmarks.pages import big_tables, explain_statements, record_statements

        recorded, wrapper = record_statements()
        with connection.execute_wrapper(wrapper):
            sweep()
        plans = explain_statements(recorded, big_tables())
        with transaction.atomic():
            _holidays_recently().save()
            recorded, wrapper = record_statements()
            with connection.execute_wrapper(wrapper):
                sweep()
            holiday_plans = explain_statements(recorded, big_tables())
            transaction.set_rollback(True)
        out["plans"] = plans + holiday_plans
        out["none_due"]["seq_scans"] = sorted({s for p in plans for s in p["seq_scans"]})
        out["none_due_holidays"]["seq_scans"] = sorted(
            {s for p in holiday_plans for s in p["seq_scans"]}
        )
    return out
