"""services.case_transfer: an explicit hand-over to another team, with a reason."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent
from cases.selectors import case_shared_with, cases_visible_to
from cases.services import case_share, case_transfer
from coordination.exceptions import DomainError, NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district)


def test_the_owning_team_transfers_with_a_reason(case, coordinator, other_coordinator) -> None:
    new_team = other_coordinator.team
    case_transfer(case=case, by=coordinator, team=new_team, reason="Familie zieht nach Lützel")
    saved = Case.objects.get(pk=case.pk)
    assert (saved.team_id, saved.coordinator_id) == (new_team.pk, None)
    assert cases_visible_to(other_coordinator).filter(pk=case.pk).exists()
    assert not cases_visible_to(coordinator).filter(pk=case.pk).exists()
    event = saved.events.get(kind=CaseEvent.Kind.TRANSFERRED)
    assert event.actor == coordinator
    assert coordinator.team.name in event.comment
    assert new_team.name in event.comment
    assert "Familie zieht nach Lützel" in event.comment
    entry = AuditEntry.objects.get(action="case.transfer")
    assert entry.detail["from_team"] == coordinator.team_id
    assert entry.detail["to_team"] == new_team.pk
    assert entry.case_reference == case.reference


def test_a_transfer_needs_a_reason(case, coordinator, other_coordinator) -> None:
    with pytest.raises(DomainError, match="reason"):
        case_transfer(case=case, by=coordinator, team=other_coordinator.team, reason="  ")
    assert Case.objects.get(pk=case.pk).team_id == coordinator.team_id


def test_a_transfer_to_the_own_team_is_refused(case, coordinator) -> None:
    with pytest.raises(DomainError, match="another team"):
        case_transfer(case=case, by=coordinator, team=coordinator.team, reason="x")


def test_a_coordinator_the_case_was_shared_with_cannot_transfer_it(
    case, coordinator, other_coordinator
) -> None:
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    with pytest.raises(NotAllowed):
        case_transfer(case=case, by=other_coordinator, team=other_coordinator.team, reason="x")
    assert Case.objects.get(pk=case.pk).team_id == coordinator.team_id


def test_a_transfer_ends_every_sharing(case, coordinator, other_coordinator) -> None:
    third = UserFactory(role="coordinator", username="third")
    case_share(case=case, by=coordinator, with_user=third)
    case_transfer(case=case, by=coordinator, team=other_coordinator.team, reason="Umzug")
    assert list(case_shared_with(case=case)) == []
    assert not cases_visible_to(third).filter(pk=case.pk).exists()
    assert AuditEntry.objects.get(action="case.transfer").detail["sharing_ended"] == ["third"]


def test_only_the_owning_team_shares(case, coordinator, other_coordinator) -> None:
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    with pytest.raises(NotAllowed):
        case_share(case=case, by=other_coordinator, with_user=UserFactory(role="coordinator"))
