"""The core journey through the services: register, clarify, refer, accept, enrol."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cases.models import CaseEvent
from coordination.exceptions import NoFreePlace, TransitionRefused
from referrals.models import Places, ReferralState
from referrals.services import referral_accept, referral_create, referral_decline, referral_enrol
from tests.factories import CaseFactory, PlacesFactory, UserFactory


def test_refer_accept_enrol_places_the_case(coordinator, institution, school_user) -> None:
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    PlacesFactory(institution=institution, group=case.wanted_group, free=1)
    referral = referral_create(case=case, institution=institution, by=coordinator)
    case.refresh_from_db()
    assert case.state == "referred"
    referral = referral_accept(referral=referral, by=school_user)
    places = Places.objects.get(institution=institution, group=case.wanted_group)
    assert (places.free, places.reserved) == (0, 1)
    referral = referral_enrol(referral=referral, by=school_user, first_day=timezone.localdate())
    assert referral.state == ReferralState.ENROLLED
    case.refresh_from_db()
    assert case.state == "placed"
    assert case.placed_on == timezone.localdate()
    places.refresh_from_db()
    assert (places.free, places.reserved) == (0, 0)
    transitions = list(
        case.events.filter(kind=CaseEvent.Kind.TRANSITION).values_list("to_state", flat=True)
    )
    assert transitions == ["clarification", "ready", "referred", "placed"]


def test_decline_sends_the_case_back_to_ready_and_blocks_accepting(
    coordinator, institution, school_user
):
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    PlacesFactory(institution=institution, group=case.wanted_group, free=1)
    referral = referral_create(case=case, institution=institution, by=coordinator)
    referral = referral_decline(referral=referral, by=school_user, reason="catchment")
    case.refresh_from_db()
    assert case.state == "ready"
    with pytest.raises(TransitionRefused):
        referral_accept(referral=referral, by=school_user)


def test_staff_of_another_institution_cannot_accept(coordinator, institution, db) -> None:
    from tests.factories import InstitutionFactory

    other_staff = UserFactory(role="institution_staff", institutions=[InstitutionFactory()])
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    PlacesFactory(institution=institution, group=case.wanted_group, free=1)
    referral = referral_create(case=case, institution=institution, by=coordinator)
    with pytest.raises(TransitionRefused):
        referral_accept(referral=referral, by=other_staff)


def test_accept_without_a_free_place_is_refused(coordinator, institution, school_user) -> None:
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    PlacesFactory(institution=institution, group=case.wanted_group, free=0)
    referral = referral_create(
        case=case,
        institution=institution,
        by=coordinator,
        confirm_waitlist=True,
        message="Warteliste",
    )
    assert referral.waitlist
    with pytest.raises(NoFreePlace):
        referral_accept(referral=referral, by=school_user)
