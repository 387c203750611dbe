"""services.case_link_sibling: two children into one family, family contacts merged."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent, Family, Guardian
from cases.services import case_link_sibling
from coordination.exceptions import NotAllowed
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")


def test_linking_merges_families_and_contacts(coordinator, district) -> None:
    first = CaseFactory(coordinator=coordinator, district=district)
    second = CaseFactory(coordinator=coordinator, district=district)
    Guardian.objects.create(family=first.family, relation="mother", name="Rasha")
    Guardian.objects.create(family=second.family, relation="father", name="Yousef")
    old_family = second.family_id
    case_link_sibling(case=first, by=coordinator, sibling=second)
    assert Case.objects.get(pk=second.pk).family_id == first.family_id
    assert sorted(Guardian.objects.filter(family=first.family).values_list("name", flat=True)) == [
        "Rasha",
        "Yousef",
    ]
    assert not Family.objects.filter(pk=old_family).exists()
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SIBLING).count() == 2


def test_linking_twice_changes_nothing(coordinator, district) -> None:
    first = CaseFactory(coordinator=coordinator, district=district)
    second = CaseFactory(coordinator=coordinator, district=district)
    case_link_sibling(case=first, by=coordinator, sibling=second)
    second.refresh_from_db()
    case_link_sibling(case=first, by=coordinator, sibling=second)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.SIBLING).count() == 2


def test_both_cases_must_be_workable(coordinator, other_coordinator, district) -> None:
    mine = CaseFactory(coordinator=coordinator, district=district)
    foreign = CaseFactory(coordinator=other_coordinator, district=district)
    with pytest.raises(NotAllowed):
        case_link_sibling(case=mine, by=coordinator, sibling=foreign)
    assert Case.objects.get(pk=foreign.pk).family_id != mine.family_id
