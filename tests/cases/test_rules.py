"""cases/rules.py: the rules between a case's fields, checked by the form and the services
alike (an import or a script cannot store what the intake form refuses)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cases.forms import CaseForm
from cases.models import Case, State
from cases.rules import CaseDataInvalid, case_data_problems
from cases.services import case_register, case_update
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")

TODAY = dt.date(2026, 6, 1)


def _problems(**data) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in case_data_problems(data, today=TODAY)]


def test_a_kita_needs_the_measles_answer_and_a_school_the_years_of_schooling() -> None:
    assert _problems(birth_date=dt.date(2023, 1, 1), target_type="kita") == [
        ("measles_proof", "measles_proof")
    ]
    assert _problems(birth_date=dt.date(2023, 1, 1), target_type="kita", measles_proof=False) == []
    assert _problems(birth_date=dt.date(2016, 1, 1), target_type="school") == [
        ("school_years", "school_years_missing")
    ]


def test_age_limits_per_target_and_overall() -> None:
    assert _problems(birth_date=dt.date(2023, 1, 1), target_type="school", school_years=0) == [
        ("target_type", "age")
    ]
    assert _problems(birth_date=dt.date(2000, 1, 1), target_type="school") == [
        ("birth_date", "too_old")
    ]


def test_one_wrong_value_gives_one_message_as_on_the_form() -> None:
    # Before the birth and before the arrival in Germany: only the first is reported.
    problems = _problems(
        birth_date=dt.date(2019, 6, 1),
        arrival_germany=dt.date(2020, 1, 1),
        arrival_city=dt.date(2019, 1, 1),
    )
    assert problems == [("arrival_city", "before_birth")]
    # Too many years of schooling: no second message asking for them.
    problems = _problems(birth_date=dt.date(2016, 1, 1), target_type="school", school_years=9)
    assert problems == [("school_years", "school_years_age")]


def test_the_form_reports_exactly_the_rules_problems() -> None:
    data = {
        "given_name": "A", "family_name": "B", "birth_date": "2016-01-01",
        "languages": "Arabic", "target_type": "kita", "wanted_group": "g03",
    }  # fmt: skip
    form = CaseForm(data)
    assert not form.is_valid()
    problems = case_data_problems(
        {**data, "birth_date": dt.date(2016, 1, 1)}, today=timezone.localdate()
    )
    assert {p.field for p in problems} <= set(form.errors)
    for problem in problems:
        assert str(problem.error().messages[0]) in form.errors[problem.field]


def test_registering_refuses_data_the_form_would_refuse(coordinator) -> None:
    data = {
        "given_name": "Olena", "family_name": "Kovalenko", "birth_date": dt.date(2016, 5, 12),
        "target_type": "kita", "languages": ["Ukrainisch"],
    }  # fmt: skip
    with pytest.raises(CaseDataInvalid) as refused:
        case_register(by=coordinator, data=data)
    assert set(refused.value.message_dict) == {"target_type", "measles_proof"}
    assert refused.value.message_dict["measles_proof"] == [
        "For a Kita place, record whether the proof exists."
    ]
    assert (
        "cannot take this target (from 0 to 7 years)"
        in (refused.value.message_dict["target_type"][0])
    )
    assert not Case.objects.exists()


def test_an_edit_by_a_service_caller_is_checked_against_the_whole_case(
    coordinator, district
) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    with pytest.raises(CaseDataInvalid) as refused:
        case_update(
            case=case, by=coordinator, data={"school_years": None}, expected_version=case.version
        )
    assert list(refused.value.message_dict) == ["school_years"]
    case.refresh_from_db()
    assert (case.school_years, case.version, case.state) == (0, 1, State.INTAKE)
