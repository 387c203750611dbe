"""Pages every role meets: log-in (also with an error), the error pages, keyboard use."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from coordination.devotp import current_code
from coordination.services import enrolment_code_issue
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


def test_the_other_pages_of_each_role_are_accessible(journeys: Any) -> None:
    """Pages off the four journeys: forms (also with errors), lists, data protection."""
    from tests.factories import InstitutionFactory, ReferralFactory

    team = TeamFactory(name="Team Süd")
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=team, password=PASSWORD
    )
    school = InstitutionFactory(name="Grundschule Metternich")
    UserFactory(
        username="schule", role="institution_staff", institutions=[school], password=PASSWORD
    )
    administrator = UserFactory(
        username="verwaltung", role="administrator", is_staff=True, is_superuser=True,
        password=PASSWORD,
    )  # fmt: skip
    enrolment_code, _until = enrolment_code_issue(user=administrator)
    referral = ReferralFactory(coordinator=coordinator, institution=school)
    case = referral.case

    j = journeys.open("other pages")
    page = j.page

    def visit(step: str, url: str) -> None:
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response.status}"
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        j.check(step)

    log_in(page, "koordination")
    page.goto(reverse("cases:register"))
    page.get_by_role("button", name="Erfassen", exact=True).click()
    expect(page.get_by_role("alert").first).to_contain_text("Bitte prüfen Sie Ihre Eingaben")
    invalid = page.locator("[aria-invalid=true]").first
    expect(invalid).to_be_visible()
    j.check("registration with errors")
    visit("case list filtered", reverse("cases:list") + "?state=ready")
    visit("edit case", reverse("cases:edit", args=[case.pk]))
    visit("add family contact", reverse("cases:guardian_add", args=[case.pk]))
    visit("copy of the stored data", reverse("cases:access_report", args=[case.pk]))
    visit("withdraw referral", reverse("referrals:withdraw", args=[referral.pk]))
    visit("referral as coordinator", reverse("referrals:detail", args=[referral.pk]))
    page.get_by_role("button", name="Abmelden").click()

    log_in(page, "schule")
    visit("free places", reverse("referrals:places"))
    visit("all referrals", reverse("referrals:inbox") + "?show=all")
    page.get_by_role("button", name="Abmelden").click()

    # Administrators must use a second factor: the first login asks for the enrolment code,
    # then shows the secret, confirmed with a code computed from the new device.
    log_in(page, "verwaltung", second_factor=False)
    expect(page.get_by_label("Einrichtungscode von Ihrer Administration")).to_be_visible()
    j.check("enrolment code")
    page.get_by_label("Einrichtungscode von Ihrer Administration").fill("FALS-CHER-CODE")
    page.get_by_role("button", name="Weiter").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    j.check("enrolment code wrong")
    page.get_by_label("Einrichtungscode von Ihrer Administration").fill(enrolment_code)
    page.get_by_role("button", name="Weiter").click()
    expect(page.get_by_label("Code aus Ihrer Authenticator-App")).to_be_visible()
    j.check("second factor set-up")
    device = TOTPDevice.objects.get(user=administrator, confirmed=False)
    page.get_by_label("Code aus Ihrer Authenticator-App").fill(current_code(device))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page).not_to_have_url(re.compile("/otp/"))
    visit("audit log", reverse("audit_search"))
    visit("retention", reverse("cases:retention"))
    page.get_by_role("button", name="Abmelden").click()

    # The next login asks for the code of the device.
    log_in(page, "verwaltung", second_factor=False)
    expect(page.get_by_label("Code aus Ihrer Authenticator-App")).to_be_visible()
    j.check("second factor")
    enter_second_factor(page, "verwaltung")
    journeys.assert_clean()


def log_in(page: Any, username: str, *, second_factor: bool = True) -> None:
    """Log in with the password; a user with a device also enters its current code."""
    page.goto(reverse("login"))
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    if not second_factor:
        return
    if TOTPDevice.objects.filter(user__username=username, confirmed=True).exists():
        enter_second_factor(page, username)
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


def enter_second_factor(page: Any, username: str) -> None:
    """Type the code the user's authenticator app shows now (computed from the device)."""
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    expect(page.get_by_label("Code aus Ihrer Authenticator-App")).to_be_visible()
    page.get_by_label("Code aus Ihrer Authenticator-App").fill(current_code(device))
    page.get_by_role("button", name="Weiter").click()
    expect(page).not_to_have_url(re.compile("/otp/"))
