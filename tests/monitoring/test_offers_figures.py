"""The offers section of the figures: registered, confirmed and started by kind and by
district, under the same disclosure rules as every other table."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitoring.computation import compute_data
from monitoring.dimensions import (
    OFFER_CONFIRMED,
    OFFER_STARTED,
    Window,
    offer_kind_node,
)
from monitoring.disclosure import TOTAL
from offers.models import OfferKind
from offers.services import registration_confirm, registration_create, registration_start
from tests.factories import CaseFactory, OfferFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def registrations(coordinator, district):
    provider = ProviderFactory(district=district)
    staff = UserFactory(role="institution_staff", providers=[provider], username="anbieter")
    german = OfferFactory(provider=provider, kind=OfferKind.GERMAN_COURSE)
    sport = OfferFactory(provider=provider, kind=OfferKind.LEISURE)
    made = []
    # 3 requested, 3 confirmed, 3 started: no count below 3, not even a difference.
    for i in range(9):
        case = CaseFactory(coordinator=coordinator, district=district)
        r = registration_create(case=case, offer=german, by=coordinator)
        if i < 6:
            r = registration_confirm(registration=r, by=staff)
        if i < 3:
            r = registration_start(registration=r, by=staff, first_day=timezone.localdate())
        made.append(r)
    made.append(sport)
    return made


def _one_for_sport(coordinator, district, sport):
    """One registration for sport: a count of 1, never shown."""
    case = CaseFactory(coordinator=coordinator, district=district)
    registration_create(case=case, offer=sport, by=coordinator)


def _data(district):
    return compute_data(Window.ending(timezone.localdate()), 3, 5, [(district.pk, district.name)])


def test_counts_by_kind_registered_confirmed_started(registrations, district):
    table = _data(district).offers
    german = offer_kind_node(OfferKind.GERMAN_COURSE)
    assert table.shown((TOTAL, TOTAL, german, TOTAL)) == 9
    assert table.shown((TOTAL, TOTAL, german, OFFER_CONFIRMED)) == 6
    assert table.shown((TOTAL, TOTAL, german, OFFER_STARTED)) == 3
    assert table.shown((TOTAL, ("district", district.pk), TOTAL, TOTAL)) == 9


def test_a_small_started_count_is_hidden(registrations, coordinator, district):
    """Two started: hidden, and whatever would let a reader work it out."""
    from offers.models import OfferRegistration

    OfferRegistration.objects.filter(pk=registrations[0].pk).update(state="requested")
    table = _data(district).offers
    german = offer_kind_node(OfferKind.GERMAN_COURSE)
    shown = [
        table.shown((TOTAL, TOTAL, german, s)) for s in (TOTAL, OFFER_CONFIRMED, OFFER_STARTED)
    ]
    assert None in shown


def test_a_small_count_is_hidden_and_cannot_be_worked_out(registrations, coordinator, district):
    _one_for_sport(coordinator, district, registrations[-1])
    table = _data(district).offers
    assert table.shown((TOTAL, TOTAL, offer_kind_node(OfferKind.LEISURE), TOTAL)) is None
    # The total would give the hidden 1 away (6 - 5): it is hidden too, or another cell is.
    total = table.shown((TOTAL, TOTAL, TOTAL, TOTAL))
    shown = [table.shown((TOTAL, TOTAL, offer_kind_node(k), TOTAL)) for k in OfferKind.values]
    assert total is None or shown.count(None) >= 2


def test_district_by_kind_is_never_published(registrations, district):
    table = _data(district).offers
    german = offer_kind_node(OfferKind.GERMAN_COURSE)
    assert not table.is_published((TOTAL, ("district", district.pk), german, TOTAL))
    assert table.is_published((TOTAL, ("district", district.pk), TOTAL, TOTAL))


def test_the_figures_page_shows_the_offers_section(registrations, management_user):
    client = Client()
    client.force_login(management_user)
    from monitoring.computation import figure_data

    figure_data(refresh=True)
    html = client.get(reverse("figures")).content.decode()
    assert 'id="offers' in html or "offers-kinds" in html
