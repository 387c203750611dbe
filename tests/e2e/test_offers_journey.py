"""The offers journey in a real browser (issue 20): the coordinator registers a waiting child
for an offer from the case page's suggestions, the provider confirms in its inbox, and the
public page (no login) shows the offer, in German and English, printable per district.

Every page is screenshotted and checked with axe-core (tests/e2e/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from offers.models import OfferKind
from tests.e2e.test_journeys import PASSWORD, expect_message, log_in
from tests.factories import (
    CaseFactory,
    DistrictFactory,
    OfferFactory,
    ProviderFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

OFFER = "Deutschkurs für Kinder am Nachmittag"


def _world() -> dict[str, Any]:
    district = DistrictFactory(name="Lützel")
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=TeamFactory(name="Team Nord"),
        password=PASSWORD,
    )  # fmt: skip
    provider = ProviderFactory(
        name="Jugendmigrationsdienst", district=district, email="jmd@example.org"
    )
    UserFactory(username="jmd", role="institution_staff", providers=[provider], password=PASSWORD)
    OfferFactory(
        provider=provider, title=OFFER, kind=OfferKind.GERMAN_COURSE, district=district,
        languages=["Ukrainisch"], min_age=6, max_age=12, free_places=3,
        address="Moselweißer Straße 1", accessible=True,
    )  # fmt: skip
    today = timezone.localdate()
    case = CaseFactory(
        coordinator=coordinator, district=district, given_name="Sofiia", family_name="Koval",
        birth_date=today.replace(year=today.year - 9) - dt.timedelta(days=20),
        languages=["Ukrainisch"], arrival_city=today - dt.timedelta(days=35),
    )  # fmt: skip
    return {"case": case, "district": district}


def test_coordinator_registers_provider_confirms_public_page_shows_the_offer(
    journeys: Any,
) -> None:
    world = _world()
    case = world["case"]

    # 1. The coordinator: the case page suggests the course, with the reason.
    j = journeys.open("offers 1 coordinator")
    page = j.page
    log_in(page, "koordination")
    page.goto(reverse("cases:detail", args=[case.pk]))
    panel = page.get_by_role("region", name="Bildungsangebote")
    expect(panel).to_contain_text(OFFER)
    expect(panel).to_contain_text("spricht Ukrainisch")
    expect(panel).to_contain_text("zuerst ein Deutschkurs")
    j.check("case with suggestions")
    panel.get_by_role("link", name=OFFER).click()
    expect(page.get_by_label("Angebot", exact=True)).to_have_value(re.compile(r"\d+"))
    page.get_by_label("Hinweis für den Anbieter").fill("Die Mutter spricht etwas Englisch.")
    j.check("register form")
    page.get_by_role("button", name="Zum Angebot anmelden").click()
    expect_message(page, "Das Kind ist zu dem Angebot angemeldet.")
    expect(page.get_by_role("region", name="Bildungsangebote")).to_contain_text("angefragt")
    j.check("registered")

    # 2. The provider: the inbox, the registration with the needed fields only, confirm.
    p = journeys.open("offers 2 provider")
    page = p.page
    log_in(page, "jmd")
    page.goto(reverse("offers:inbox"))
    expect(page.get_by_role("heading", level=1, name="Anmeldungen zu Angeboten")).to_be_visible()
    p.check("inbox")
    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_text("Sofiia Koval")).to_be_visible()
    p.check("registration")
    page.get_by_role("button", name="Anmeldung bestätigen").click()
    expect_message(page, "Die Anmeldung ist bestätigt.")
    p.check("confirmed")

    # The coordinator sees the confirmation on the case page.
    page = j.page
    page.goto(reverse("cases:detail", args=[case.pk]))
    expect(page.get_by_role("region", name="Bildungsangebote")).to_contain_text("bestätigt")
    j.check("case after confirmation")

    # 3. Anyone, without logging in: the public page, its filters, English, the flyer.
    a = journeys.open("offers 3 public")
    page = a.page
    response = page.goto(reverse("angebote:list"))
    assert response is not None and "set-cookie" not in response.headers
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bildungsangebote")
    expect(page.get_by_role("heading", name=OFFER)).to_be_visible()
    expect(page.get_by_text("zurzeit keine")).to_have_count(0)
    expect(page.get_by_text(case.reference)).to_have_count(0)
    expect(page.get_by_text("Sofiia")).to_have_count(0)
    a.check("public page")
    page.get_by_label("Alter des Kindes").fill("15")
    page.get_by_role("button", name="Angebote anzeigen").click()
    expect(page.get_by_text("Kein Angebot passt zu diesen Filtern.")).to_be_visible()
    a.check("public page filtered")
    page.goto(reverse("angebote:list"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=OFFER)).to_be_visible()
    a.check("public page in English")
    page.get_by_role("link", name="Lützel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lützel")
    page.emulate_media(media="print")
    expect(page.get_by_text(OFFER)).to_be_visible()
    a.check("flyer as printed")
    page.emulate_media(media="screen")
    journeys.assert_clean()
