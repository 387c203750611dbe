"""The case page and its actions: transitions, edit, contacts, assignment, sharing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cases.models import Case, CaseEvent, Guardian, State
from cases.selectors import cases_visible_to
from coordination.models import AuditEntry
from tests.factories import CaseFactory, UserFactory


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Amina",
        family_name="Haddad",
        health_notes="Asthma",
        clarification=True,
    )


def detail_url(case: Case) -> str:
    return reverse("cases:detail", args=[case.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_page_shows_the_data_history_and_allowed_steps(coord_client, case) -> None:
    Guardian.objects.create(
        family=case.family, relation="mother", name="Rasha Haddad", phone="+49 170 9"
    )
    html = coord_client.get(detail_url(case)).content.decode()
    for text in (
        "Amina Haddad",
        "Asthma",
        "Rasha Haddad",
        "+49 170 9",
        case.reference,
        'value="mark_ready"',
        'value="hold"',
        'value="close"',
    ):
        assert text in html, text
    assert 'value="reopen"' not in html and 'value="start_clarification"' not in html
    assert html.count('name="expected_state" value="clarification"') == 3


def test_viewing_the_case_is_audit_logged_with_the_fields_shown(coord_client, case) -> None:
    coord_client.get(detail_url(case))
    entry = AuditEntry.objects.filter(action="case.view", case_reference=case.reference).get()
    assert {"given_name", "birth_date", "health_notes", "guardians"} <= set(entry.fields)
    assert entry.actor.username == "coord"


def test_a_transition_button_moves_the_case(coord_client, case) -> None:
    response = coord_client.post(
        reverse("cases:transition", args=[case.pk]),
        {"transition": "hold", "expected_state": "clarification", "comment": "Reise"},
    )
    assert response.status_code == 302 and response.url == detail_url(case)
    assert Case.objects.get(pk=case.pk).state == State.ON_HOLD
    assert CaseEvent.objects.filter(case=case, to_state="on_hold").get().comment == "Reise"


def test_a_concurrent_change_is_refused_with_a_message(coord_client, case, colleague) -> None:
    from cases.services import case_transition

    case_transition(
        case=Case.objects.get(pk=case.pk), by=colleague, transition="hold", comment="Kollegin"
    )
    response = coord_client.post(
        reverse("cases:transition", args=[case.pk]),
        {"transition": "close", "expected_state": "clarification", "reason": "moved_away"},
    )
    assert "Someone else changed this record" in " ".join(messages_of(response))
    assert Case.objects.get(pk=case.pk).state == State.ON_HOLD


@pytest.mark.parametrize("transition", ["place", "reopen", "__init__", "x" * 90])
def test_a_forged_transition_is_refused_and_logged(coord_client, case, transition) -> None:
    response = coord_client.post(
        reverse("cases:transition", args=[case.pk]),
        {"transition": transition, "expected_state": "clarification"},
    )
    assert response.status_code == 302
    assert messages_of(response)
    assert Case.objects.get(pk=case.pk).state == State.CLARIFICATION
    assert AuditEntry.objects.filter(action="case.transition_refused").count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"transition": "close", "expected_state": "clarification"},
        {"transition": "close", "expected_state": "clarification", "reason": "bogus"},
        {"transition": "hold", "expected_state": "clarification", "comment": "\x00"},
        {},
    ],
)
def test_bad_transition_input_is_a_message_not_a_500(coord_client, case, data) -> None:
    response = coord_client.post(reverse("cases:transition", args=[case.pk]), data)
    assert response.status_code == 302
    assert messages_of(response)
    assert Case.objects.get(pk=case.pk).state == State.CLARIFICATION


def test_ready_is_explained_when_placement_data_is_missing(coord_client, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator, clarification=True, wanted_group="")
    html = coord_client.get(detail_url(case)).content.decode()
    assert "Before looking for a place" in html
    assert 'value="mark_ready"' not in html


# --- edit ----------------------------------------------------------------------------------


def edit_data(case: Case, **overrides: str) -> dict[str, str]:
    data = {
        "given_name": case.given_name,
        "family_name": case.family_name,
        "birth_date": case.birth_date.isoformat(),
        "target_type": case.target_type,
        "wanted_group": case.wanted_group,
        "district": str(case.district_id),
        "languages": ", ".join(case.languages),
        "school_years": "1",
        "waiting_since": case.waiting_since.isoformat(),
        "version": str(Case.objects.get(pk=case.pk).version),
        "health_notes": case.health_notes,
    }
    data.update(overrides)
    return data


def test_edit_shows_the_current_values_and_is_logged(coord_client, case) -> None:
    response = coord_client.get(reverse("cases:edit", args=[case.pk]))
    assert response.status_code == 200
    assert 'value="Amina"' in response.content.decode()
    assert AuditEntry.objects.filter(action="case.view", detail__view="edit").exists()


def test_edit_saves_through_the_service(coord_client, case) -> None:
    response = coord_client.post(
        reverse("cases:edit", args=[case.pk]), edit_data(case, family_name="Hadad")
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).family_name == "Hadad"
    assert case.events.filter(kind=CaseEvent.Kind.EDITED).exists()


def test_clearing_the_waiting_date_keeps_it(coord_client, case) -> None:
    before = Case.objects.get(pk=case.pk).waiting_since
    response = coord_client.post(
        reverse("cases:edit", args=[case.pk]), edit_data(case, waiting_since="", notes="x")
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).waiting_since == before


def test_edit_validates_like_the_intake(coord_client, case) -> None:
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    response = coord_client.post(
        reverse("cases:edit", args=[case.pk]), edit_data(case, birth_date=future, languages="")
    )
    assert response.status_code == 200
    assert {"birth_date", "languages"} <= set(response.context["form"].errors)
    assert Case.objects.get(pk=case.pk).birth_date == case.birth_date


def test_edit_over_a_newer_version_is_refused(coord_client, case, colleague) -> None:
    data = edit_data(case, family_name="Hadad")
    from cases.services import case_update

    fresh = Case.objects.get(pk=case.pk)
    case_update(case=fresh, by=colleague, data={"notes": "neu"}, expected_version=fresh.version)
    response = coord_client.post(reverse("cases:edit", args=[case.pk]), data)
    assert response.status_code == 200
    assert "changed by someone else" in " ".join(response.context["form"].non_field_errors())
    assert Case.objects.get(pk=case.pk).family_name == "Haddad"


# --- contacts, assignment, sharing, siblings ------------------------------------------------


def test_a_contact_is_added_and_edited(coord_client, case) -> None:
    response = coord_client.post(
        reverse("cases:guardian_add", args=[case.pk]),
        {"name": "Rasha", "relation": "mother", "email": "rasha@example.org"},
    )
    assert response.status_code == 302
    guardian = Guardian.objects.get(family=case.family)
    url = reverse("cases:guardian_edit", args=[case.pk, guardian.pk])
    assert 'value="Rasha"' in coord_client.get(url).content.decode()
    coord_client.post(url, {"name": "Rasha H.", "relation": "mother", "phone": "+49 1"})
    assert Guardian.objects.get(pk=guardian.pk).name == "Rasha H."
    response = coord_client.post(url, {"name": "", "relation": "aunt"})
    assert set(response.context["form"].errors) == {"name", "relation", "phone"}


def test_a_contact_of_another_family_is_a_404(coord_client, case, coordinator) -> None:
    other = CaseFactory(coordinator=coordinator)
    guardian = Guardian.objects.create(family=other.family, relation="father", name="X")
    url = reverse("cases:guardian_edit", args=[case.pk, guardian.pk])
    assert coord_client.get(url).status_code == 404


def test_assign_share_and_unshare_from_the_page(
    coord_client, case, colleague, other_coordinator
) -> None:
    coord_client.post(reverse("cases:assign", args=[case.pk]), {"assign-coordinator": colleague.pk})
    assert Case.objects.get(pk=case.pk).coordinator_id == colleague.pk
    coord_client.post(
        reverse("cases:share", args=[case.pk]),
        {"share-with_user": other_coordinator.username.upper()},
    )
    assert cases_visible_to(other_coordinator).filter(pk=case.pk).exists()
    coord_client.post(
        reverse("cases:unshare", args=[case.pk]), {"unshare-with_user": other_coordinator.pk}
    )
    assert not cases_visible_to(other_coordinator).filter(pk=case.pk).exists()


def test_sharing_with_an_unknown_or_same_team_user_name_is_a_form_error(
    coord_client, case, colleague
) -> None:
    for name in ("nobody-here", colleague.username):
        response = coord_client.post(
            reverse("cases:share", args=[case.pk]), {"share-with_user": name}, follow=True
        )
        assert response.status_code == 200
        assert "no coordinator of another team" in response.content.decode()
    assert not Case.objects.get(pk=case.pk).caseuserobjectpermission_set.exists()


def test_assigning_to_a_non_coordinator_is_refused(coord_client, case) -> None:
    staff = UserFactory(role="institution_staff")
    response = coord_client.post(
        reverse("cases:assign", args=[case.pk]), {"assign-coordinator": staff.pk}
    )
    assert messages_of(response)
    assert Case.objects.get(pk=case.pk).coordinator.username == "coord"


def test_a_sibling_is_linked_from_the_page(coord_client, case, coordinator) -> None:
    brother = CaseFactory(coordinator=coordinator, given_name="Yousef", family_name="Hadad")
    html = coord_client.get(detail_url(case)).content.decode()
    assert brother.reference in html
    coord_client.post(reverse("cases:link_sibling", args=[case.pk]), {"link-sibling": brother.pk})
    assert Case.objects.get(pk=brother.pk).family_id == case.family_id
    assert "Yousef" in coord_client.get(detail_url(case)).content.decode()


def test_bulk_assign_from_the_list(coord_client, coordinator, colleague, other_coordinator):
    mine = [CaseFactory(coordinator=coordinator) for _ in range(3)]
    foreign = CaseFactory(coordinator=other_coordinator)
    url = reverse("cases:bulk_assign")
    response = coord_client.post(
        url, {"assign-cases": [mine[0].pk, foreign.pk], "assign-coordinator": colleague.pk}
    )
    assert messages_of(response)  # the forged id is an invalid choice: nothing assigned
    assert not Case.objects.filter(coordinator=colleague).exists()
    for huge in ("9223372036854775808", str(10**40)):  # no id at all: the same, not a 500
        response = coord_client.post(
            url, {"assign-cases": [mine[0].pk, huge], "assign-coordinator": colleague.pk}
        )
        assert response.status_code == 302 and messages_of(response)
    assert not Case.objects.filter(coordinator=colleague).exists()
    response = coord_client.post(
        url,
        {
            "assign-cases": [c.pk for c in mine],
            "assign-coordinator": colleague.pk,
            "next": "/cases/list/?state=intake",
        },
    )
    assert response.url == "/cases/list/?state=intake"
    assert Case.objects.filter(coordinator=colleague).count() == 3
    response = coord_client.post(
        url,
        {
            "assign-cases": [mine[0].pk],
            "next": "https://evil.example/",
            "assign-coordinator": coordinator.pk,
        },
    )
    assert response.url == reverse("cases:list")


def test_the_case_page_query_count_does_not_grow_with_siblings(
    coord_client, coordinator, district
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_with(siblings: int) -> int:
        first = CaseFactory(coordinator=coordinator, district=district, family_name="Kovalenko")
        from cases.services import case_link_sibling

        for _ in range(siblings):
            sibling = CaseFactory(coordinator=coordinator, district=district)
            case_link_sibling(case=first, by=coordinator, sibling=sibling)
        coord_client.get(detail_url(first))  # warm-up
        with CaptureQueriesContext(connection) as ctx:
            response = coord_client.get(detail_url(first))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(1) == queries_with(4)
