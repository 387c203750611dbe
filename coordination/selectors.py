"""Read-side queries of the coordination app (the querysets that decide what is shown)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from coordination.models import AuditEntry
from coordination.replica import read_replica


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_entries_matching(data: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The entries matching a cleaned search form, newest first (every filter is indexed).

    From the read replica when there is one: an administrator searches past entries, and one
    written a second ago may be missing from a search (coordination/replica.py)."""
    qs = AuditEntry.objects.using(read_replica()).all()
    if data.get("user"):
        qs = qs.filter(actor_name__iexact=data["user"].strip())
    if data.get("case_reference"):
        qs = qs.filter(case_reference=data["case_reference"].strip().upper())
    if data.get("action"):
        qs = qs.filter(action__startswith=data["action"].strip())
    if data.get("ip"):
        qs = qs.filter(ip=data["ip"])
    if data.get("date_from"):
        qs = qs.filter(at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):
        qs = qs.filter(at__lt=_day_start(data["date_to"] + dt.timedelta(days=1)))
    return qs.order_by("-id")
