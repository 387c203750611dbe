"""services.case_assign: (re)assign one case or many, e.g. when a colleague leaves."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent
from cases.services import case_assign, case_share
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


def test_assigning_to_a_coordinator_of_another_team_is_refused(
    coordinator, other_coordinator, district
) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    with pytest.raises(DomainError, match="coordinator of your team"):
        case_assign(cases=[case], by=coordinator, coordinator=other_coordinator)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.team_id, saved.coordinator_id) == (coordinator.team_id, coordinator.pk)


def test_a_coordinator_the_case_was_shared_with_cannot_take_it_over(
    coordinator, other_coordinator, district
) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    with pytest.raises(NotAllowed, match="own team"):
        case_assign(cases=[case], by=other_coordinator, coordinator=other_coordinator)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.team_id, saved.coordinator_id) == (coordinator.team_id, coordinator.pk)


def test_an_inactive_coordinator_cannot_be_assigned(coordinator, colleague, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    type(colleague).objects.filter(pk=colleague.pk).update(is_active=False)
    colleague.refresh_from_db()
    with pytest.raises(DomainError, match="active coordinator"):
        case_assign(cases=[case], by=coordinator, coordinator=colleague)


def test_only_to_a_coordinator_with_a_team(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    for target in (
        UserFactory(role="institution_staff", team=coordinator.team),
        UserFactory(role="coordinator"),
    ):
        with pytest.raises(DomainError, match="coordinator of your team"):
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
    with pytest.raises(NotAllowed, match=f"{foreign.reference}. Nothing was assigned"):
        case_assign(cases=[mine, foreign], by=coordinator, coordinator=colleague)
    assert Case.objects.get(pk=mine.pk).coordinator_id == coordinator.pk
