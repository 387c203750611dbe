"""Suggestions on the case page, the case panel, the dashboard queue and the inbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from offers.models import OfferKind
from offers.selectors import offers_suggested_for
from offers.services import registration_create
from tests.factories import CaseFactory, DistrictFactory, OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def _nine_year_old(coordinator, district, **extra):
    today = timezone.localdate()
    birth = today.replace(year=today.year - 9) - dt.timedelta(days=10)
    extra.setdefault("arrival_city", today - dt.timedelta(days=5))
    return CaseFactory(coordinator=coordinator, district=district, birth_date=birth,
                       languages=["Ukrainisch"], **extra)  # fmt: skip


def test_suggestions_fit_age_language_and_district_with_the_reason(coordinator, district):
    far = DistrictFactory(name="Weit weg")
    near = DistrictFactory(name="Nebenan")
    district.neighbours.add(near)
    provider = ProviderFactory(district=district)
    OfferFactory(provider=provider, title="Passt", languages=["ukrainisch"])
    OfferFactory(provider=provider, title="Zu alt", min_age=14, max_age=18)
    OfferFactory(provider=provider, title="Weit", district=far)
    neighbour = OfferFactory(provider=provider, title="Nachbar", district=near, languages=[])
    case = _nine_year_old(coordinator, district)
    found = offers_suggested_for(Case.objects.get(pk=case.pk))
    titles = [s.offer.title for s in found]
    assert titles == ["Passt", "Nachbar"]
    assert found[0].reasons == ["Alter 9", "spricht Ukrainisch", f"Stadtteil {district.name}"]
    assert found[1].offer == neighbour


def test_long_wait_puts_german_courses_first(coordinator, district):
    provider = ProviderFactory(district=district)
    OfferFactory(provider=provider, title="A Hausaufgaben", kind=OfferKind.HOMEWORK_HELP,
                 languages=["Ukrainisch"])  # fmt: skip
    OfferFactory(provider=provider, title="Z Deutschkurs", kind=OfferKind.GERMAN_COURSE,
                 languages=[])  # fmt: skip
    case = _nine_year_old(coordinator, district)
    Case.objects.filter(pk=case.pk).update(
        waiting_since=timezone.localdate() - dt.timedelta(days=30)
    )
    found = offers_suggested_for(Case.objects.get(pk=case.pk))
    assert found[0].offer.title == "Z Deutschkurs"
    assert any("30" in r and "Deutschkurs" in r for r in found[0].reasons)


def test_registered_offers_are_not_suggested_again(coordinator, district):
    offer = OfferFactory(provider=ProviderFactory(district=district), languages=["Ukrainisch"])
    case = _nine_year_old(coordinator, district)
    registration_create(case=case, offer=offer, by=coordinator)
    assert offers_suggested_for(Case.objects.get(pk=case.pk)) == []


def test_case_page_shows_registrations_and_suggestions(coordinator, district):
    provider = ProviderFactory(district=district)
    registered = OfferFactory(provider=provider, title="Ferien-Sprachcamp")
    OfferFactory(provider=provider, title="Lernhilfe Lützel", languages=["Ukrainisch"])
    case = _nine_year_old(coordinator, district)
    registration_create(case=case, offer=registered, by=coordinator)
    client = Client()
    client.force_login(coordinator)
    html = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "Ferien-Sprachcamp" in html and "Lernhilfe Lützel" in html
    assert "spricht Ukrainisch" in html
    assert reverse("offers:register", args=[case.pk]) in html


def test_dashboard_queue_lists_requested_registrations(coordinator, district):
    offer = OfferFactory(provider=ProviderFactory(district=district), title="Sportgruppe")
    case = CaseFactory(coordinator=coordinator, district=district)
    registration_create(case=case, offer=offer, by=coordinator)
    client = Client()
    client.force_login(coordinator)
    html = client.get(reverse("cases:dashboard")).content.decode()
    assert "Sportgruppe" in html and case.reference in html


def test_provider_inbox_and_page_show_only_the_needed_fields(coordinator, district, decrypted):
    from tests.factories import UserFactory

    provider = ProviderFactory(district=district)
    staff = UserFactory(role="institution_staff", providers=[provider], username="verein")
    offer = OfferFactory(provider=provider, title="Elternkurs")
    case = CaseFactory(coordinator=coordinator, district=district, health_notes="Asthma",
                       notes="vertraulich")  # fmt: skip
    registration = registration_create(case=case, offer=offer, by=coordinator)
    client = Client()
    client.force_login(staff)
    inbox = client.get(reverse("offers:inbox")).content.decode()
    assert case.reference in inbox and "Elternkurs" in inbox
    decrypted.clear()
    page = client.get(reverse("offers:registration", args=[registration.pk])).content.decode()
    assert "Asthma" not in page and "vertraulich" not in page
    seen = {c.rsplit(".", 1)[-1] for c in decrypted if c.startswith("cases.case.")}
    assert seen <= {"given_name", "family_name", "birth_date", "languages", "interpreter_needed"}
    from coordination.models import AuditEntry

    assert AuditEntry.objects.filter(action="offer_registration.view", actor=staff).exists()
