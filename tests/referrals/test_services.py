"""The referral services' rules: states, places, the one-open-referral constraint."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import Group
from coordination.exceptions import DomainError, NoFreePlace, NotAllowed, TransitionRefused
from coordination.models import AuditEntry
from referrals.models import Places, Referral, ReferralState
from referrals.services import (
    WaitlistConfirmationNeeded,
    places_update,
    referral_accept,
    referral_create,
    referral_decline,
    referral_enrol,
    referral_withdraw,
)
from tests.factories import CaseFactory, InstitutionFactory, PlacesFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def test_declined_referral_cannot_be_accepted(coordinator, institution, school_user) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, declined=True
    )
    with pytest.raises(TransitionRefused):
        referral_accept(referral=referral, by=school_user)
    referral.refresh_from_db()
    assert referral.state == ReferralState.DECLINED
    places = Places.objects.get(institution=institution, group=referral.group)
    assert (places.free, places.reserved) == (2, 0)


def test_declined_referral_without_free_places_is_refused_as_not_possible(
    coordinator, institution, school_user
) -> None:
    # The state rule comes before the free-place check: never "no free place" here.
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    PlacesFactory(institution=institution, group=case.wanted_group, free=0)
    referral = referral_create(
        case=case, institution=institution, by=coordinator, confirm_waitlist=True, message="WL"
    )
    referral = referral_decline(referral=referral, by=school_user, reason="no_place")
    with pytest.raises(TransitionRefused):
        referral_accept(referral=referral, by=school_user)


def test_database_allows_only_one_open_referral_per_case(
    coordinator, institution, other_institution, referral
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(
            case=referral.case, institution=other_institution, group=referral.group
        )


def test_a_closed_referral_does_not_block_a_new_open_one(
    coordinator, institution, other_institution, school_user, referral
) -> None:
    referral_decline(referral=referral, by=school_user, reason="catchment")
    Referral.objects.create(case=referral.case, institution=other_institution, group=referral.group)
    assert referral.case.referrals.filter(state__in=["pending", "accepted"]).count() == 1


def test_referring_a_case_that_is_not_ready_is_refused(coordinator, institution) -> None:
    case = CaseFactory(coordinator=coordinator, clarification=True)
    PlacesFactory(institution=institution, group=case.wanted_group, free=1)
    with pytest.raises(TransitionRefused):
        referral_create(case=case, institution=institution, by=coordinator)


def test_coordinator_of_another_team_cannot_refer(
    coordinator, other_coordinator, institution, ready_case, free_places
) -> None:
    with pytest.raises(NotAllowed):
        referral_create(case=ready_case, institution=institution, by=other_coordinator)


def test_referring_a_school_child_to_a_kita_is_refused(coordinator, kita, ready_case) -> None:
    with pytest.raises(DomainError):
        referral_create(case=ready_case, institution=kita, by=coordinator)


def test_referral_without_free_place_needs_confirmation_and_comment(
    coordinator, institution, ready_case
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=0)
    with pytest.raises(WaitlistConfirmationNeeded):
        referral_create(case=ready_case, institution=institution, by=coordinator)
    with pytest.raises(WaitlistConfirmationNeeded):
        referral_create(
            case=ready_case, institution=institution, by=coordinator, confirm_waitlist=True
        )
    referral = referral_create(
        case=ready_case, institution=institution, by=coordinator, confirm_waitlist=True,
        message="Warteliste, Geschwister an der Schule",
    )  # fmt: skip
    assert referral.waitlist


def test_accept_with_start_date_before_the_referral_is_refused(
    coordinator, institution, school_user, referral
) -> None:
    with pytest.raises(DomainError):
        referral_accept(
            referral=referral, by=school_user,
            start_date=timezone.localdate(referral.created_at) - dt.timedelta(days=1),
        )  # fmt: skip


def test_accept_without_a_free_place_leaves_the_referral_pending(
    coordinator, institution, school_user, referral
) -> None:
    Places.objects.filter(institution=institution).update(free=0)
    with pytest.raises(NoFreePlace):
        referral_accept(referral=referral, by=school_user)
    referral.refresh_from_db()
    assert referral.state == ReferralState.PENDING


def test_enrol_in_the_future_or_before_the_referral_is_refused(
    coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, accepted=True
    )
    with pytest.raises(DomainError):
        referral_enrol(
            referral=referral, by=school_user,
            first_day=timezone.localdate() + dt.timedelta(days=1),
        )  # fmt: skip
    with pytest.raises(DomainError):
        referral_enrol(
            referral=referral, by=school_user,
            first_day=timezone.localdate(referral.created_at) - dt.timedelta(days=2),
        )  # fmt: skip
    referral.refresh_from_db()
    assert referral.state == ReferralState.ACCEPTED


def test_enrolled_referral_cannot_be_withdrawn(coordinator, institution, school_user) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, enrolled=True
    )
    with pytest.raises(TransitionRefused):
        referral_withdraw(referral=referral, by=coordinator, comment="zu spät")


def test_withdraw_needs_a_reason(coordinator, referral) -> None:
    with pytest.raises(DomainError):
        referral_withdraw(referral=referral, by=coordinator, comment="  ")


def test_decline_other_needs_a_comment(school_user, referral) -> None:
    with pytest.raises(DomainError):
        referral_decline(referral=referral, by=school_user, reason="other", comment="")
    with pytest.raises(DomainError):
        referral_decline(referral=referral, by=school_user, reason="made_up")


def test_decline_records_reason_comment_and_history(school_user, referral) -> None:
    referral_decline(referral=referral, by=school_user, reason="other", comment="Umbau")
    referral = Referral.objects.get(pk=referral.pk)
    assert (referral.decline_reason, referral.answer_comment) == ("other", "Umbau")
    assert referral.answered_by == school_user
    event = referral.case.events.filter(transition="declined").get()
    assert (event.actor, event.reason, event.comment) == (school_user, "other", "Umbau")
    assert AuditEntry.objects.filter(action="referral.declined", actor=school_user).exists()


def test_places_update_sets_figures_and_date(school_user, institution) -> None:
    places_update(institution=institution, by=school_user, counts={"g01": 3, "g02": None})
    places = Places.objects.get(institution=institution, group="g01")
    assert places.free == 3
    assert places.updated_by == school_user
    assert not Places.objects.filter(institution=institution, group="g02").exists()


def test_places_update_refuses_strangers_wrong_groups_and_negative_numbers(
    school_user, other_school_user, institution
) -> None:
    with pytest.raises(NotAllowed):
        places_update(institution=institution, by=other_school_user, counts={"g01": 1})
    with pytest.raises(DomainError):
        places_update(institution=institution, by=school_user, counts={"kita_u3": 1})
    with pytest.raises(DomainError):
        places_update(institution=institution, by=school_user, counts={"g01": -1})
    assert not Places.objects.filter(institution=institution).exists()


def test_staff_of_a_kita_cannot_answer_a_school_referral(kita_user, referral) -> None:
    with pytest.raises(TransitionRefused):
        referral_decline(referral=referral, by=kita_user, reason="no_place")


def test_inactive_institution_cannot_be_referred_to(coordinator, ready_case) -> None:
    closed = InstitutionFactory(is_active=False, district=ready_case.district)
    PlacesFactory(institution=closed, group=Group.GRADE_2, free=3)
    with pytest.raises(DomainError):
        referral_create(case=ready_case, institution=closed, by=coordinator)
