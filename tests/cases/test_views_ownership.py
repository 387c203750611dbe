"""The case page's assign, transfer and edit forms: forged input is a form error, never a
silent change (issue 14, points 5 and 8)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import Case, CaseEvent
from cases.services import case_share
from tests.cases.test_views_case_page import edit_data
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district, family_name="Haddad")


def _messages(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_a_forged_coordinator_of_another_team_is_a_form_error(
    coord_client, case, coordinator, other_coordinator
) -> None:
    response = coord_client.post(
        reverse("cases:assign", args=[case.pk]),
        {"assign-coordinator": str(other_coordinator.pk)},
        follow=True,
    )
    assert "Choose a coordinator of your team." in _messages(response)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.team_id, saved.coordinator_id) == (coordinator.team_id, coordinator.pk)


def test_a_colleague_of_the_team_can_be_assigned(coord_client, case, colleague) -> None:
    response = coord_client.post(
        reverse("cases:assign", args=[case.pk]), {"assign-coordinator": str(colleague.pk)}
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).coordinator_id == colleague.pk


def test_a_shared_coordinator_cannot_assign_even_in_bulk(
    client, case, coordinator, other_coordinator
) -> None:
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    client.force_login(other_coordinator)
    for url, data in (
        (reverse("cases:assign", args=[case.pk]), {"assign-coordinator": other_coordinator.pk}),
        (
            reverse("cases:bulk_assign"),
            {"assign-coordinator": other_coordinator.pk, "assign-cases": [case.pk]},
        ),
    ):
        client.post(url, data)
    saved = Case.objects.get(pk=case.pk)
    assert (saved.team_id, saved.coordinator_id) == (coordinator.team_id, coordinator.pk)
    assert not saved.events.filter(kind=CaseEvent.Kind.ASSIGNED).exists()


def test_bulk_assign_with_a_foreign_case_assigns_nothing(
    coord_client, case, coordinator, colleague, other_coordinator, district
) -> None:
    foreign = CaseFactory(coordinator=other_coordinator, district=district)
    case_share(case=foreign, by=other_coordinator, with_user=coordinator)
    response = coord_client.post(
        reverse("cases:bulk_assign"),
        {"assign-coordinator": colleague.pk, "assign-cases": [case.pk, foreign.pk]},
        follow=True,
    )
    assert "Nothing was assigned" in _messages(response)
    assert Case.objects.get(pk=case.pk).coordinator_id == coordinator.pk


def test_the_case_page_offers_transfer_only_to_the_owning_team(
    coord_client, client, case, coordinator, other_coordinator
) -> None:
    html = coord_client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse("cases:transfer", args=[case.pk]) in html
    assert reverse("cases:assign", args=[case.pk]) in html
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    client.force_login(other_coordinator)
    html = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse("cases:transfer", args=[case.pk]) not in html
    assert reverse("cases:assign", args=[case.pk]) not in html


def test_transfer_through_the_page(coord_client, case, coordinator, other_coordinator) -> None:
    url = reverse("cases:transfer", args=[case.pk])
    page = coord_client.get(url)
    assert page.status_code == 200  # the form has a page of its own (thousands of teams)
    assert f'value="{other_coordinator.team_id}"' in page.content.decode()
    response = coord_client.post(
        url, {"transfer-team": other_coordinator.team_id, "transfer-reason": "Umzug"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:list")
    assert Case.objects.get(pk=case.pk).team_id == other_coordinator.team_id


def test_transfer_without_a_reason_is_a_form_error(
    coord_client, case, coordinator, other_coordinator
) -> None:
    response = coord_client.post(
        reverse("cases:transfer", args=[case.pk]),
        {"transfer-team": other_coordinator.team_id, "transfer-reason": ""},
    )
    assert response.status_code == 200  # shown again with the error at the field
    assert response.context["form"].errors["reason"]
    assert Case.objects.get(pk=case.pk).team_id == coordinator.team_id


def test_the_case_page_holds_no_list_of_teams_and_a_shared_user_cannot_transfer(
    coord_client, client, case, coordinator, other_coordinator
) -> None:
    html = coord_client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert 'name="transfer-team"' not in html
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    client.force_login(other_coordinator)
    url = reverse("cases:transfer", args=[case.pk])
    assert client.get(url).status_code == 302
    client.post(url, {"transfer-team": other_coordinator.team_id, "transfer-reason": "x"})
    assert Case.objects.get(pk=case.pk).team_id == coordinator.team_id


@pytest.mark.parametrize("version", [None, "", "abc", "1.5", "-1", "²", "9" * 30])
def test_edit_without_a_valid_version_is_a_form_error(coord_client, case, version) -> None:
    data = edit_data(case, family_name="Hadad", health_notes="")
    if version is None:
        del data["version"]
    else:
        data["version"] = version
    response = coord_client.post(reverse("cases:edit", args=[case.pk]), data)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].non_field_errors())
    assert "version" in errors
    assert Case.objects.get(pk=case.pk).family_name == "Haddad"


def test_an_invalid_yes_no_answer_is_a_form_error_not_unknown(coord_client, case) -> None:
    from cases.services import case_update

    fresh = Case.objects.get(pk=case.pk)
    case_update(case=fresh, by=fresh.coordinator, data={"interpreter_needed": True,
                "interpreter_language": "Arabisch"}, expected_version=fresh.version)  # fmt: skip
    data = edit_data(
        case, interpreter_needed="vielleicht", interpreter_language="Arabisch", health_notes=""
    )
    response = coord_client.post(reverse("cases:edit", args=[case.pk]), data)
    assert response.status_code == 200
    assert "interpreter_needed" in response.context["form"].errors
    assert Case.objects.get(pk=case.pk).interpreter_needed is True
