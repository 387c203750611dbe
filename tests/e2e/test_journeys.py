"""The four journeys of issue 8, in a real browser, in German (the UI's default language).

1. coordinator: log in, register a child, see the duplicate warning for a spelling variant of
   an existing child's name, move the case to "ready", refer it to a suggested school;
2. school: log in, see the referral in the inbox, accept, confirm enrolment;
3. coordinator: sees the case placed, with its history (and once in English);
4. management: sees the figures change (small numbers suppressed), exports CSV, and cannot
   open the case by its URL.

Elements are found by role and label, so the test also proves that they have one. Every page
is screenshotted to test-artifacts/e2e/ and checked with axe-core (tests/e2e/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.models import Group, TargetType
from referrals.models import InstitutionKind
from tests.factories import (
    CaseFactory,
    DistrictFactory,
    InstitutionFactory,
    PlacesFactory,
    ReferralFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

PASSWORD = "ankommen-e2e-passwort"
BIRTH = dt.date(2015, 5, 3)
SCHOOL = "Realschule plus Lützel"
GERMAN_DATE = re.compile(r"\b\d{2}\.\d{2}\.\d{4}\b")
ENGLISH_DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


def _people() -> dict[str, Any]:
    """The office as the journeys find it: one existing child, a school with free places,
    and two children already placed there (so that the figures have something to show)."""
    district = DistrictFactory(name="Lützel")
    team = TeamFactory(name="Team Nord")
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=team, password=PASSWORD,
        first_name="Lea", last_name="Becker",
    )  # fmt: skip
    school = InstitutionFactory(
        name=SCHOOL, kind=InstitutionKind.REALSCHULE_PLUS, district=district
    )
    PlacesFactory(institution=school, group=Group.GRADE_5, free=4)
    staff = UserFactory(
        username="sekretariat", role="institution_staff", institutions=[school], password=PASSWORD
    )
    management = UserFactory(username="monitoring", role="management", password=PASSWORD)
    CaseFactory(
        coordinator=coordinator,
        given_name="Mohammed",
        family_name="Al-Hassan",
        birth_date=BIRTH,
        target_type=TargetType.SCHOOL,
        wanted_group=Group.GRADE_5,
        district=district,
        school_years=4,
    )
    for given in ("Amina", "Yusuf"):
        ReferralFactory(
            coordinator=coordinator,
            institution=school,
            staff=staff,
            enrolled=True,
            case=CaseFactory(
                coordinator=coordinator,
                ready=True,
                district=district,
                given_name=given,
                family_name="Haddad",
                birth_date=dt.date(2015, 1, 9),
                wanted_group=Group.GRADE_5,
                school_years=4,
            ),
        )
    return {"coordinator": coordinator, "staff": staff, "management": management}


def log_in(page: Page, username: str) -> None:
    page.goto(reverse("login"))
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


def expect_message(page: Page, text: str) -> None:
    """A success or error message of the page (base.html's messages, role="status")."""
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def click_confirming(j: Any, button: Any) -> str:
    """Click a button of an irreversible step; it must ask first (data-confirm: "OK")."""
    asked = len(j.dialogs)
    button.click()
    j.page.wait_for_load_state()
    assert len(j.dialogs) > asked, "an irreversible step must ask for confirmation first"
    return j.dialogs[-1]


def journey_1_coordinator_registers_and_refers(j: Any) -> str:
    page = j.page
    log_in(page, "koordination")
    j.check("start page")
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Kind erfassen"
    ).click()
    expect(page.get_by_role("heading", level=1, name="Kind erfassen")).to_be_visible()
    j.check("empty registration form")

    page.get_by_label("Vorname(n)").fill("Muhammad")
    page.get_by_label("Familienname").fill("Al Hasan")
    page.get_by_label("Geburtsdatum").fill(BIRTH.isoformat())
    page.get_by_label("Gesprochene Sprachen").fill("Arabisch, Kurdisch")
    page.get_by_label("Art des Platzes").select_option(label="Schule")
    page.get_by_label("Gewünschte Klassenstufe oder Altersgruppe").select_option(label="Klasse 5")
    page.get_by_label(re.compile(r"^Stadtteil\b")).select_option(label="Lützel")
    page.get_by_label("Bisherige Schuljahre").fill("4")
    contact = page.get_by_role("group", name="Kontaktperson 1")
    contact.get_by_label("Name", exact=True).fill("Fatima Al Hasan")
    relation = contact.get_by_label("Beziehung zum Kind")
    if relation.evaluate("element => element.tagName") == "SELECT":
        relation.select_option(label="Mutter")
    else:
        relation.fill("Mutter")
    contact.get_by_label("Telefon").fill("0261 123456")
    page.get_by_role("button", name="Erfassen", exact=True).click()

    # The spelling variant of an existing child with the same birth date is caught.
    warning = page.get_by_role("region", name="Mögliche Treffer")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Mohammed Al-Hassan")
    j.check("duplicate warning")
    page.get_by_label("Ich habe die möglichen Doppelerfassungen geprüft").check()
    page.get_by_role("button", name="Erfassen", exact=True).click()

    expect(page.get_by_role("heading", level=1, name="Muhammad Al Hasan")).to_be_visible()
    expect_message(page, "erfasst")
    reference = page.get_by_text(re.compile(r"NZ-\d{4}-\d+")).first.inner_text()
    reference = re.search(r"NZ-\d{4}-\d+", reference).group(0)  # type: ignore[union-attr]
    j.check("case registered")

    page.get_by_role("button", name="Klärung beginnen").click()
    expect_message(page, "Klärung")
    j.check("clarification")
    page.get_by_role("button", name="Geklärt: Platz suchen").click()
    expect_message(page, "Platzsuche")
    j.check("looking for a place")

    page.get_by_role("link", name="An Schule oder Kita vermitteln").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    suggestions = page.get_by_role("table", name="Vorschläge")
    expect(suggestions.get_by_role("rowheader", name=SCHOOL)).to_be_visible()
    j.check("suggestions")
    suggestions.get_by_role("link", name=re.compile(f"Auswählen.*{SCHOOL}")).click()
    expect(page.get_by_label("Einrichtung", exact=True)).to_have_value(re.compile(r"\d+"))
    page.get_by_label("Kommentar für die Einrichtung").fill("Die Familie spricht Arabisch.")
    page.get_by_role("button", name="Vermittlung senden").click()
    expect_message(page, "Die Vermittlung wurde versendet.")
    expect(page.get_by_role("region", name="Vermittlungen")).to_contain_text(SCHOOL)
    j.check("referred")
    return reference


