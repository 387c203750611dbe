"""services.case_assign: (re)assign one case or many, e.g. when a colleague leaves."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent
from cases.selectors import cases_visible_to
from cases.services import case_assign
from coordination.exceptions import DomainError, NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.usefixtures("english")


def test_bulk_reassignment_within_the_team(coordinator, colleague, district) -> None:
    cases = [CaseFactory(coordinator=coordinator, district=district) for _ in range(3)]
    assert case_assign(cases=cases, by=coordinator, coordinator=colleague) == 3
    assert set(Case.objects.values_list("coordinator", flat=True)) == {colleague.pk}
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.ASSIGNED).count() == 3
    assert AuditEntry.objects.filter(action="case.assign").count() == 3


def test_assigning_to_the_current_coordinator_changes_nothing(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    assert case_assign(cases=[case], by=coordinator, coordinator=coordinator) == 0
    assert not case.events.filter(kind=CaseEvent.Kind.ASSIGNED).exists()


def test_assigning_to_another_team_moves_the_case(coordinator, other_coordinator, district):
    case = CaseFactory(coordinator=coordinator, district=district)
    case_assign(cases=[case], by=coordinator, coordinator=other_coordinator)
    assert Case.objects.get(pk=case.pk).team_id == other_coordinator.team_id
    assert not cases_visible_to(coordinator).filter(pk=case.pk).exists()
    assert cases_visible_to(other_coordinator).filter(pk=case.pk).exists()


def test_only_to_a_coordinator_with_a_team(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    for target in (
        UserFactory(role="institution_staff", team=coordinator.team),
        UserFactory(role="coordinator"),
    ):
        with pytest.raises(DomainError, match="coordinator with a team"):
            case_assign(cases=[case], by=coordinator, coordinator=target)


def test_nobody_assigns_a_case_they_may_not_work(coordinator, other_coordinator, district):
    case = CaseFactory(coordinator=coordinator, district=district)
    with pytest.raises(NotAllowed):
        case_assign(cases=[case], by=other_coordinator, coordinator=other_coordinator)
    assert Case.objects.get(pk=case.pk).coordinator_id == coordinator.pk


def test_a_bulk_assignment_is_all_or_nothing(
    coordinator, other_coordinator, colleague, district
) -> None:
    mine = CaseFactory(coordinator=coordinator, district=district)
    foreign = CaseFactory(coordinator=other_coordinator, district=district)
    with pytest.raises(NotAllowed):
        case_assign(cases=[mine, foreign], by=coordinator, coordinator=colleague)
    assert Case.objects.get(pk=mine.pk).coordinator_id == coordinator.pk
