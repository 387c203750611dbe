"""services.guardian_save: add or change a family contact."""

from __future__ import annotations

import pytest

from cases.models import CaseEvent, Guardian
from cases.services import guardian_save
from coordination.exceptions import NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")

CONTACT = {
    "name": "Rasha Haddad",
    "relation": "mother",
    "phone": "+49 170 5",
    "email": "r@example.org",
    "preferred_language": "Arabisch",
}


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district)


def test_adds_and_changes_a_contact_with_history(case, coordinator) -> None:
    guardian = guardian_save(case=case, by=coordinator, data=CONTACT)
    guardian_save(case=case, by=coordinator, data={"phone": "+49 170 6"}, guardian=guardian)
    stored = Guardian.objects.get(pk=guardian.pk)
    assert (stored.name, stored.phone, stored.family_id) == (
        "Rasha Haddad",
        "+49 170 6",
        case.family_id,
    )
    assert case.events.filter(kind=CaseEvent.Kind.EDITED, fields=["guardians"]).count() == 2
    assert AuditEntry.objects.filter(action="case.update", fields=["guardians"]).count() == 2


def test_a_contact_of_another_family_cannot_be_changed(case, coordinator, district) -> None:
    other = CaseFactory(coordinator=coordinator, district=district)
    foreign = Guardian.objects.create(family=other.family, relation="father", name="X")
    with pytest.raises(NotAllowed):
        guardian_save(case=case, by=coordinator, data={"name": "Y"}, guardian=foreign)


def test_only_who_may_work_the_case(case, other_coordinator) -> None:
    with pytest.raises(NotAllowed):
        guardian_save(case=case, by=other_coordinator, data=CONTACT)
