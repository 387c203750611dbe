"""Working days in Rhineland-Palatinate: weekends and public holidays do not count."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from coordination.workdays import (
    add_working_days,
    due_before,
    holidays_in,
    is_working_day,
    working_days_between,
)

D = dt.date


def test_rhineland_palatinate_holidays_come_from_the_library() -> None:
    h2026 = holidays_in(2026)
    # Easter, Pentecost, Corpus Christi (Fronleichnam) and All Saints are RP holidays.
    for day in (D(2026, 4, 3), D(2026, 4, 6), D(2026, 5, 25), D(2026, 6, 4), D(2026, 11, 1)):
        assert day in h2026
    # Not in RP: Epiphany (BW, BY, ST), Reformation Day (northern and eastern states).
    assert D(2026, 1, 6) not in h2026
    assert D(2026, 10, 31) not in h2026


def test_weekends_and_holidays_are_not_working_days() -> None:
    assert is_working_day(D(2026, 4, 1))  # Wednesday
    assert not is_working_day(D(2026, 4, 4))  # Saturday
    assert not is_working_day(D(2026, 4, 3))  # Good Friday
    assert not is_working_day(D(2026, 6, 4))  # Corpus Christi, a Thursday


def test_five_working_days_across_easter_take_nine_calendar_days() -> None:
    # Wednesday before Easter: Thu, (Good Friday), (weekend), (Easter Monday), Tue..Fri.
    assert add_working_days(D(2026, 4, 1), 5) == D(2026, 4, 10)
    assert working_days_between(D(2026, 4, 1), D(2026, 4, 10)) == 5
    assert working_days_between(D(2026, 4, 1), D(2026, 4, 9)) == 4


def test_working_days_across_corpus_christi_and_pentecost() -> None:
    assert add_working_days(D(2026, 6, 3), 1) == D(2026, 6, 5)  # skips Fronleichnam
    assert add_working_days(D(2026, 5, 22), 1) == D(2026, 5, 26)  # skips Pfingstmontag
    # All Saints on a weekday (2027: Monday).
    assert add_working_days(D(2027, 10, 29), 1) == D(2027, 11, 2)


def test_working_days_across_the_turn_of_the_year() -> None:
    # 24 and 31 December are working days; 25/26 December and 1 January are not.
    assert working_days_between(D(2026, 12, 23), D(2027, 1, 4)) == 6
    assert add_working_days(D(2026, 12, 23), 6) == D(2027, 1, 4)


def test_zero_and_negative_steps() -> None:
    saturday = D(2026, 4, 4)
    assert add_working_days(saturday, 0) == saturday
    assert add_working_days(D(2026, 4, 10), -5) == D(2026, 4, 1)
    assert working_days_between(D(2026, 4, 10), D(2026, 4, 1)) == -5


def test_due_before_marks_the_first_day_not_yet_old_enough() -> None:
    # On Friday 10 April a referral of Wednesday 1 April is 5 working days old, one of
    # Thursday 2 April only 4.
    assert due_before(D(2026, 4, 10), 5) == D(2026, 4, 2)
    assert due_before(D(2026, 4, 10), 0) == D(2026, 4, 11)


days = st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31))


@given(start=days, n=st.integers(min_value=0, max_value=60))
def test_adding_and_counting_agree(start: dt.date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    if n:
        assert is_working_day(end)


@given(day=days, today=days, n=st.integers(min_value=0, max_value=30))
def test_due_before_is_the_same_rule_as_counting(day: dt.date, today: dt.date, n: int) -> None:
    assert (day < due_before(today, n)) == (working_days_between(day, today) >= n)


@given(a=days, b=days)
def test_counting_matches_walking_day_by_day(a: dt.date, b: dt.date) -> None:
    lo, hi = sorted((a, b))
    walked = sum(is_working_day(lo + dt.timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    assert working_days_between(lo, hi) == walked
