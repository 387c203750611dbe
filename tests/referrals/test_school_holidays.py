"""Reminders respect the Rhineland-Palatinate school holidays, with the real 2026/27 dates.

Weihnachtsferien 2026/27: Wednesday 23 December 2026 to Friday 8 January 2027 (both
included); Osterferien 2027: 22 March to 2 April. A Kita does not wait for school holidays;
it waits for its own closing days, if entered.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cases.models import Group, TargetType
from coordination.models import OfficeSettings
from coordination.workdays import working_days_between
from referrals.calendars import Calendars
from referrals.models import ClosingPeriod, InstitutionKind, ReferralState, ReminderLog
from referrals.reminders import referrals_sweep
from referrals.selectors import referral_deadline
from referrals.services import referral_accept
from tests.factories import CaseFactory, InstitutionFactory, ReferralFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rlp_school_holidays")]

BERLIN = ZoneInfo("Europe/Berlin")
D = dt.date
Level = ReminderLog.Level


def at(year: int, month: int, day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=BERLIN)


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    def _sweep(when: dt.datetime):  # type: ignore[no-untyped-def]
        with (
            time_machine.travel(when, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return referrals_sweep()

    return _sweep


def refer(coordinator, institution, when):  # type: ignore[no-untyped-def]
    with time_machine.travel(when, tick=False):
        case = None
        if institution.kind == InstitutionKind.KITA:
            case = CaseFactory(
                coordinator=coordinator, ready=True, district=institution.district,
                target_type=TargetType.KITA, wanted_group=Group.KITA_3,
                birth_date=D(2022, 5, 1),
            )  # fmt: skip
        return ReferralFactory(coordinator=coordinator, institution=institution, case=case)


def levels(referral) -> set[str]:  # type: ignore[no-untyped-def]
    return set(referral.reminders.values_list("level", flat=True))


@pytest.fixture
def before_christmas():  # type: ignore[no-untyped-def]
    """Friday 18 December 2026, the last Friday before the Weihnachtsferien."""
    return at(2026, 12, 18, 10)


def test_the_shipped_holidays_hold_the_real_2026_27_dates(rlp_school_holidays) -> None:
    periods = {p.name: (p.start, p.end) for p in ClosingPeriod.objects.filter(applies_to="schools")}
    assert periods["Herbstferien 2026"] == (D(2026, 10, 5), D(2026, 10, 16))
    assert periods["Weihnachtsferien 2026/27"] == (D(2026, 12, 23), D(2027, 1, 8))
    assert periods["Osterferien 2027"] == (D(2027, 3, 22), D(2027, 4, 2))
    assert periods["Sommerferien 2027"] == (D(2027, 6, 28), D(2027, 8, 6))
    # The current and the next school year are there (and the one before, for open cases).
    assert {name[-7:] for name in periods if name.startswith("Weihnachts")} >= {
        "2025/26",
        "2026/27",
        "2027/28",
    }


def test_a_school_referral_made_before_christmas_is_reminded_after_the_holidays(
    sweep, coordinator, institution, before_christmas, mailoutbox
) -> None:
    referral = refer(coordinator, institution, before_christmas)
    # Office days: 21, 22, 23, 24 and 28 December would make five working days.
    sweep(at(2026, 12, 28))
    sweep(at(2027, 1, 8))
    sweep(at(2027, 1, 12))  # 21, 22 December and 11, 12 January: four school working days
    assert levels(referral) == set()
    sweep(at(2027, 1, 13))
    assert levels(referral) == {Level.REMINDER_1}
    assert mailoutbox[-1].to == [institution.email]


def test_a_kita_referral_does_not_wait_for_the_school_holidays(
    sweep, coordinator, district, before_christmas
) -> None:
    kita = InstitutionFactory(kita=True, district=district)
    referral = refer(coordinator, kita, before_christmas)
    sweep(at(2026, 12, 24))
    assert levels(referral) == set()
    sweep(at(2026, 12, 28))  # 21, 22, 23, 24, 28 December (25 and 26 are public holidays)
    assert levels(referral) == {Level.REMINDER_1}


def test_a_kitas_own_closing_days_hold_only_its_own_deadlines(
    sweep, coordinator, district, before_christmas
) -> None:
    closed = InstitutionFactory(kita=True, district=district)
    open_kita = InstitutionFactory(kita=True, district=district)
    ClosingPeriod.objects.create(
        name="Betriebsferien",
        start=D(2026, 12, 28),
        end=D(2026, 12, 31),
        applies_to=ClosingPeriod.AppliesTo.INSTITUTION,
        institution=closed,
    )
    waits = refer(coordinator, closed, before_christmas)
    goes = refer(coordinator, open_kita, before_christmas)
    sweep(at(2026, 12, 28))
    assert levels(waits) == set()
    assert levels(goes) == {Level.REMINDER_1}
    sweep(at(2027, 1, 4))  # 1 January is a public holiday; 4 January is the fifth day
    assert levels(waits) == {Level.REMINDER_1}


def test_the_deadline_shown_is_the_day_the_sweep_expires_the_referral(
    sweep, coordinator, institution, before_christmas, mailoutbox
) -> None:
    referral = refer(coordinator, institution, before_christmas)
    deadline = referral_deadline(referral)
    # 20 school working days: 21, 22 December, then 11 January to 3 February.
    assert deadline == D(2027, 2, 3)
    sweep(at(2027, 1, 13))
    body = mailoutbox[-1].body
    assert "03.02.2027" in body or "02/03/2027" in body  # the reminder tells the same day
    sweep(at(2027, 2, 2, 23))
    referral.refresh_from_db()
    assert referral.state == ReferralState.PENDING
    sweep(at(2027, 2, 3, 0))
    referral.refresh_from_db()
    assert referral.state == ReferralState.EXPIRED


def test_a_kitas_deadline_ignores_the_school_holidays(
    coordinator, district, before_christmas
) -> None:
    kita = InstitutionFactory(kita=True, district=district)
    referral = refer(coordinator, kita, before_christmas)
    assert referral_deadline(referral) == D(2027, 1, 19)


def test_the_enrolment_reminder_waits_for_the_easter_holidays(
    sweep, coordinator, institution, school_user
) -> None:
    referral = refer(coordinator, institution, at(2027, 3, 1, 10))
    with time_machine.travel(at(2027, 3, 2), tick=False):
        referral_accept(referral=referral, by=school_user, start_date=D(2027, 3, 19))
    # Osterferien 22 March to 2 April (Easter Monday, 29 March, inside): 5, 6, 7 April.
    sweep(at(2027, 4, 6))
    assert Level.ENROL_REMINDER not in levels(referral)
    sweep(at(2027, 4, 7))
    assert Level.ENROL_REMINDER in levels(referral)


def test_a_referral_made_in_the_autumn_holidays_counts_from_their_end(
    coordinator, institution
) -> None:
    referral = refer(coordinator, institution, at(2026, 10, 7, 10))  # Herbstferien 2026
    calendar = Calendars.load(D(2026, 10, 7)).school
    assert working_days_between(D(2026, 10, 7), D(2026, 10, 16), calendar) == 0
    assert referral_deadline(referral, expiry_days=1) == D(2026, 10, 19)


def test_an_administrator_can_add_next_years_holidays(coordinator, institution) -> None:
    """A period entered later moves the deadlines of open referrals at once."""
    referral = refer(coordinator, institution, at(2028, 12, 15, 10))
    before = referral_deadline(referral)
    ClosingPeriod.objects.create(
        name="Weihnachtsferien 2028/29", start=D(2028, 12, 21), end=D(2029, 1, 5)
    )
    assert referral_deadline(referral) > before  # type: ignore[operator]
    assert OfficeSettings.current().expiry_days == 20


def test_outside_the_holidays_the_sweep_needs_no_list_of_institutions(
    rlp_school_holidays, institution
) -> None:
    """Schools and Kitas share one scope while no holiday falls into the look-back window:
    the due query then names no institution (a list of 1,800 Kitas made it 20x slower)."""
    from referrals.reminders import SweepCutoffs

    InstitutionFactory(kind=InstitutionKind.KITA)
    office = OfficeSettings.current()
    quiet = dt.datetime(2026, 12, 3, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    cutoffs = SweepCutoffs.at(quiet, office)
    assert len(cutoffs.scopes) == 1
    assert cutoffs.scopes[0].only is None and not cutoffs.scopes[0].excluded
    # In the Christmas holidays schools and Kitas count differently: two scopes again.
    holidays = dt.datetime(2027, 1, 5, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert len(SweepCutoffs.at(holidays, office).scopes) == 2


def test_in_the_holidays_the_due_query_names_kitas_by_their_kind_not_by_a_list(
    rlp_school_holidays, district
) -> None:
    """In the Christmas holidays schools and Kitas count differently (two scopes), yet the
    due statement is the same whatever the number of Kitas: they are a subquery on the kind,
    never a literal list of ids (which made the sweep with none due grow with the state)."""
    from referrals.reminders import SweepCutoffs, referrals_due

    office = OfficeSettings.current()
    holidays = at(2027, 1, 5, 9)

    def statement() -> tuple[str, int]:
        sql, params = referrals_due(SweepCutoffs.at(holidays, office)).query.sql_with_params()
        return sql, len(params)

    InstitutionFactory(kind=InstitutionKind.KITA, district=district)
    few = statement()
    for _ in range(5):
        InstitutionFactory(kind=InstitutionKind.KITA, district=district)
    assert statement() == few
    assert len(SweepCutoffs.at(holidays, office).scopes) == 2


def test_in_the_holidays_one_sweep_records_the_kita_and_holds_the_school(
    sweep, coordinator, institution, district, before_christmas, mailoutbox
) -> None:
    """Both in one batch of the two-scope path: each referral is planned by its own
    institution's calendar (the kind read with the batch, no query per referral)."""
    kita = InstitutionFactory(kita=True, district=district)
    at_kita = refer(coordinator, kita, before_christmas)
    at_school = refer(coordinator, institution, before_christmas)
    mailoutbox.clear()
    result = sweep(at(2026, 12, 28))
    assert levels(at_kita) == {Level.REMINDER_1}
    assert levels(at_school) == set()
    assert result.queued == {Level.REMINDER_1: 1}
    assert [m.to for m in mailoutbox] == [[kita.email]]
