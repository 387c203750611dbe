"""Pages every role meets: log-in (also with an error), the error pages, keyboard use."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import CaseFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.e2e

PASSWORD = "ankommen-e2e-passwort"


def test_login_error_404_and_403_are_clear_and_accessible(journeys: Any) -> None:
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=TeamFactory(), password=PASSWORD
    )
    case = CaseFactory(coordinator=coordinator)
    UserFactory(username="schule", role="institution_staff", password=PASSWORD)
    j = journeys.open("pages")
    page = j.page

    page.goto(reverse("login"))
    expect(page).to_have_title("Anmelden \N{EN DASH} Ankommen")
    j.check("login")
    page.get_by_label("Benutzername").fill("koordination")
    page.get_by_label("Passwort").fill("falsch")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie Ihre Eingaben")
    j.check("login failed")

    page.get_by_label("Benutzername").fill("schule")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()

    response = page.goto("/gibt-es-nicht/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Nicht gefunden")
    j.check("404")

    # Keyboard: the first Tab reaches the skip link, which moves the focus to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    response = page.goto(reverse("cases:detail", args=[case.pk]))
    assert response is not None and response.status in (403, 404)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Zugriff verweigert" if response.status == 403 else "Nicht gefunden"
    )
    j.check("case of another institution")
    journeys.assert_clean()
