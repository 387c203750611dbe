"""Suggestions and the referral form know school types: no Gymnasium for a child of grade 4;
a school that already declined this child stays listed, marked with its reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import Group
from coordination.exceptions import DomainError
from referrals.models import InstitutionKind, Referral
from referrals.selectors import institutions_for_referral, institutions_suggested_for
from referrals.services import referral_create, referral_decline
from tests.factories import CaseFactory, InstitutionFactory, PlacesFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def grade_4_case(coordinator, district):  # type: ignore[no-untyped-def]
    return CaseFactory(
        coordinator=coordinator, ready=True, district=district, wanted_group=Group.GRADE_4
    )


@pytest.fixture
def schools(district):  # type: ignore[no-untyped-def]
    made = {}
    for name, kind in (
        ("GS Am Bach", InstitutionKind.GRUNDSCHULE),
        ("Gymnasium Am Berg", InstitutionKind.GYMNASIUM),
        ("IGS Mitte", InstitutionKind.IGS),
    ):
        made[kind] = InstitutionFactory(name=name, kind=kind, district=district)
        # A figure for grade 4 even where the type does not teach it (typed in by mistake).
        PlacesFactory(institution=made[kind], group=Group.GRADE_4, free=3)
    return made


def test_no_gymnasium_is_suggested_or_offered_for_grade_4(grade_4_case, schools) -> None:
    suggested = list(institutions_suggested_for(grade_4_case))
    offered = list(institutions_for_referral(grade_4_case))
    assert suggested == [schools[InstitutionKind.GRUNDSCHULE]]
    assert offered == [schools[InstitutionKind.GRUNDSCHULE]]


def test_a_grade_7_child_gets_secondary_schools_only(coordinator, district, schools) -> None:
    case = CaseFactory(
        coordinator=coordinator, ready=True, district=district, wanted_group=Group.GRADE_7
    )
    kinds = {i.kind for i in institutions_for_referral(case)}
    assert kinds == {InstitutionKind.GYMNASIUM, InstitutionKind.IGS}


def test_the_form_refuses_a_school_type_that_does_not_take_the_grade(
    login, coordinator, grade_4_case, schools
) -> None:
    gymnasium = schools[InstitutionKind.GYMNASIUM]
    response = login(coordinator).post(
        reverse("referrals:create", args=[grade_4_case.pk]),
        {"institution": gymnasium.pk, "message": ""},
    )
    assert response.status_code == 200
    assert "its school type does not take children of this grade" in response.content.decode()
    assert not Referral.objects.filter(case=grade_4_case).exists()


def test_the_service_refuses_a_school_type_that_does_not_take_the_grade(
    coordinator, grade_4_case, schools
) -> None:
    with pytest.raises(DomainError, match="does not take children"):
        referral_create(
            case=grade_4_case, institution=schools[InstitutionKind.GYMNASIUM], by=coordinator
        )
    assert not Referral.objects.filter(case=grade_4_case).exists()


def test_a_school_that_declined_the_child_is_listed_and_marked_with_its_reason(
    login, coordinator, grade_4_case, schools, district
) -> None:
    school = schools[InstitutionKind.GRUNDSCHULE]
    staff = UserFactory(role="institution_staff", institutions=[school], username="gs_bach")
    referral = referral_create(case=grade_4_case, institution=school, by=coordinator)
    referral_decline(referral=referral, by=staff, reason="no_place")
    other = InstitutionFactory(name="GS Am Hang", district=district)
    PlacesFactory(institution=other, group=Group.GRADE_4, free=1)
    grade_4_case.refresh_from_db()

    suggested = {i.name: i.declined_reason for i in institutions_suggested_for(grade_4_case)}
    assert suggested == {"GS Am Bach": "no_place", "GS Am Hang": None}
    html = login(coordinator).get(reverse("referrals:create", args=[grade_4_case.pk]))
    page = html.content.decode()
    assert page.count("already declined: no free place") == 2  # suggestion row, form choice
