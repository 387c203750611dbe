"""demo/cases.py via seed_demo: 40+ realistic cases in every state, idempotent."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command

from cases.models import Case, Guardian, State
from cases.selectors import cases_matching_identity
from referrals.models import Referral


@pytest.fixture
def seeded(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=None)


def test_the_demo_has_forty_cases_in_every_state_and_both_teams(seeded) -> None:
    assert Case.objects.count() >= 40
    states = Counter(Case.objects.values_list("state", flat=True))
    assert set(states) == set(State.values)
    assert set(Case.objects.values_list("team__name", flat=True)) == {"Team Nord", "Team Süd"}
    assert set(Case.objects.values_list("target_type", flat=True)) == {
        "school",
        "kita",
        "vocational",
    }


def test_referred_and_placed_cases_come_from_real_referrals(seeded) -> None:
    for case in Case.objects.filter(state__in=[State.REFERRED, State.PLACED]):
        assert case.referrals.exists(), case.reference
    assert (
        Referral.objects.filter(state="enrolled").count()
        == Case.objects.filter(placed_on__isnull=False).count()
    )
    inbox = Referral.objects.filter(institution__name="Grundschule am Moselufer", state="pending")
    assert inbox.exists()


def test_families_have_siblings_and_contacts(seeded) -> None:
    sizes = Counter(Case.objects.values_list("family_id", flat=True))
    assert max(sizes.values()) >= 3
    assert Guardian.objects.filter(is_contact_person=True).count() >= 20


def test_the_spelling_variant_pair_is_found_as_a_duplicate(seeded) -> None:
    mohammed = next(
        c for c in Case.objects.filter(bidx_family__isnull=False) if c.given_name == "Mohammed"
    )
    found = cases_matching_identity(
        given_name="Muhammad", family_name="Al Hasan", birth_date=mohammed.birth_date
    )
    assert {c.family_name for c in found} == {"Al-Hassan", "Alhasan"}


def test_seeding_again_creates_nothing(seeded) -> None:
    before = sorted(Case.objects.values_list("reference", "state"))
    call_command("seed_demo")
    assert sorted(Case.objects.values_list("reference", "state")) == before