def journey_2_school_accepts_and_enrols(j: Any, reference: str) -> None:
    page = j.page
    log_in(page, "sekretariat")
    expect(page.get_by_role("heading", level=1, name="Vermittlungen")).to_be_visible()
    j.check("inbox")
    page.get_by_role("link", name=re.compile(reference)).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.get_by_text("Muhammad Al Hasan")).to_be_visible()
    expect(page.get_by_text(GERMAN_DATE).first).to_be_visible()
    j.check("referral")
    page.get_by_role("button", name="Vermittlung annehmen").click()
    expect_message(page, "Ein Platz ist reserviert.")
    j.check("accepted")
    page.get_by_label("Erster Besuchstag").fill(timezone.localdate().isoformat())
    question = click_confirming(j, page.get_by_role("button", name="Ersten Besuchstag bestätigen"))
    assert "nicht rückgängig" in question
    expect_message(page, "Der erste Besuchstag ist bestätigt.")
    j.check("enrolled")


def journey_3_coordinator_sees_the_placement(j: Any, reference: str) -> str:
    page = j.page
    log_in(page, "koordination")
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Fälle", exact=True
    ).click()
    j.check("case list")
    # The list shows open cases; a placed child is under "Alle Fälle".
    page.get_by_role("navigation", name="Welche Fälle").get_by_role(
        "link", name="Alle Fälle"
    ).click()
    page.get_by_role("link", name=re.compile(reference)).first.click()
    expect(page.get_by_role("heading", level=1, name="Muhammad Al Hasan")).to_be_visible()
    expect(page.get_by_text("Aufgenommen", exact=True).first).to_be_visible()
    history = page.get_by_role("list", name=re.compile("Verlauf des Falls"))
    for step in ("Erstgespräch", "Klärung", "Platzsuche", "Vermittelt", "Aufgenommen"):
        expect(history).to_contain_text(step)
    expect(page.get_by_role("button", name="Drucken")).to_be_visible()
    expect(page.get_by_text(GERMAN_DATE).first).to_be_visible()
    j.check("placed with history")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Drucken")).to_be_hidden()
    expect(history).to_be_visible()
    j.check("case summary as printed")
    page.emulate_media(media="screen")
    case_url = page.url
    return case_url


