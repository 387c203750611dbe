"""demo/offers.py via seed_demo: offers of every kind across districts, registrations in
every state, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from offers.models import Offer, OfferKind, OfferRegistration, RegistrationState

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_offers_of_every_kind_and_registrations_in_every_state(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=None)
    offers = Offer.objects.all()
    assert offers.count() >= 15
    assert set(offers.values_list("kind", flat=True)) == set(OfferKind.values)
    assert offers.values("district").distinct().count() >= 5
    states = set(OfferRegistration.objects.values_list("state", flat=True))
    assert states == set(RegistrationState.values)
    counts = (Offer.objects.count(), OfferRegistration.objects.count())
    call_command("seed_demo", stdout=None)
    assert (Offer.objects.count(), OfferRegistration.objects.count()) == counts
