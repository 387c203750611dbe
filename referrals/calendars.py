"""The working-day calendar of each institution: the one rule for every referral deadline.

A school's deadlines stand still during the Rhineland-Palatinate school holidays; a Kita's
during the closing days entered for all Kitas; any institution may have closing days of its
own (a Kita's summer closing, a school's movable days off). Weekends and public holidays
count for everybody (``coordination.workdays``). The dates are ``ClosingPeriod`` rows, kept by
an administrator (admin, or ``manage.py import_school_holidays``).

The reminder sweep, the deadlines on the referral page, in the inbox, on the case page and in
the e-mails all take their calendar from :class:`Calendars` and count with
:func:`answer_deadline` or ``coordination.workdays``, so what users are told is what the sweep
does.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from coordination.workdays import Calendar, add_working_days
from referrals.models import ClosingPeriod, InstitutionKind, Referral

# Periods that ended this long ago no longer move any open referral's deadline (an open
# referral expires after a few weeks; an accepted one is reminded a few weeks after its start).
KEEP_DAYS = 2 * 366


@dataclass
class Calendars:
    """All calendars, loaded with one query; ask per institution (id and kind)."""

    school: Calendar
    kita: Calendar
    # Institutions with closing days of their own: their calendar (shared ones included).
    own: dict[int, Calendar] = field(default_factory=dict)

    @classmethod
    def load(cls, today: dt.date | None = None) -> Calendars:
        today = today or timezone.localdate()
        rows = ClosingPeriod.objects.filter(end__gte=today - dt.timedelta(days=KEEP_DAYS))
        shared: dict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
        own: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
        kinds: dict[int, str] = {}
        for period in rows.select_related("institution").only(
            "start", "end", "applies_to", "institution__kind"
        ):
            if period.institution_id is not None and period.institution is not None:
                own[period.institution_id].append((period.start, period.end))
                kinds[period.institution_id] = period.institution.kind
            else:
                shared[period.applies_to].append((period.start, period.end))
        school = shared[ClosingPeriod.AppliesTo.SCHOOLS]
        kita = shared[ClosingPeriod.AppliesTo.KITAS]
        return cls(
            school=Calendar.of_periods(school),
            kita=Calendar.of_periods(kita),
            own={
                pk: Calendar.of_periods(
                    [*periods, *(kita if kinds[pk] == InstitutionKind.KITA else school)]
                )
                for pk, periods in own.items()
            },
        )

    def for_institution(self, institution_id: int, kind: str) -> Calendar:
        if institution_id in self.own:
            return self.own[institution_id]
        return self.kita if kind == InstitutionKind.KITA else self.school

    def for_referral(self, referral: Referral) -> Calendar:
        return self.for_institution(referral.institution_id, referral.institution.kind)


def answer_deadline(referral: Referral, *, expiry_days: int, calendar: Calendar) -> dt.date:
    """The day a referral expires without an answer: ``expiry_days`` working days of its
    institution's ``calendar`` after the day it was made (the sweep's own count: it expires
    in the first sweep of that day)."""
    return add_working_days(timezone.localdate(referral.created_at), expiry_days, calendar)


__all__ = ["Calendars", "answer_deadline"]
