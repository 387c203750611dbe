"""services.case_share / case_unshare: a case shared with a coordinator of another team."""

from __future__ import annotations

import pytest

from cases.models import CaseEvent, may_work_case
from cases.selectors import case_shared_with, cases_visible_to
from cases.services import case_share, case_transition, case_unshare
from coordination.exceptions import DomainError, NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district)


def test_sharing_lets_the_colleague_see_and_work_the_case(case, coordinator, other_coordinator):
    assert not cases_visible_to(other_coordinator).filter(pk=case.pk).exists()
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    assert cases_visible_to(other_coordinator).filter(pk=case.pk).exists()
    assert may_work_case(case, other_coordinator)
    case_transition(case=case, by=other_coordinator, transition="start_clarification")
    assert list(case_shared_with(case=case)) == [other_coordinator]
    assert case.events.filter(kind=CaseEvent.Kind.SHARED).exists()
    assert AuditEntry.objects.filter(action="case.share").exists()


def test_unsharing_takes_it_back(case, coordinator, other_coordinator) -> None:
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    case_unshare(case=case, by=coordinator, with_user=other_coordinator)
    assert not cases_visible_to(other_coordinator).filter(pk=case.pk).exists()
    assert list(case_shared_with(case=case)) == []
    assert AuditEntry.objects.filter(action="case.unshare").exists()


def test_only_with_coordinators(case, coordinator) -> None:
    with pytest.raises(DomainError, match="only be shared with coordinators"):
        case_share(case=case, by=coordinator, with_user=UserFactory(role="institution_staff"))


def test_only_who_may_work_the_case_shares_it(case, other_coordinator) -> None:
    with pytest.raises(NotAllowed):
        case_share(case=case, by=other_coordinator, with_user=other_coordinator)
    with pytest.raises(NotAllowed):
        case_unshare(case=case, by=other_coordinator, with_user=other_coordinator)
