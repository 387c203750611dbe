"""No personal value in a URL (issue 17.1): web servers log every request line, so a child's
name or birth date typed into a form must never travel in a query string, a redirect or a
link of the page that answers.

Every form that takes a name or a birth date is walked: it must post, and its answer (the
redirect's ``Location`` and every link, form action and source of the page shown after it)
must not contain the submitted values, in any of the forms they could take in a URL.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import quote, quote_plus

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import CaseFactory

GIVEN, FAMILY = "Sofiia", "Kovalenko"
BIRTH = dt.date(timezone.localdate().year - 8, 3, 14)
# Input names that carry a name, a birth date or another personal value.
PERSONAL_INPUTS = {"q", "given_name", "family_name", "birth_date", "name", "phone", "email",
                   "address", "duplicate", "guardians-0-name"}  # fmt: skip


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (values.get("method") or "get").lower(), "inputs": set()})
        elif tag in {"input", "select", "textarea"} and self.forms and values.get("name"):
            self.forms[-1]["inputs"].add(values["name"])


def forms_of(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def urls_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    found = [response["Location"]] if response.has_header("Location") else []
    html = response.content.decode() if not getattr(response, "streaming", False) else ""
    found += re.findall(r'(?:href|action|src|hx-get|hx-post)="([^"]*)"', html)
    return found


def spellings(*values: str) -> set[str]:
    out = set()
    for value in values:
        for form in (value, quote(value), quote_plus(value)):
            out.add(form.lower())
    return out


SECRET = spellings(GIVEN, FAMILY, f"{GIVEN} {FAMILY}", BIRTH.isoformat(),
                   BIRTH.strftime("%d.%m.%Y"))  # fmt: skip


def assert_no_personal_value(response) -> None:  # type: ignore[no-untyped-def]
    for url in urls_of(response):
        lowered = url.lower()
        leaked = [value for value in SECRET if value in lowered]
        assert not leaked, f"{url!r} carries {leaked}"


@pytest.fixture
def coord_client(client, coordinator):  # type: ignore[no-untyped-def]
    client.force_login(coordinator)
    return client


@pytest.fixture
def child(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district, given_name=GIVEN,
                       family_name=FAMILY, birth_date=BIRTH, ready=True)  # fmt: skip


def pages(child) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        reverse("cases:list"),
        reverse("cases:register"),
        reverse("cases:edit", args=[child.pk]),
        reverse("cases:guardian_add", args=[child.pk]),
        reverse("cases:merge", args=[child.pk]),
        reverse("referrals:create", args=[child.pk]),
    ]


def test_every_form_that_takes_a_personal_value_posts(coord_client, child) -> None:
    checked = 0
    for url in pages(child):
        response = coord_client.get(url)
        assert response.status_code == 200, url
        for form in forms_of(response.content.decode()):
            if form["inputs"] & PERSONAL_INPUTS:
                assert form["method"] == "post", f"a form on {url} sends {form['inputs']} by GET"
                checked += 1
    assert checked >= 5  # list, intake, edit, contact, merge


def test_the_case_list_search_keeps_the_term_out_of_every_url(coord_client, child) -> None:
    for query in (f"{GIVEN} {FAMILY}", FAMILY, BIRTH.strftime("%d.%m.%Y"), BIRTH.isoformat(),
                  f"{FAMILY} {BIRTH.strftime('%d.%m.%Y')}"):  # fmt: skip
        posted = coord_client.post(reverse("cases:list"), {"q": query, "sort": "newest"})
        assert_no_personal_value(posted)
        shown = coord_client.get(posted["Location"])
        assert [hit.case for hit in shown.context["page"].object_list] == [child]
        assert_no_personal_value(shown)


def test_the_intake_and_its_duplicate_check_keep_names_out_of_urls(coord_client, child) -> None:
    data = {
        "given_name": GIVEN, "family_name": FAMILY, "birth_date": BIRTH.isoformat(),
        "target_type": "school", "wanted_group": "g03", "languages": "Ukrainisch",
        "school_years": "2", "guardians-TOTAL_FORMS": "1", "guardians-INITIAL_FORMS": "0",
        "guardians-MIN_NUM_FORMS": "0", "guardians-MAX_NUM_FORMS": "6",
        "guardians-0-name": f"Oksana {FAMILY}", "guardians-0-relation": "mother",
        "guardians-0-phone": "+49 170 1234567",
    }  # fmt: skip
    warned = coord_client.post(reverse("cases:register"), data)
    assert warned.status_code == 200 and warned.context["review_token"]
    assert_no_personal_value(warned)
    data.update(review=warned.context["review_token"], confirm_duplicate="on")
    registered = coord_client.post(reverse("cases:register"), data)
    assert registered.status_code == 302
    assert_no_personal_value(registered)
    assert_no_personal_value(coord_client.get(registered["Location"]))


def test_contact_and_merge_forms_keep_personal_values_out_of_urls(coord_client, child) -> None:
    added = coord_client.post(
        reverse("cases:guardian_add", args=[child.pk]),
        {"name": f"Oksana {FAMILY}", "relation": "mother", "phone": "+49 1"},
    )
    assert added.status_code == 302
    assert_no_personal_value(added)
    merged = coord_client.post(reverse("cases:merge", args=[child.pk]), {"duplicate": FAMILY})
    assert_no_personal_value(merged)


def test_an_old_search_link_is_not_run(coord_client, child) -> None:
    response = coord_client.get(reverse("cases:list") + f"?q={FAMILY}")
    assert response.status_code == 200 and not response.context["searching"]
    assert_no_personal_value(response)
