"""The public offers page: no login, no cookie, cacheable, filterable, nothing personal."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from offers.models import OfferKind
from offers.services import registration_create
from tests.factories import CaseFactory, DistrictFactory, OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(coordinator, district):
    provider = ProviderFactory(
        name="Caritas Test", district=district, email="kontakt@caritas.example"
    )
    german = OfferFactory(
        provider=provider, title="Sprachcafé für Kinder", languages=["Ukrainisch"]
    )
    homework = OfferFactory(
        provider=provider, kind=OfferKind.HOMEWORK_HELP, title="Hausaufgabenhilfe Süd",
        min_age=10, max_age=16, is_free=False, fee=15, but_eligible=True,
        district=DistrictFactory(name="Südstadt"),
    )  # fmt: skip
    inactive = OfferFactory(provider=provider, title="Alter Kurs", is_active=False)
    case = CaseFactory(coordinator=coordinator, given_name="Oleksandra", family_name="Tkachenko")
    registration_create(case=case, offer=german, by=coordinator, message="Geheimer Hinweis")
    return {"german": german, "homework": homework, "inactive": inactive, "case": case}


def test_anonymous_get_sets_no_cookie_and_is_publicly_cacheable(world):
    response = Client().get(reverse("angebote:list"))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert response["Cache-Control"].startswith("public, max-age=")
    assert response["Content-Language"] == "de"


def test_the_page_shows_no_personal_value_and_no_case_reference(world):
    case = world["case"]
    for url in (reverse("angebote:list"),
                reverse("angebote:flyer", args=[world["german"].district_id]),
                reverse("angebote:list") + "?lang=en"):  # fmt: skip
        html = Client().get(url).content.decode()
        assert "Sprachcafé für Kinder" in html
        for value in (case.reference, case.given_name, case.family_name, "Geheimer Hinweis",
                      case.birth_date.strftime("%d.%m.%Y")):  # fmt: skip
            assert value not in html, (url, value)
        assert "csrfmiddlewaretoken" not in html


def test_inactive_offers_are_not_shown(world):
    html = Client().get(reverse("angebote:list")).content.decode()
    assert "Alter Kurs" not in html


def test_filters_by_kind_age_language_and_cost(world):
    client = Client()
    url = reverse("angebote:list")
    html = client.get(url, {"kind": "homework"}).content.decode()
    assert "Hausaufgabenhilfe Süd" in html and "Sprachcafé" not in html
    html = client.get(url, {"age": "7"}).content.decode()
    assert "Sprachcafé" in html and "Hausaufgabenhilfe Süd" not in html
    html = client.get(url, {"language": "Ukrainisch"}).content.decode()
    assert "Sprachcafé" in html and "Hausaufgabenhilfe Süd" not in html
    html = client.get(url, {"free": "on"}).content.decode()
    assert "Hausaufgabenhilfe Süd" in html  # paid, but covered by Bildung und Teilhabe
    html = client.get(url, {"district": str(world["german"].district_id)}).content.decode()
    assert "Sprachcafé" in html and "Hausaufgabenhilfe Süd" not in html


def test_junk_filter_values_mean_all_and_never_fail(world):
    response = Client().get(
        reverse("angebote:list"),
        {"age": "x" * 50, "district": "99999999999999999999", "kind": "<b>"},
    )
    assert response.status_code == 200


def test_english_by_query_parameter_and_not_by_accept_language(world):
    response = Client().get(reverse("angebote:list"), {"lang": "en"})
    assert response["Content-Language"] == "en"
    assert "Education offers for newly arrived" in response.content.decode()
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("angebote:list"))
    assert response["Content-Language"] == "de"
    assert '<html lang="de">' in response.content.decode()


def test_flyer_groups_a_districts_offers_and_names_the_contact(world):
    district_pk = world["german"].district_id
    html = Client().get(reverse("angebote:flyer", args=[district_pk])).content.decode()
    assert "Sprachcafé für Kinder" in html and "kontakt@caritas.example" in html
    assert "Hausaufgabenhilfe Süd" not in html
    assert Client().get(reverse("angebote:flyer", args=[987654])).status_code == 404


def test_a_logged_in_user_gets_a_private_answer(world, coordinator):
    client = Client()
    client.force_login(coordinator)
    response = client.get(reverse("angebote:list"))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
