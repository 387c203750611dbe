import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_probe(journeys):
    UserFactory(role="coordinator", team=TeamFactory(), username="koord", password="geheim-geheim-1")
    j = journeys.open("probe")
    j.goto(reverse("login"))
    j.check("login")
    j.page.get_by_label("Benutzername").fill("koord")
    j.page.get_by_label("Passwort").fill("geheim-geheim-1")
    j.page.get_by_role("button", name="Anmelden").click()
    expect(j.page.get_by_role("heading", level=1)).to_be_visible()
    j.check("after login")
    j.goto("/does-not-exist/")
    j.check("404")
    journeys.assert_clean()
