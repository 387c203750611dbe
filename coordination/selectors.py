"""Read-side queries of the coordination app (the querysets that decide what is shown)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Upper
from django.utils import timezone

from coordination.models import AuditEntry
from coordination.replica import read_replica

# The audit search counts its matches up to this many, then says "more than" (a count(*)
# over tens of millions of entries would take seconds; docs/performance.md, "Audit log").
AUDIT_COUNT_LIMIT = 10_000
AUDIT_PAGE_SIZE = 50


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_entries_matching(data: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The entries matching a cleaned search form, newest first (every filter is indexed).

    Newest first means by time, then id (entries get their time under the chain's lock, so
    this is the order they were written in): ``at`` is indexed on its own and behind the user
    name, so a period is read from its end instead of walking back from the newest entry.
    From the read replica when there is one: an administrator searches past entries, and one
    written a second ago may be missing from a search (coordination/replica.py).
    """
    qs = AuditEntry.objects.using(read_replica()).all()
    if data.get("user"):
        # = actor_name__iexact, served by the index audit_actor_name_upper_at
        qs = qs.alias(actor_upper=Upper("actor_name")).filter(
            actor_upper=Upper(Value(data["user"].strip()))
        )
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
    return qs.order_by("-at", "-id")


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit search: ``entries`` newest first; ``older`` / ``newer`` the
    entry ids the links to the neighbouring pages start from (None: no such page)."""

    entries: list[AuditEntry]
    count: int
    more: bool  # more than ``count`` entries match (the count stops at AUDIT_COUNT_LIMIT)
    older: int | None
    newer: int | None

    @property
    def count_label(self) -> str:
        return f"> {self.count}" if self.more else str(self.count)


def _cursor(entry_id: int | None) -> tuple[dt.datetime, int] | None:
    if entry_id is None:
        return None
    at = AuditEntry.objects.filter(id=entry_id).values_list("at", flat=True).first()
    return (at, entry_id) if at is not None else None


def audit_search_page(
    data: dict[str, Any], *, before: int | None = None, after: int | None = None
) -> AuditPage:
    """A page of ``audit_entries_matching`` by keyset: the entries older than entry
    ``before``, or newer than entry ``after`` (else the newest). No OFFSET, and the count is
    bounded, so a page costs the same on page 1 and page 10,000 of a log of any length."""
    matching = audit_entries_matching(data)
    size = AUDIT_PAGE_SIZE
    newer_cursor = _cursor(after) if before is None else None
    older_cursor = _cursor(before)
    if newer_cursor is not None:
        at, entry_id = newer_cursor
        rows = list(
            matching.filter(Q(at__gt=at) | Q(at=at, id__gt=entry_id), at__gte=at)
            .select_related("actor")
            .order_by("at", "id")[: size + 1]
        )
        has_newer = len(rows) > size
        entries = rows[:size][::-1]
        has_older = True
    else:
        page = matching
        if older_cursor is not None:
            at, entry_id = older_cursor
            page = page.filter(Q(at__lt=at) | Q(at=at, id__lt=entry_id), at__lte=at)
        rows = list(page.select_related("actor")[: size + 1])
        has_older = len(rows) > size
        entries = rows[:size]
        has_newer = older_cursor is not None
    count = matching.order_by()[: AUDIT_COUNT_LIMIT + 1].count()
    return AuditPage(
        entries=entries,
        count=min(count, AUDIT_COUNT_LIMIT),
        more=count > AUDIT_COUNT_LIMIT,
        older=entries[-1].id if has_older and entries else None,
        newer=entries[0].id if has_newer and entries else None,
    )
