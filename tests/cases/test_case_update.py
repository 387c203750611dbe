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
    changed = case_update(case=case, by=coordinator, data=data, expected_version=case.version)
    assert changed == ["family_name", "notes"]
    case.refresh_from_db()
    assert (case.family_name, case.notes) == ("Hadad", "neu")
    event = case.events.get(kind=CaseEvent.Kind.EDITED)
    assert event.fields == ["family_name", "notes"]
    assert AuditEntry.objects.get(action="case.update").fields == ["family_name", "notes"]


def test_no_change_writes_nothing(case, coordinator) -> None:
    assert (
        case_update(case=case, by=coordinator, data={"family_name": "Haddad"}, expected_version=1)
        == []
    )
    assert not case.events.filter(kind=CaseEvent.Kind.EDITED).exists()


def test_blind_indexes_follow_the_new_values(case, coordinator) -> None:
    case_update(
        case=case,
        by=coordinator,
        data={"family_name": "Darwish", "birth_date": dt.date(2015, 1, 2)},
        expected_version=case.version,
    )
    assert [h.case for h in cases_search(user=coordinator, query="Darwish").hits] == [case]
    assert not cases_search(user=coordinator, query="Haddad").hits
    assert Case.objects.get(pk=case.pk).birth_year == 2015


def test_a_coordinator_of_another_team_may_not_edit(case, other_coordinator) -> None:
    with pytest.raises(NotAllowed):
        case_update(case=case, by=other_coordinator, data={"notes": "x"}, expected_version=1)


def test_an_erased_case_cannot_be_edited(case, coordinator) -> None:
    Case.objects.filter(pk=case.pk).update(erased_at=timezone.now())
    case.refresh_from_db()
    with pytest.raises(DomainError, match="erased"):
        case_update(case=case, by=coordinator, data={"notes": "x"}, expected_version=1)


def test_a_save_over_a_newer_version_is_refused(case, coordinator, colleague) -> None:
    shown = Case.objects.get(pk=case.pk)
    case_update(
        case=Case.objects.get(pk=case.pk), by=colleague, data={"notes": "Kollegin"},
        expected_version=shown.version,
    )  # fmt: skip
    with pytest.raises(ConcurrentChange, match="changed by someone else"):
        case_update(
            case=shown, by=coordinator, data={"notes": "meins"}, expected_version=shown.version
        )
    assert Case.objects.get(pk=case.pk).notes == "Kollegin"


def test_a_save_with_the_current_version_goes_through_and_raises_it(case, coordinator) -> None:
    shown = Case.objects.get(pk=case.pk)
    before = shown.version
    case_update(case=shown, by=coordinator, data={"notes": "ok"}, expected_version=before)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.notes, saved.version) == ("ok", before + 1)
    assert shown.version == saved.version  # the caller's object follows


@pytest.mark.parametrize("version", [None, "", "3", 1.0, True])
def test_a_missing_or_garbage_version_is_refused_not_skipped(case, coordinator, version) -> None:
    with pytest.raises(DomainError, match="no valid version"):
        case_update(case=case, by=coordinator, data={"notes": "x"}, expected_version=version)
    assert Case.objects.get(pk=case.pk).notes != "x"


def test_an_edit_writes_only_the_changed_columns(case, coordinator, monkeypatch) -> None:
    saved: list = []
    original = Case.save

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        saved.append(kwargs.get("update_fields"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Case, "save", spy)
    case_update(case=case, by=coordinator, data={"notes": "neu"}, expected_version=case.version)
    assert len(saved) == 1
    fields = set(saved[0])
    assert {"notes", "version", "updated_at"} <= fields
    assert not fields & {"state", "team", "coordinator", "given_name", "waiting_since"}


def test_an_edit_keeps_a_state_change_made_after_the_form_was_loaded(case, coordinator) -> None:
    """The edit object was read before the transition: saving it must not undo the state."""
    from cases.services import case_transition

    shown = Case.objects.get(pk=case.pk)  # the edit page was opened
    case_transition(case=Case.objects.get(pk=case.pk), by=coordinator,
                    transition="start_clarification")  # fmt: skip
    case_update(case=shown, by=coordinator, data={"notes": "neu"}, expected_version=shown.version)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.state, saved.notes) == ("clarification", "neu")


def test_a_new_district_is_saved_and_the_callers_object_follows(case, coordinator) -> None:
    from tests.factories import DistrictFactory

    other = DistrictFactory(name="Lützel")
    case_update(case=case, by=coordinator, data={"district": other}, expected_version=case.version)
    assert case.district_id == other.pk == Case.objects.get(pk=case.pk).district_id
