"""services.case_update: changes, history, audit, blind indexes, concurrency."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent
from cases.selectors import cases_search
from cases.services import case_update
from coordination.exceptions import ConcurrentChange, DomainError, NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district, family_name="Haddad")


def test_returns_and_logs_the_changed_fields(case, coordinator) -> None:
    data = {"family_name": "Hadad", "notes": "neu", "given_name": case.given_name}
    changed = case_update(case=case, by=coordinator, data=data)
    assert changed == ["family_name", "notes"]
    case.refresh_from_db()
    assert (case.family_name, case.notes) == ("Hadad", "neu")
    event = case.events.get(kind=CaseEvent.Kind.EDITED)
    assert event.fields == ["family_name", "notes"]
    assert AuditEntry.objects.get(action="case.update").fields == ["family_name", "notes"]


def test_no_change_writes_nothing(case, coordinator) -> None:
    assert case_update(case=case, by=coordinator, data={"family_name": "Haddad"}) == []
    assert not case.events.filter(kind=CaseEvent.Kind.EDITED).exists()


def test_blind_indexes_follow_the_new_values(case, coordinator) -> None:
    case_update(
        case=case,
        by=coordinator,
        data={"family_name": "Darwish", "birth_date": dt.date(2015, 1, 2)},
    )
    assert list(cases_search(user=coordinator, query="Darwish")) == [case]
    assert not cases_search(user=coordinator, query="Haddad").exists()
    assert Case.objects.get(pk=case.pk).birth_year == 2015


def test_a_coordinator_of_another_team_may_not_edit(case, other_coordinator) -> None:
    with pytest.raises(NotAllowed):
        case_update(case=case, by=other_coordinator, data={"notes": "x"})


def test_an_erased_case_cannot_be_edited(case, coordinator) -> None:
    Case.objects.filter(pk=case.pk).update(erased_at=timezone.now())
    case.refresh_from_db()
    with pytest.raises(DomainError, match="erased"):
        case_update(case=case, by=coordinator, data={"notes": "x"})


def test_a_save_over_a_newer_version_is_refused(case, coordinator, colleague) -> None:
    shown = Case.objects.get(pk=case.pk)
    version = shown.updated_at
    case_update(case=Case.objects.get(pk=case.pk), by=colleague, data={"notes": "Kollegin"})
    with pytest.raises(ConcurrentChange):
        case_update(
            case=shown, by=coordinator, data={"notes": "meins"}, expected_updated_at=version
        )
    assert Case.objects.get(pk=case.pk).notes == "Kollegin"


def test_a_save_with_the_current_version_goes_through(case, coordinator) -> None:
    shown = Case.objects.get(pk=case.pk)
    case_update(
        case=shown, by=coordinator, data={"notes": "ok"}, expected_updated_at=shown.updated_at
    )
    assert Case.objects.get(pk=case.pk).notes == "ok"
