"""The reminder sweep with 1 % of referrals due, and with none due.

Runs on the working copy only (it writes reminder rows, history lines and sends mails).
"1 % due": ``ceil(1 % of all referrals)`` pending referrals are moved back to
``reminder_1_days + 1`` working days old and lose their reminder rows, so each is due for its
first reminder; the sweep writes the rows and - Celery runs eagerly in the bench settings -
sends the mails (to Django's in-memory mailbox) in the same call, so the figure is the
whole work, not only the queueing. "None due": the sweep again right after; nothing is left.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from django.core import mail
from django.db import connection
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
    return len(chosen)


def _summary(result: Any) -> Any:
    if hasattr(result, "as_dict"):
        return result.as_dict()
    return result


def run(*, share: float = 0.01, none_due_repeat: int = 5, explain: bool = True) -> dict[str, Any]:
    from referrals.models import Referral, ReminderLog

    sweep, name = find_sweep()
    if sweep is None:
        return {"skipped": "no sweep function (referrals.reminders / referrals.tasks) yet"}
    out: dict[str, Any] = {"function": name, "referrals": Referral.objects.count()}

    # Anything the data set has (or has aged into) is cleared first, untimed.
    first = sweep()
    out["cleared_before"] = _summary(first)

    made_due = make_due(share)
    rows_before = ReminderLog.objects.count()
    mail.outbox = []
    started = time.perf_counter()
    result = sweep()
    due_seconds = time.perf_counter() - started
    out["due"] = {
        "made_due": made_due,
        "seconds": round(due_seconds, 3),
        "reminder_rows_written": ReminderLog.objects.count() - rows_before,
        "mails_sent": len(mail.outbox),
        "ms_per_reminder": round(due_seconds * 1000 / made_due, 2) if made_due else None,
        "result": _summary(result),
    }
    mail.outbox = []

    runs = []
    for _ in range(none_due_repeat):
        started = time.perf_counter()
        result = sweep()
        runs.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as ctx:
        sweep()
    out["none_due"] = {
        "median_ms": round(statistics.median(runs) * 1000, 2),
        "runs_ms": [round(r * 1000, 2) for r in runs],
        "queries": len(ctx.captured_queries),
        "result": _summary(result),
    }
    if explain and connection.vendor == "postgresql":
        from benchmarks.pages import big_tables, explain_statements, record_statements

        recorded, wrapper = record_statements()
        with connection.execute_wrapper(wrapper):
            sweep()
        out["plans"] = explain_statements(recorded, big_tables())
        out["none_due"]["seq_scans"] = sorted({s for p in out["plans"] for s in p["seq_scans"]})
    return out
