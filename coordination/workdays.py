"""Working days of the office: Monday to Friday without Rhineland-Palatinate's public holidays.

The holidays come from the maintained ``holidays`` library (``country_holidays("DE",
subdiv="RP")``), never from a hand-written list. Each year's set is computed once per process.

Deadlines count whole working days after the day something happened: a referral made on
Monday 5 January 2026 is 5 working days old on Monday 12 January. ``add_working_days`` and
``working_days_between`` agree: ``working_days_between(d, add_working_days(d, n)) == n``.

A :class:`Calendar` adds closed days of its own: the school holidays (Schulferien) for
schools, a Kita's closing days. Every function takes one (``calendar=``); without it only
weekends and public holidays are closed (the office's own calendar). The calendars' dates are
data kept by the referrals app (``referrals.calendars``): this module knows no institution.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import holidays

COUNTRY = "DE"
SUBDIVISION = "RP"  # Rhineland-Palatinate

_ONE_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=64)
def holidays_in(year: int) -> frozenset[dt.date]:
    """Rhineland-Palatinate's public holidays of one year (cached per process)."""
    return frozenset(holidays.country_holidays(COUNTRY, subdiv=SUBDIVISION, years=year).keys())


@lru_cache(maxsize=64)
def _weekday_holidays(year: int) -> tuple[dt.date, ...]:
    """The public holidays of a year that fall on Monday to Friday, sorted."""
    return tuple(sorted(d for d in holidays_in(year) if d.weekday() < 5))


@dataclass(frozen=True)
class Calendar:
    """Closed days besides weekends and public holidays (school holidays, closing days).

    ``closed`` holds only Mondays to Fridays that are no public holiday, sorted: build one
    with :meth:`of`. Two calendars with the same closed days are equal (and hash alike).
    """

    closed: tuple[dt.date, ...] = ()

    @classmethod
    def of(cls, days: Iterable[dt.date]) -> Calendar:
        return cls(
            tuple(sorted({d for d in days if d.weekday() < 5 and d not in holidays_in(d.year)}))
        )

    @classmethod
    def of_periods(cls, periods: Iterable[tuple[dt.date, dt.date]]) -> Calendar:
        """From (first, last) day pairs, both included."""
        days: set[dt.date] = set()
        for first, last in periods:
            day = first
            while day <= last:
                days.add(day)
                day += _ONE_DAY
        return cls.of(days)

    def is_closed(self, day: dt.date) -> bool:
        index = bisect.bisect_left(self.closed, day)
        return index < len(self.closed) and self.closed[index] == day

    def closed_through(self, day: dt.date) -> int:
        """Closed days of this calendar up to and including ``day``."""
        return bisect.bisect_right(self.closed, day)


OFFICE = Calendar()  # weekends and public holidays only


def is_working_day(day: dt.date, calendar: Calendar = OFFICE) -> bool:
    return day.weekday() < 5 and day not in holidays_in(day.year) and not calendar.is_closed(day)


def _weekdays_through(day: dt.date) -> int:
    """Mondays to Fridays from 0001-01-01 (a Monday) up to and including ``day``."""
    ordinal = day.toordinal()
    return 5 * (ordinal // 7) + min(ordinal % 7, 5)


def _weekday_holidays_through(day: dt.date, first_year: int) -> int:
    """Weekday holidays from 1 January of ``first_year`` up to and including ``day``."""
    count = sum(len(_weekday_holidays(year)) for year in range(first_year, day.year))
    return count + bisect.bisect_right(_weekday_holidays(day.year), day)


def working_days_between(start: dt.date, end: dt.date, calendar: Calendar = OFFICE) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start, calendar)
    weekdays = _weekdays_through(end) - _weekdays_through(start)
    hols = _weekday_holidays_through(end, start.year) - _weekday_holidays_through(start, start.year)
    closed = calendar.closed_through(end) - calendar.closed_through(start)
    return weekdays - hols - closed


@lru_cache(maxsize=4096)
def add_working_days(day: dt.date, n: int, calendar: Calendar = OFFICE) -> dt.date:
    """The date ``n`` working days after ``day`` (before it for negative ``n``).

    ``add_working_days(d, 0)`` is ``d`` itself, even on a weekend or holiday. Cached (its
    arguments are values): the sweep asks it for the deadline of every reminder in a batch,
    and most of them share their day and calendar.
    """
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    left = abs(n)
    while left:
        day += step
        if is_working_day(day, calendar):
            left -= 1
    return day


def due_before(today: dt.date, n: int, calendar: Calendar = OFFICE) -> dt.date:
    """The first date that is *not* yet ``n`` working days old on ``today``.

    Everything that happened on a date before the returned one is at least ``n`` working days
    old: ``d < due_before(today, n)`` exactly when ``working_days_between(d, today) >= n``.
    The reminder sweep turns this into an indexed ``created_at < cut-off`` filter.
    """
    if n <= 0:
        return today + _ONE_DAY
    # The n-th working day counted back from today (today included when it is one).
    day, seen = today, 0
    while True:
        if is_working_day(day, calendar):
            seen += 1
            if seen == n:
                return day
        day -= _ONE_DAY


__all__ = [
    "OFFICE",
    "Calendar",
    "add_working_days",
    "due_before",
    "holidays_in",
    "is_working_day",
    "working_days_between",
]
