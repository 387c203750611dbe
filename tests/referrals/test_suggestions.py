"""The coordinator's suggestion list: right kind, free place, nearby, siblings first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Group, TargetType
from cases.services import case_register
from referrals.models import InstitutionKind, Places
from referrals.selectors import institutions_for_referral, institutions_suggested_for
from tests.factories import (
    CaseFactory,
    DistrictFactory,
    InstitutionFactory,
    PlacesFactory,
    ReferralFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def map_(db):
    home = DistrictFactory(name="Lützel")
    near = DistrictFactory(name="Neuendorf")
    far = DistrictFactory(name="Arenberg")
    home.neighbours.add(near)
    return {"home": home, "near": near, "far": far}


def _school(name: str, district, free: int | None, kind=InstitutionKind.GRUNDSCHULE):
    institution = InstitutionFactory(name=name, district=district, kind=kind)
    if free is not None:
        PlacesFactory(institution=institution, group=Group.GRADE_2, free=free)
    return institution


def test_suggestions_are_nearby_schools_of_the_right_kind_with_a_free_place(coordinator, map_):
    case = CaseFactory(coordinator=coordinator, ready=True, district=map_["home"])
    home = _school("GS Heimat", map_["home"], 1)
    near = _school("GS Nachbar", map_["near"], 3)
    _school("GS Weit", map_["far"], 5)
    _school("GS Voll", map_["home"], 0)
    _school("GS ohne Zahl", map_["home"], None)
    InstitutionFactory(name="Kita Nah", district=map_["home"], kind=InstitutionKind.KITA)
    closed = _school("GS Geschlossen", map_["home"], 2)
    type(closed).objects.filter(pk=closed.pk).update(is_active=False)

    assert list(institutions_suggested_for(case)) == [home, near]


def test_siblings_institution_comes_first_even_far_away_and_full(coordinator, map_, school_user):
    sibling = CaseFactory(coordinator=coordinator, ready=True, district=map_["home"])
    far = _school("GS Geschwister", map_["far"], 1)
    ReferralFactory(coordinator=coordinator, institution=far, case=sibling)
    Places.objects.filter(institution=far).update(free=0)

    case = case_register(
        by=coordinator,
        data={"given_name": "Omar", "family_name": "Haddad", "target_type": TargetType.SCHOOL,
              "wanted_group": Group.GRADE_2, "district": map_["home"]},
        sibling_of=sibling,
    )  # fmt: skip
    home = _school("GS Heimat", map_["home"], 2)
    suggestions = list(institutions_suggested_for(case))
    assert suggestions == [far, home]
    assert suggestions[0].is_sibling


def test_declined_sibling_referral_does_not_make_an_institution_a_sibling_one(
    coordinator, map_
) -> None:
    far = _school("GS Abgelehnt", map_["far"], 1)
    staff = UserFactory(role="institution_staff", institutions=[far])
    sibling = CaseFactory(coordinator=coordinator, ready=True, district=map_["home"])
    ReferralFactory(
        coordinator=coordinator, institution=far, case=sibling, staff=staff, declined=True
    )
    case = case_register(
        by=coordinator,
        data={"given_name": "Omar", "family_name": "Haddad", "target_type": TargetType.SCHOOL,
              "wanted_group": Group.GRADE_2, "district": map_["home"]},
        sibling_of=sibling,
    )  # fmt: skip
    assert far not in institutions_suggested_for(case)


def test_free_place_figure_carries_its_age_and_stale_figures_are_flagged(coordinator, map_):
    case = CaseFactory(coordinator=coordinator, ready=True, district=map_["home"])
    fresh = _school("GS Frisch", map_["home"], 1)
    stale = _school("GS Alt", map_["home"], 1)
    Places.objects.filter(institution=stale).update(
        updated_at=timezone.now() - dt.timedelta(days=30)
    )
    rows = {i.name: i for i in institutions_for_referral(case)}
    assert rows[fresh.name].free == 1
    assert not rows[fresh.name].is_stale
    assert rows[stale.name].is_stale
    assert rows[stale.name].places_updated_at < timezone.now() - dt.timedelta(days=29)


def test_referral_page_lists_suggestions_with_stale_flag_and_every_right_kind_to_choose(
    login, coordinator, map_
) -> None:
    case = CaseFactory(coordinator=coordinator, ready=True, district=map_["home"])
    stale = _school("GS Alt", map_["home"], 1)
    Places.objects.filter(institution=stale).update(
        updated_at=timezone.now() - dt.timedelta(days=30)
    )
    full = _school("GS Voll", map_["far"], 0)
    html = login(coordinator).get(reverse("referrals:create", args=[case.pk])).content.decode()
    assert "GS Alt" in html
    assert "stale" in html
    # Not suggested, but still selectable for the waiting list.
    assert f'value="{full.pk}"' in html


def test_kita_case_gets_kita_suggestions_for_its_age_group(coordinator, map_) -> None:
    case = CaseFactory(
        coordinator=coordinator, ready=True, district=map_["home"], target_type=TargetType.KITA,
        wanted_group=Group.KITA_3, birth_date=dt.date(2022, 5, 1),
    )  # fmt: skip
    kita = InstitutionFactory(name="Kita Sonne", district=map_["home"], kind=InstitutionKind.KITA)
    PlacesFactory(institution=kita, group=Group.KITA_3, free=1)
    u3 = InstitutionFactory(name="Kita U3", district=map_["home"], kind=InstitutionKind.KITA)
    PlacesFactory(institution=u3, group=Group.KITA_U3, free=4)
    _school("GS Heimat", map_["home"], 2)
    assert list(institutions_suggested_for(case)) == [kita]
