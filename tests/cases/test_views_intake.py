"""The intake form: validation, family contacts, duplicate warning, siblings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import Case, Guardian, State
from coordination.models import AuditEntry
from tests.factories import CaseFactory

URL = reverse("cases:register")
BIRTH = dt.date(timezone.localdate().year - 8, 3, 14)


def form(**overrides: str) -> dict[str, str]:
    data = {
        "given_name": "Lina",
        "family_name": "Darwish",
        "birth_date": BIRTH.isoformat(),
        "target_type": "school",
        "wanted_group": "g03",
        "languages": "Arabisch, Kurdisch",
        "school_years": "2",
        "guardians-TOTAL_FORMS": "2",
        "guardians-INITIAL_FORMS": "0",
        "guardians-MIN_NUM_FORMS": "0",
        "guardians-MAX_NUM_FORMS": "6",
        "guardians-0-name": "Nabil Darwish",
        "guardians-0-relation": "father",
        "guardians-0-phone": "+49 170 1234567",
        "guardians-0-preferred_language": "Arabisch",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_empty_form_renders(coord_client) -> None:
    response = coord_client.get(URL)
    assert response.status_code == 200
    assert 'name="given_name"' in response.content.decode()


def test_a_valid_intake_registers_the_case_with_its_contact(coord_client, coordinator) -> None:
    response = coord_client.post(URL, form())
    case = Case.objects.get()
    assert response.status_code == 302 and response.url == reverse("cases:detail", args=[case.pk])
    assert (case.given_name, case.languages, case.state) == (
        "Lina",
        ["Arabisch", "Kurdisch"],
        State.INTAKE,
    )
    guardian = Guardian.objects.get(family=case.family)
    assert (guardian.name, guardian.relation, guardian.is_contact_person) == (
        "Nabil Darwish",
        "father",
        True,
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"birth_date": (timezone.localdate() + dt.timedelta(days=1)).isoformat()},
            "birth_date",
            "cannot be in the future",
        ),
        ({"birth_date": "1990-01-01"}, "birth_date", "up to 21 years"),
        ({"birth_date": "31.02.2017"}, "birth_date", "valid date"),
        ({"given_name": ""}, "given_name", "required"),
        ({"family_name": "x" * 101}, "family_name", "at most 100"),
        ({"given_name": "Li\x07na"}, "given_name", "control characters"),
        ({"notes": "ok\x00"}, "notes", "control characters"),
        ({"target_type": "kita", "wanted_group": ""}, "target_type", "cannot take this target"),
        ({"target_type": "spaceship"}, "target_type", "valid choice"),
        ({"wanted_group": "kita_3"}, "wanted_group", "does not match the target"),
        ({"school_years": ""}, "school_years", "years of schooling"),
        ({"school_years": "9"}, "school_years", "age allows"),
        ({"languages": ""}, "languages", "required"),
        ({"languages": ",".join(f"L{i}" for i in range(11))}, "languages", "at most 10"),
        ({"interpreter_needed": "true"}, "interpreter_language", "interpreter"),
        (
            {"arrival_germany": "2025-05-01", "arrival_city": "2025-04-01"},
            "arrival_city",
            "before the arrival in Germany",
        ),
        ({"arrival_city": "2000-01-01"}, "arrival_city", "before the birth date"),
        ({"district": "999999"}, "district", "valid choice"),
    ],
)
def test_invalid_input_is_a_form_error_not_a_500(coord_client, overrides, field, message):
    response = coord_client.post(URL, form(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Case.objects.exists()


def test_too_many_school_years_get_one_message_not_two(coord_client) -> None:
    response = coord_client.post(URL, form(school_years="17"))
    assert response.status_code == 200
    errors = response.context["form"].errors["school_years"]
    assert len(errors) == 1 and "16" in errors[0], errors
    assert not Case.objects.exists()


def test_a_kita_child_needs_the_measles_answer(coord_client) -> None:
    birth = dt.date(timezone.localdate().year - 4, 1, 1).isoformat()
    data = form(birth_date=birth, target_type="kita", wanted_group="kita_3", school_years="")
    response = coord_client.post(URL, data)
    assert "measles_proof" in response.context["form"].errors
    response = coord_client.post(URL, {**data, "measles_proof": "false"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "guardians-0-name": "",
                "guardians-0-relation": "",
                "guardians-0-phone": "",
                "guardians-0-preferred_language": "",
            },
            "at least one family contact",
        ),
        ({"guardians-0-phone": ""}, "phone number or an e-mail"),
        ({"guardians-0-email": "not-an-address"}, "valid email"),
        ({"guardians-0-phone": "call me maybe"}, "phone number"),
        ({"guardians-TOTAL_FORMS": "50"}, "at most 6"),
    ],
)
def test_family_contact_errors(coord_client, overrides, message) -> None:
    response = coord_client.post(URL, form(**overrides))
    assert response.status_code == 200
    formset = response.context["formset"]
    text = " ".join(
        [
            *map(str, formset.non_form_errors()),
            *(str(e) for f in formset.forms for errs in f.errors.values() for e in errs),
        ]
    )
    assert message in text, text
    assert not Case.objects.exists()


def test_a_broken_post_without_management_form_is_not_a_500(coord_client) -> None:
    response = coord_client.post(URL, {"given_name": "x"})
    assert response.status_code == 200


# --- duplicates and siblings ------------------------------------------------------------------


@pytest.fixture
def lina(coordinator, district):
    return CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Lina",
        family_name="Darwish",
        birth_date=BIRTH,
    )


def test_a_duplicate_warns_and_links_the_visible_case(coord_client, lina) -> None:
    response = coord_client.post(URL, form(family_name="Darvish"))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("cases:detail", args=[lina.pk]) in html and lina.reference in html
    assert Case.objects.count() == 1  # nothing registered silently
    token = response.context["review_token"]
    # Saving again without confirming is refused with a clear message.
    response = coord_client.post(URL, form(family_name="Darvish", review=token))
    assert "confirm_duplicate" in response.context["form"].errors
    assert Case.objects.count() == 1
    # Confirmed: registered.
    response = coord_client.post(
        URL, form(family_name="Darvish", review=token, confirm_duplicate="on")
    )
    assert response.status_code == 302
    assert Case.objects.count() == 2


def test_changing_the_identity_shows_the_warning_again(coord_client, lina) -> None:
    token = coord_client.post(URL, form()).context["review_token"]
    other = form(given_name="Lena", review=token, confirm_duplicate="on")
    response = coord_client.post(URL, other)  # a new identity: the old review does not count
    assert response.status_code == 200 and Case.objects.count() == 1


def test_a_duplicate_in_another_team_names_only_the_team(
    coord_client, other_coordinator, district
) -> None:
    foreign = CaseFactory(
        coordinator=other_coordinator,
        district=district,
        given_name="Lina",
        family_name="Darwish",
        birth_date=BIRTH,
        notes="geheim",
    )
    response = coord_client.post(URL, form())
    html = response.content.decode()
    assert other_coordinator.team.name in html
    assert foreign.reference not in html
    assert reverse("cases:detail", args=[foreign.pk]) not in html
    # Nothing of the other team's case was decrypted for this user's page.
    assert not AuditEntry.objects.filter(detail__references=[foreign.reference]).exists()


def test_a_sibling_can_be_linked_at_intake(coord_client, lina) -> None:
    Guardian.objects.create(family=lina.family, relation="mother", name="Huda")
    first = coord_client.post(URL, form(given_name="Omar"))
    assert first.status_code == 200
    assert lina.reference in first.content.decode()
    token = first.context["review_token"]
    no_contact = {
        "guardians-0-name": "",
        "guardians-0-relation": "",
        "guardians-0-phone": "",
        "guardians-0-preferred_language": "",
    }
    response = coord_client.post(
        URL, form(given_name="Omar", review=token, sibling_of=str(lina.pk), **no_contact)
    )
    assert response.status_code == 302
    omar = Case.objects.exclude(pk=lina.pk).get()
    assert omar.family_id == lina.family_id
    assert list(Guardian.objects.filter(family=omar.family).values_list("name", flat=True)) == [
        "Huda"
    ]


def test_a_forged_sibling_choice_is_refused(coord_client, lina, other_coordinator, district):
    foreign = CaseFactory(coordinator=other_coordinator, district=district, family_name="Darwish")
    token = coord_client.post(URL, form(given_name="Omar")).context["review_token"]
    response = coord_client.post(
        URL, form(given_name="Omar", review=token, sibling_of=str(foreign.pk))
    )
    assert response.status_code == 200
    assert "sibling_of" in response.context["form"].errors
    assert Case.objects.count() == 2


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "given_name",
                "family_name",
                "birth_date",
                "target_type",
                "wanted_group",
                "languages",
                "school_years",
                "arrival_city",
                "district",
                "interpreter_needed",
                "guardians-0-email",
                "guardians-TOTAL_FORMS",
                "sibling_of",
                "review",
                "notes",
            ]
        ),
        st.text(max_size=300),
    )
)
def test_any_input_gives_a_page_or_a_redirect_never_a_500(coord_client, overrides) -> None:
    response = coord_client.post(URL, form(**overrides))
    assert response.status_code in (200, 302)


def test_nul_bytes_are_refused_before_they_reach_the_database(coord_client) -> None:
    # PostgreSQL text cannot hold NUL: every field must turn it into a form error.
    for field in ["district", "sibling_of", "family_name", "review", "target_type"]:
        assert coord_client.post(URL, form(**{field: "1\x00"})).status_code in (200, 302), field
    query = "?district=1%00&team=%00&coordinator=%00&q=%00abc&state=%00"
    assert coord_client.get(reverse("cases:list") + query).status_code == 200
    response = coord_client.post(
        reverse("cases:bulk_assign"), {"assign-cases": ["1\x00"], "assign-coordinator": "\x00"}
    )
    assert response.status_code == 302


def test_the_districts_of_the_teams_cases_come_first(coord_client, coordinator) -> None:
    from tests.factories import DistrictFactory

    ours = DistrictFactory(name="Zentrum")
    others = [DistrictFactory(name=name) for name in ("Altstadt", "Mitte")]
    CaseFactory(coordinator=coordinator, district=ours)
    html = coord_client.get(URL).content.decode()
    select = html[
        html.index('name="district"') : html.index("</select>", html.index('name="district"'))
    ]
    first = select.index('<optgroup label="Districts of your cases">')
    rest = select.index('<optgroup label="Other districts">')
    assert first < select.index(f'value="{ours.pk}"') < rest
    for district in others:
        assert select.index(f'value="{district.pk}"') > rest
    assert select.count(f'value="{ours.pk}"') == 1
    # A district outside the team's is still a valid choice.
    response = coord_client.post(URL, form(district=str(others[0].pk)))
    assert response.status_code == 302
    assert Case.objects.filter(district=others[0]).count() == 1