MONTHLY = "Erfasste, aufgenommene und wartende Kinder je Monat: alle Arten von Plätzen"


def this_month(page: Page, column: str) -> Any:
    """The cell of the current month ("… (bisher)") in a column of the monthly table."""
    table = page.get_by_role("table", name=MONTHLY)
    headers = [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()]
    row = table.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=re.compile(r"\(bisher\)"))
    )
    return row.get_by_role("cell").nth(headers.index(column) - 1)


def journey_4_management_sees_figures(j: Any, case_url: str) -> None:
    page = j.page
    # The figures are recomputed at most every few minutes; the test does not wait for that.
    cache.clear()
    page.goto(reverse("figures"))
    expect(page.get_by_role("heading", level=1, name="Kennzahlen")).to_be_visible()
    # The third placement of the month lifts the count over the threshold: it is shown now.
    expect(this_month(page, "Aufgenommen")).to_have_text("3")
    expect(this_month(page, "Erfasst")).to_have_text("4")
    expect(page.get_by_text("zum Schutz der Kinder verborgen").first).to_be_visible()
    j.check("figures after the placement")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV herunterladen").click()
    assert download.value.suggested_filename.startswith("ankommen-kennzahlen-")
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8-sig") as exported:
        text = exported.read()
    assert "•" in text, "the export hides small counts like the page"
    assert "Hasan" not in text and "Hassan" not in text and "Muhammad" not in text

    page.get_by_role("link", name="Druckansicht").click()
    expect(page.get_by_role("button", name="Drucken")).to_be_visible()
    j.check("figures print view")
    page.emulate_media(media="print")
    expect(page.get_by_role("table", name=MONTHLY)).to_be_visible()
    j.check("figures as printed")
    page.emulate_media(media="screen")

    response = page.goto(case_url)
    assert response is not None and response.status in (403, 404)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("Zugriff verweigert|Nicht gefunden")
    )
    expect(page.get_by_text("Muhammad")).to_have_count(0)
    j.check("case refused")


def test_from_registration_to_placement_in_the_browser(journeys: Any) -> None:
    _people()

    management = journeys.open("4 management")
    log_in(management.page, "monitoring")
    management.page.goto(reverse("figures"))
    expect(management.page.get_by_role("heading", level=1, name="Kennzahlen")).to_be_visible()
    # Two placements this month: too few to show (suppressed as "•").
    expect(this_month(management.page, "Aufgenommen")).to_contain_text("•")
    expect(this_month(management.page, "Erfasst")).to_have_text("3")
    management.check("figures before")

    reference = journey_1_coordinator_registers_and_refers(journeys.open("1 coordinator"))
    journey_2_school_accepts_and_enrols(journeys.open("2 school"), reference)
    case_url = journey_3_coordinator_sees_the_placement(journeys.open("3 coordinator"), reference)
    journey_4_management_sees_figures(management, case_url)
    journeys.assert_clean()


