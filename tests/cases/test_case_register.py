"""services.case_register: a new case belongs to the registering coordinator's team."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent, Guardian, State
from cases.selectors import cases_matching_identity, cases_search
from cases.services import case_register
from coordination.exceptions import NotAllowed
from coordination.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("english")

DATA = {
    "given_name": "Olena",
    "family_name": "Kovalenko",
    "birth_date": dt.date(2016, 5, 12),
    "target_type": "school",
    "wanted_group": "g03",
    "languages": ["Ukrainisch"],
    "school_years": 4,
}


def test_registers_in_intake_for_the_coordinators_team(coordinator) -> None:
    case = case_register(by=coordinator, data=DATA)
    assert case.state == State.INTAKE
    assert (case.team_id, case.coordinator_id) == (coordinator.team_id, coordinator.pk)
    assert case.birth_year == 2016
    year = timezone.localdate().year
    assert case.reference == f"NZ-{year}-00001"


def test_references_count_up_and_are_never_reused(coordinator) -> None:
    first = case_register(by=coordinator, data=DATA)
    Case.objects.filter(pk=first.pk).delete()
    second = case_register(by=coordinator, data=DATA)
    assert second.reference.endswith("-00002")


def test_waiting_since_is_the_arrival_in_the_city_or_today(coordinator) -> None:
    arrived = timezone.localdate() - dt.timedelta(days=20)
    assert (
        case_register(by=coordinator, data={**DATA, "arrival_city": arrived}).waiting_since
        == arrived
    )
    assert case_register(by=coordinator, data=DATA).waiting_since == timezone.localdate()


def test_family_contacts_history_and_audit_are_written(coordinator) -> None:
    case = case_register(
        by=coordinator,
        data=DATA,
        guardians=[
            {
                "name": "Iryna Kovalenko",
                "relation": "mother",
                "phone": "+49 170 1",
                "email": "",
                "preferred_language": "Ukrainisch",
                "is_contact_person": True,
            }
        ],
    )
    assert Guardian.objects.get(family=case.family).name == "Iryna Kovalenko"
    assert list(case.events.values_list("kind", flat=True)) == [CaseEvent.Kind.CREATED]
    entry = AuditEntry.objects.get(action="case.create")
    assert entry.case_reference == case.reference
    assert "given_name" in entry.fields and "birth_date" in entry.fields


def test_blind_indexes_make_the_new_case_findable(coordinator) -> None:
    case = case_register(by=coordinator, data=DATA)
    assert [h.case for h in cases_search(user=coordinator, query="olena KOVALENKO").hits] == [case]
    assert list(
        cases_matching_identity(
            given_name="Olena", family_name="Kowalenko", birth_date=DATA["birth_date"]
        )
    ) == [case]


def test_a_sibling_joins_the_existing_family(coordinator) -> None:
    first = case_register(by=coordinator, data=DATA)
    second = case_register(by=coordinator, data={**DATA, "given_name": "Maksym"}, sibling_of=first)
    assert second.family_id == first.family_id
    assert first.events.filter(kind=CaseEvent.Kind.SIBLING).exists()


def test_cannot_join_a_family_of_a_case_one_may_not_work(coordinator, other_coordinator) -> None:
    foreign = case_register(by=other_coordinator, data=DATA)
    with pytest.raises(NotAllowed):
        case_register(by=coordinator, data=DATA, sibling_of=foreign)


@pytest.mark.parametrize("role", ["institution_staff", "management", "administrator"])
def test_only_coordinators_register(db, team, role) -> None:
    with pytest.raises(NotAllowed):
        case_register(by=UserFactory(role=role, team=team), data=DATA)


def test_a_coordinator_without_team_cannot_register(db) -> None:
    with pytest.raises(NotAllowed):
        case_register(by=UserFactory(role="coordinator"), data=DATA)
