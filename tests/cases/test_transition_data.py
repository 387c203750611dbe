"""Transitions carry their data and their refusal message (cases/models.py,
referrals/models.py); the services save exactly the columns a transition sets."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cases.identity import IDENTITY_VERSION, KEY_COLUMNS, case_keys
from cases.models import FIELDS_SET_BY, Case, State, transition_refusal
from cases.services import TRANSITION_FIELDS, case_update
from referrals.models import FIELDS_SET_BY as REFERRAL_FIELDS_SET_BY
from referrals.models import Referral
from referrals.services import referral_enrol
from tests.factories import CaseFactory, ReferralFactory

pytestmark = pytest.mark.usefixtures("english")


def _conditions(model: type, name: str) -> list:
    meta = getattr(model, name)._django_fsm
    return [c for step in meta.transitions.values() for c in step.conditions]


def test_every_condition_of_a_case_transition_carries_its_refusal_message() -> None:
    for name in FIELDS_SET_BY:
        for condition in _conditions(Case, name):
            assert str(getattr(condition, "refusal", "")), (name, condition.__name__)


def test_the_refusal_names_the_unmet_condition_else_the_state(coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district, clarification=True)
    case.wanted_group = ""
    assert "target, birth date, district" in str(transition_refusal(case, "mark_ready"))
    assert "not possible in the current state" in str(transition_refusal(case, "resume"))
    case.erased_at = timezone.now()
    assert "erased" in str(transition_refusal(case, "reopen"))


def test_the_field_lists_of_the_transitions_cover_what_the_services_save() -> None:
    assert set(TRANSITION_FIELDS) == {
        "state", "state_changed_at",
        *(f for fields in FIELDS_SET_BY.values() for f in fields),
    }  # fmt: skip
    for name in REFERRAL_FIELDS_SET_BY:
        assert hasattr(Referral, name)


def test_placing_takes_the_first_day_attended_in_the_transition(
    coordinator, institution, school_user, monkeypatch
) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, accepted=True
    )
    first_day = timezone.localdate()
    saved: list = []
    original = Case.save

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        saved.append(set(kwargs.get("update_fields") or ()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Case, "save", spy)
    referral_enrol(referral=referral, by=school_user, first_day=first_day)
    case = Case.objects.get(pk=referral.case_id)
    assert (case.state, case.placed_on) == (State.PLACED, first_day)
    assert saved == [{"state", "state_changed_at", "placed_on", "updated_at"}]
    referral = Referral.objects.get(pk=referral.pk)
    assert (referral.enrolled_on, referral.place_reserved) == (first_day, False)


def test_an_edit_of_the_names_saves_every_identity_key(coordinator, district) -> None:
    """All blind-index columns (``KEY_COLUMNS``) and their version are saved with an edit, so
    the duplicate check finds the child under the new name too."""
    case = CaseFactory(coordinator=coordinator, district=district)
    Case.objects.filter(pk=case.pk).update(identity_version=0)
    case_update(
        case=case, by=coordinator, data={"family_name": "Darwish"}, expected_version=case.version
    )
    saved = Case.objects.get(pk=case.pk)
    expected = case_keys(saved.given_name, "Darwish", saved.birth_date)
    assert {c: getattr(saved, c) for c in KEY_COLUMNS} == expected
    assert saved.identity_version == IDENTITY_VERSION
