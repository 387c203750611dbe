"""services.case_driven_transition: the steps the referrals app drives (refer, place, ...)."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent, State
from cases.services import case_driven_transition
from coordination.exceptions import ConcurrentChange, TransitionRefused
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def ready(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district, ready=True)


def test_refer_then_place_sets_the_placement_date(ready, coordinator) -> None:
    case_driven_transition(case=ready, by=coordinator, transition="refer", comment="GS Nord")
    case_driven_transition(case=ready, by=None, transition="place")
    case = Case.objects.get(pk=ready.pk)
    assert case.state == State.PLACED
    assert case.placed_on is not None
    assert case.days_without_place() is None
    last = case.events.filter(kind=CaseEvent.Kind.TRANSITION).last()
    assert (last.transition, last.actor) == ("place", None)


def test_an_ended_referral_sends_the_case_back_to_ready(ready, coordinator) -> None:
    case_driven_transition(case=ready, by=coordinator, transition="refer")
    case_driven_transition(case=ready, by=coordinator, transition="referral_ended")
    assert Case.objects.get(pk=ready.pk).state == State.READY


def test_only_the_referral_steps_can_be_driven(ready, coordinator) -> None:
    with pytest.raises(TransitionRefused):
        case_driven_transition(case=ready, by=coordinator, transition="close")


def test_a_step_from_the_wrong_state_is_refused(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    with pytest.raises(TransitionRefused):
        case_driven_transition(case=case, by=coordinator, transition="place")


def test_a_stale_case_is_refused(ready, coordinator) -> None:
    stale = Case.objects.get(pk=ready.pk)
    case_driven_transition(case=ready, by=coordinator, transition="refer")
    with pytest.raises(ConcurrentChange):
        case_driven_transition(case=stale, by=coordinator, transition="refer")
