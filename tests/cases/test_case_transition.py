"""services.case_transition: guarded transitions, history, refusals that are logged."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent, State
from cases.services import case_transition, case_update
from coordination.exceptions import ConcurrentChange, DomainError, TransitionRefused
from coordination.models import AuditEntry
from tests.factories import CaseFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district)


def test_the_happy_path_writes_one_event_per_step(case, coordinator) -> None:
    case_transition(case=case, by=coordinator, transition="start_clarification")
    case_transition(case=case, by=coordinator, transition="mark_ready", comment="alles da")
    case.refresh_from_db()
    assert case.state == State.READY
    event = case.events.filter(kind=CaseEvent.Kind.TRANSITION).last()
    assert (event.from_state, event.to_state, event.actor, event.comment) == (
        "clarification",
        "ready",
        coordinator,
        "alles da",
    )
    assert AuditEntry.objects.filter(action="case.transition").count() == 2


@pytest.mark.parametrize("missing", ["district", "wanted_group", "birth_date", "target_type"])
def test_no_ready_without_placement_data(coordinator, district, missing) -> None:
    case = CaseFactory(coordinator=coordinator, district=district, clarification=True)
    if missing == "birth_date":
        case_update(
            case=case, by=coordinator, data={"birth_date": None}, expected_version=case.version
        )
    else:
        Case.objects.filter(pk=case.pk).update(**{missing: None if missing == "district" else ""})
    case = Case.objects.get(pk=case.pk)
    with pytest.raises(TransitionRefused, match="target, birth date, district"):
        case_transition(case=case, by=coordinator, transition="mark_ready")
    assert Case.objects.get(pk=case.pk).state == State.CLARIFICATION


def test_close_needs_a_coded_reason(case, coordinator) -> None:
    with pytest.raises(DomainError, match="reason"):
        case_transition(case=case, by=coordinator, transition="close", comment="weg")
    with pytest.raises(DomainError, match="reason"):
        case_transition(case=case, by=coordinator, transition="close", reason="vanished")
    case_transition(case=case, by=coordinator, transition="close", reason="moved_away")
    case.refresh_from_db()
    assert (case.state, case.close_reason) == (State.CLOSED, "moved_away")
    assert case.events.last().reason == "moved_away"


def test_no_close_while_a_referral_is_open(coordinator, institution) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    with pytest.raises(TransitionRefused, match="Withdraw the open referral"):
        case_transition(case=referral.case, by=coordinator, transition="close", reason="moved_away")


@pytest.mark.parametrize("transition", ["hold", "back_to_clarification", "reopen"])
def test_some_steps_need_a_reason(coordinator, district, transition) -> None:
    state = {
        "hold": {"clarification": True},
        "back_to_clarification": {"ready": True},
        "reopen": {"closed": True},
    }[transition]
    case = CaseFactory(coordinator=coordinator, district=district, **state)
    with pytest.raises(DomainError, match="reason"):
        case_transition(case=case, by=coordinator, transition=transition)


def test_hold_and_resume_return_to_the_previous_state(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district, ready=True)
    case_transition(case=case, by=coordinator, transition="hold", comment="Reise")
    assert case.state == State.ON_HOLD
    case_transition(case=case, by=coordinator, transition="resume")
    assert Case.objects.get(pk=case.pk).state == State.READY


def test_reopen_goes_back_to_clarification(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district, closed=True)
    case_transition(case=case, by=coordinator, transition="reopen", comment="zurück")
    case.refresh_from_db()
    assert (case.state, case.close_reason, case.closed_on) == (State.CLARIFICATION, "", None)


def test_a_forged_transition_name_is_refused_and_logged(case, coordinator) -> None:
    with pytest.raises(TransitionRefused):
        case_transition(case=case, by=coordinator, transition="place")  # referral-driven only
    with pytest.raises(TransitionRefused):
        case_transition(case=case, by=coordinator, transition="delete")
    refused = AuditEntry.objects.filter(action="case.transition_refused").order_by("id")
    assert [e.detail["transition"] for e in refused] == ["place", "delete"]
    assert Case.objects.get(pk=case.pk).state == State.INTAKE


def test_a_transition_not_allowed_in_this_state_is_refused_and_logged(case, coordinator):
    with pytest.raises(TransitionRefused):
        case_transition(case=case, by=coordinator, transition="mark_ready")  # from intake
    assert AuditEntry.objects.get(action="case.transition_refused").detail == {
        "transition": "mark_ready",
        "state": "intake",
    }


def test_a_coordinator_of_another_team_is_refused_and_logged(case, other_coordinator) -> None:
    with pytest.raises(TransitionRefused, match="not allowed to work"):
        case_transition(case=case, by=other_coordinator, transition="start_clarification")
    assert AuditEntry.objects.get(action="case.transition_refused").actor == other_coordinator


@pytest.mark.parametrize("role", ["institution_staff", "management", "administrator"])
def test_other_roles_cannot_take_transitions(case, role) -> None:
    with pytest.raises(TransitionRefused):
        case_transition(
            case=case, by=UserFactory(role=role, team=case.team), transition="start_clarification"
        )


def test_the_state_the_page_showed_must_still_hold(case, coordinator, colleague) -> None:
    case_transition(
        case=Case.objects.get(pk=case.pk), by=colleague, transition="start_clarification"
    )
    fresh = Case.objects.get(pk=case.pk)
    with pytest.raises(ConcurrentChange):
        case_transition(
            case=fresh, by=coordinator, transition="hold", comment="x", expected_state="intake"
        )


def test_a_stale_object_cannot_overwrite_a_concurrent_transition(case, coordinator, colleague):
    stale = Case.objects.get(pk=case.pk)
    case_transition(
        case=Case.objects.get(pk=case.pk), by=colleague, transition="close", reason="duplicate"
    )
    with pytest.raises(ConcurrentChange):
        case_transition(case=stale, by=coordinator, transition="start_clarification")
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.CLOSED
    assert case.events.filter(kind=CaseEvent.Kind.TRANSITION).count() == 1


def test_free_text_reason_is_stored_encrypted_in_the_comment_not_in_plain_text(coordinator):
    from cases.models import CaseEvent
    from cases.services import case_transition
    from tests.factories import CaseFactory

    case = CaseFactory(coordinator=coordinator)
    case_transition(case=case, by=coordinator, transition="hold", reason="Familie im Urlaub")
    event = CaseEvent.objects.filter(case=case, transition="hold").get()
    assert event.reason == ""
    assert event.comment == "Familie im Urlaub"


def test_a_transition_on_an_object_read_before_an_edit_keeps_the_edit(case, coordinator):
    from cases.services import case_update

    shown = Case.objects.get(pk=case.pk)  # the case page was opened
    fresh = Case.objects.get(pk=case.pk)
    case_update(case=fresh, by=coordinator, data={"notes": "neu"}, expected_version=fresh.version)
    case_transition(case=shown, by=coordinator, transition=USER_FIRST_STEP[shown.state])
    saved = Case.objects.get(pk=case.pk)
    assert saved.notes == "neu"
    assert saved.state != case.state
    assert shown.state == saved.state  # the caller's object follows


def test_a_transition_saves_only_the_columns_it_changes(case, coordinator, monkeypatch):
    saved: list = []
    original = Case.save

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        saved.append(kwargs.get("update_fields"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Case, "save", spy)
    case_transition(case=case, by=coordinator, transition=USER_FIRST_STEP[case.state])
    assert len(saved) == 1
    assert set(saved[0]) == {"state", "state_changed_at", "updated_at"}


def test_reopening_a_placed_case_raises_the_data_version(coordinator, district):
    """Reopening resets "without a place since", a field of the edit form."""
    from tests.factories import CaseFactory

    case = CaseFactory(coordinator=coordinator, district=district, clarification=True)
    Case.objects.filter(pk=case.pk).update(placed_on="2026-01-05")
    case_transition(case=Case.objects.get(pk=case.pk), by=coordinator, transition="close",
                    reason="done")  # fmt: skip
    before = Case.objects.get(pk=case.pk).version
    case_transition(case=Case.objects.get(pk=case.pk), by=coordinator, transition="reopen",
                    comment="zurück")  # fmt: skip
    assert Case.objects.get(pk=case.pk).version == before + 1


USER_FIRST_STEP = {"intake": "start_clarification", "clarification": "mark_ready"}