def test_language_is_chosen_per_user(journeys: Any) -> None:
    """German by default; English chosen once is kept for the user, dates follow it."""
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=TeamFactory(), password=PASSWORD
    )
    case = CaseFactory(coordinator=coordinator, given_name="Samir", family_name="Nasser")
    j = journeys.open("language")
    page = j.page
    log_in(page, "koordination")
    page.goto(reverse("cases:detail", args=[case.pk]))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Verlauf", exact=True)).to_be_visible()
    expect(page.get_by_text(GERMAN_DATE).first).to_be_visible()

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
    expect(page.get_by_text(ENGLISH_DATE).first).to_be_visible()
    j.check("case in English")

    page.get_by_role("button", name="Log out").click()
    log_in_english = page.get_by_role("button", name=re.compile("Anmelden|Log in"))
    expect(log_in_english).to_be_visible()
    page.get_by_label(re.compile("Benutzername|User name")).fill("koordination")
    page.get_by_label(re.compile("Passwort|Password")).fill(PASSWORD)
    log_in_english.click()
    page.goto(reverse("cases:detail", args=[case.pk]))
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Verlauf", exact=True)).to_be_visible()
    journeys.assert_clean()


def test_a_coordinator_works_the_queue(journeys: Any) -> None:
    """Issue 17: the dashboard's work queue; an item marked seen leaves in place (htmx);
    a declined referral leads to a new one; the case page's banner says so."""
    from coordination.models import OfficeSettings

    district = DistrictFactory(name="Lützel")
    coordinator = UserFactory(
        username="koordination", role="coordinator", team=TeamFactory(), password=PASSWORD
    )
    school = InstitutionFactory(name=SCHOOL, district=district)
    staff = UserFactory(role="institution_staff", institutions=[school], password=PASSWORD)
    late = timezone.localdate() - dt.timedelta(days=OfficeSettings.current().waiting_limit_days + 3)
    waiting = CaseFactory(coordinator=coordinator, given_name="Samir", arrival_city=late)
    declined = ReferralFactory(
        coordinator=coordinator, institution=school, staff=staff, declined=True
    )
    j = journeys.open("work queue")
    page = j.page
    log_in(page, "koordination")
    page.goto(reverse("cases:dashboard"))
    queue = page.get_by_role("heading", name="Was heute ansteht")
    expect(queue).to_be_visible()
    item = page.locator(".app-queue__item--over_limit")
    expect(item).to_contain_text(waiting.reference)
    expect(page.locator(".app-queue__item--refer_again")).to_contain_text("abgelehnt")
    j.check("work queue")
    item.get_by_role("button", name="Als gesehen markieren").click()
    expect(page.locator(".app-queue__item--over_limit")).to_have_count(0)
    page.locator(".app-queue__item--refer_again").get_by_role(
        "link", name="Neue Vermittlung"
    ).click()
    expect(page).to_have_url(re.compile(reverse("referrals:create", args=[declined.case_id])))
    page.goto(reverse("cases:detail", args=[declined.case_id]))
    expect(page.get_by_text(f"{SCHOOL} hat die Vermittlung abgelehnt").first).to_be_visible()
    page.get_by_text("Kontakt erfassen").click()
    page.get_by_label("Datum", exact=True).fill(timezone.localdate().isoformat())
    page.get_by_label("Zeitpunkt").fill("00:01")
    page.get_by_label("Art des Kontakts").select_option("phone")
    page.get_by_label("Mit wem").select_option("school")
    page.get_by_label("Was besprochen wurde").fill("Schule hat keinen Platz in Klasse 2")
    page.get_by_role("button", name="Kontakt speichern").click()
    history = page.get_by_role("list", name=re.compile("Verlauf des Falls"))
    expect(history).to_contain_text("Telefonat mit: Schule")
    expect(history).to_contain_text(f"{SCHOOL} hat die Vermittlung abgelehnt: kein freier Platz")
    j.check("case with timeline")
    journeys.assert_clean()
