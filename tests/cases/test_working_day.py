"""The working day (issue 17): the work queue's own items, follow-ups, the case journal and
the timeline, the case page's next step, erasure and the Art. 15 copy of the new records."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cases.access import case_full_record
from cases.models import Case, CaseEvent, FollowUp, JournalEntry, WorkItemSeen
from cases.retention import case_archive_decision, case_erase, case_offer_to_archive
from cases.selectors import work_queue
from cases.services import (
    case_transition,
    followup_cancel,
    followup_complete,
    followup_create,
    followup_postpone,
    journal_add,
    work_item_mark_seen,
)
from cases.timeline import case_timeline
from coordination.exceptions import DomainError, NotAllowed
from coordination.models import AuditEntry, OfficeSettings
from tests.factories import CaseFactory

pytestmark = pytest.mark.usefixtures("english")

TODAY = timezone.localdate


def _kinds(user, scope="mine") -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(i.case_id, i.kind) for i in work_queue(user=user, scope=scope)["items"]]


def _raw(table: str, pk: int) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 - test
        columns = [c[0] for c in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


# --- follow-ups ----------------------------------------------------------------------------


def test_followup_lifecycle_is_kept_in_the_history(coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    first = followup_create(case=case, by=coordinator, due_on=TODAY(), reason="Impfnachweis")
    later = followup_postpone(followup=first, by=coordinator, due_on=TODAY() + dt.timedelta(days=7))
    first.refresh_from_db()
    assert first.state == FollowUp.State.POSTPONED and first.replaced_by_id == later.pk
    assert later.reason == "Impfnachweis" and later.for_user_id == coordinator.pk
    followup_complete(followup=later, by=coordinator)
    other = followup_create(
        case=case, by=coordinator, due_on=TODAY(), reason="Rückruf", for_team=True
    )
    assert other.for_team_id == case.team_id and other.for_user_id is None
    followup_cancel(followup=other, by=coordinator)
    lines = list(
        CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.FOLLOWUP)
        .order_by("id")
        .values_list("transition", flat=True)
    )
    assert lines == ["created", "postponed", "done", "created", "cancelled"]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"followup.created", "followup.postponed", "followup.done"} <= actions
    titles = [e.title for e in case_timeline(case=case)]
    assert any("postponed from" in t for t in titles)
    assert any(t.startswith("Follow-up of") and t.endswith("done") for t in titles)
    assert any(t.endswith("cancelled") for t in titles)


def test_followup_refuses_a_past_date_and_a_closed_one(coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    with pytest.raises(DomainError, match="cannot be in the past"):
        followup_create(
            case=case, by=coordinator, due_on=TODAY() - dt.timedelta(days=1), reason="x"
        )
    followup = followup_create(case=case, by=coordinator, due_on=TODAY(), reason="x")
    followup_complete(followup=followup, by=coordinator)
    with pytest.raises(DomainError, match="already closed"):
        followup_cancel(followup=followup, by=coordinator)


def test_followup_only_by_who_may_work_the_case(coordinator, other_coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    with pytest.raises(NotAllowed):
        followup_create(case=case, by=other_coordinator, due_on=TODAY(), reason="x")


def test_followup_form_shows_a_clear_error_and_keeps_the_input(coord_client, coordinator):
    case = CaseFactory(coordinator=coordinator)
    yesterday = (TODAY() - dt.timedelta(days=1)).isoformat()
    response = coord_client.post(
        reverse("cases:followup_add", args=[case.pk]),
        {"followup-due_on": yesterday, "followup-reason": "Zeugnis", "followup-for_whom": "me"},
    )
    assert response.status_code == 200
    assert "The follow-up date cannot be in the past." in response.content.decode()
    assert 'value="Zeugnis"' in response.content.decode()
    assert not FollowUp.objects.exists()


def test_followup_reason_is_encrypted_at_rest(coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    followup = followup_create(case=case, by=coordinator, due_on=TODAY(), reason="Impfnachweis")
    raw = _raw("cases_followup", followup.pk)
    assert b"Impfnachweis" not in bytes(raw["reason"])  # type: ignore[arg-type]


# --- the journal -----------------------------------------------------------------------------


def test_journal_add_encrypts_and_reads_in_the_timeline(coord_client, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    response = coord_client.post(
        reverse("cases:journal_add", args=[case.pk]),
        {
            "journal-date": TODAY().isoformat(),
            "journal-time": "00:05",
            "journal-kind": "phone",
            "journal-with_whom": "family",
            "journal-interpreter": "on",
            "journal-interpreter_language": "Arabisch",
            "journal-text": "Mutter bringt das Zeugnis am Montag",
        },
    )
    assert response.status_code == 302
    entry = JournalEntry.objects.get(case=case)
    assert entry.interpreter and entry.interpreter_language == "Arabisch"
    raw = _raw("cases_journalentry", entry.pk)
    assert b"Zeugnis" not in bytes(raw["text"])  # type: ignore[arg-type]
    page = coord_client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "Phone call with: family" in page
    assert "with an interpreter (Arabisch)" in page
    assert "Mutter bringt das Zeugnis am Montag" in page
    view = AuditEntry.objects.filter(action="case.view").order_by("-id").first()
    assert view is not None and "journal.text" in view.fields


def test_journal_needs_the_language_when_an_interpreter_took_part(coord_client, coordinator):
    case = CaseFactory(coordinator=coordinator)
    response = coord_client.post(
        reverse("cases:journal_add", args=[case.pk]),
        {
            "journal-date": TODAY().isoformat(),
            "journal-time": "00:01",
            "journal-kind": "interpreted",
            "journal-with_whom": "family",
            "journal-text": "Gespräch",
        },
    )
    assert response.status_code == 200
    assert "Please name the language of the interpretation." in response.content.decode()
    assert not JournalEntry.objects.exists()


def test_journal_refuses_a_time_in_the_future(coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    with pytest.raises(DomainError, match="future"):
        journal_add(
            case=case, by=coordinator, at=timezone.now() + dt.timedelta(days=1),
            kind="phone", with_whom="family", text="x",
        )  # fmt: skip


# --- erasure and the Art. 15 copy ------------------------------------------------------------


def test_erasure_empties_followups_and_journal(coordinator, admin_user_role) -> None:
    case = CaseFactory(coordinator=coordinator)
    followup = followup_create(case=case, by=coordinator, due_on=TODAY(), reason="Impfnachweis")
    entry = journal_add(
        case=case, by=coordinator, at=timezone.now(), kind="phone", with_whom="family",
        text="Vater arbeitet nachts", interpreter=True, interpreter_language="Dari",
    )  # fmt: skip
    followup_complete(followup=followup, by=coordinator)
    case_transition(case=case, by=coordinator, transition="close", reason="moved_away")
    Case.objects.filter(pk=case.pk).update(closed_on=TODAY() - dt.timedelta(days=5 * 366))
    case_offer_to_archive(cases=[case], by=admin_user_role)
    case_archive_decision(case=case, by=admin_user_role, taken=False)
    case_erase(case=case)
    assert _raw("cases_followup", followup.pk)["reason"] is None
    raw = _raw("cases_journalentry", entry.pk)
    assert raw["text"] is None and raw["interpreter_language"] is None
    assert raw["kind"] == "phone"  # the plain, coded facts stay


def test_art15_copy_includes_followups_and_journal(coord_client, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    followup_create(case=case, by=coordinator, due_on=TODAY(), reason="Impfnachweis")
    journal_add(
        case=case, by=coordinator, at=timezone.now(), kind="letter", with_whom="school",
        text="Brief an die Schule",
    )  # fmt: skip
    record = case_full_record(case=case)
    assert record["followups"][0]["reason"] == "Impfnachweis"
    assert record["journal"][0]["text"] == "Brief an die Schule"
    page = coord_client.get(reverse("cases:access_report", args=[case.pk])).content.decode()
    assert "Impfnachweis" in page and "Brief an die Schule" in page


# --- the work queue: the case's own items ----------------------------------------------------


def test_due_followup_appears_and_leaves_when_done(coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    soon = followup_create(
        case=case, by=coordinator, due_on=TODAY() + dt.timedelta(days=2), reason="x"
    )
    assert (case.pk, "followup") not in _kinds(coordinator)
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        assert (case.pk, "followup") in _kinds(coordinator)
        followup_complete(followup=soon, by=coordinator)
        assert (case.pk, "followup") not in _kinds(coordinator)


def test_team_followup_shows_in_the_team_queue_of_a_colleague(coordinator, colleague) -> None:
    case = CaseFactory(coordinator=coordinator)
    followup_create(case=case, by=coordinator, due_on=TODAY(), reason="x", for_team=True)
    mine = followup_create(case=case, by=coordinator, due_on=TODAY(), reason="y")
    assert (case.pk, "followup") not in _kinds(colleague, "mine")
    team = work_queue(user=colleague, scope="team")["items"]
    assert [i.key for i in team if i.kind == "followup"] == [
        f"followup:{mine.pk - 1}",
        f"followup:{mine.pk}",
    ]


def test_over_the_limit_and_stuck_appear_and_leave_when_marked_seen(coordinator) -> None:
    office = OfficeSettings.current()
    case = CaseFactory(
        coordinator=coordinator,
        arrival_city=TODAY() - dt.timedelta(days=office.waiting_limit_days + 5),
    )
    Case.objects.filter(pk=case.pk).update(
        state_changed_at=timezone.now() - dt.timedelta(days=office.stuck_target_days + 1)
    )
    items = {i.kind: i for i in work_queue(user=coordinator)["items"]}
    assert {"over_limit", "stuck"} <= set(items)
    assert "over_target" not in items  # the stronger one only
    assert items["over_limit"].action_label == "Start clarification"
    work_item_mark_seen(case=case, by=coordinator, key=items["over_limit"].key)
    assert (case.pk, "over_limit") not in _kinds(coordinator)
    assert (case.pk, "stuck") in _kinds(coordinator)


def test_stuck_leaves_when_the_step_is_taken(coordinator) -> None:
    office = OfficeSettings.current()
    case = CaseFactory(coordinator=coordinator)
    Case.objects.filter(pk=case.pk).update(
        state_changed_at=timezone.now() - dt.timedelta(days=office.stuck_target_days + 1)
    )
    assert (case.pk, "stuck") in _kinds(coordinator)
    case.refresh_from_db()
    case_transition(case=case, by=coordinator, transition="start_clarification")
    assert (case.pk, "stuck") not in _kinds(coordinator)


def test_a_likely_duplicate_is_one_item_on_the_newer_case(coordinator) -> None:
    older = CaseFactory(coordinator=coordinator, given_name="Amina", family_name="Haddad")
    newer = CaseFactory(coordinator=coordinator, given_name="Amina", family_name="Hadad")
    items = [i for i in work_queue(user=coordinator)["items"] if i.kind == "duplicate"]
    assert [(i.case_id, i.key) for i in items] == [(newer.pk, f"duplicate:{older.pk}")]
    assert items[0].action_url == reverse("cases:merge", args=[older.pk])
    assert older.reference in items[0].text


def test_the_mine_queue_leaves_out_a_colleagues_cases(coordinator, colleague) -> None:
    office = OfficeSettings.current()
    late = TODAY() - dt.timedelta(days=office.waiting_limit_days + 1)
    theirs = CaseFactory(coordinator=colleague, arrival_city=late)
    assert (theirs.pk, "over_limit") not in _kinds(coordinator, "mine")
    assert (theirs.pk, "over_limit") in _kinds(coordinator, "team")


def test_mark_seen_refuses_a_case_of_another_team(coordinator, other_coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    with pytest.raises(NotAllowed):
        work_item_mark_seen(case=case, by=other_coordinator, key="stuck:intake:2026-01-01")
    with pytest.raises(DomainError):
        work_item_mark_seen(case=case, by=coordinator, key=WorkItemSeen.LOOKED)


def test_dashboard_mark_seen_works_without_js_and_with_htmx(coord_client, coordinator) -> None:
    office = OfficeSettings.current()
    case = CaseFactory(
        coordinator=coordinator,
        arrival_city=TODAY() - dt.timedelta(days=office.waiting_limit_days + 1),
    )
    page = coord_client.get(reverse("cases:dashboard")).content.decode()
    assert "What needs me today" in page and case.reference in page
    (item,) = [i for i in work_queue(user=coordinator)["items"] if i.kind == "over_limit"]
    url = reverse("cases:work_item_seen", args=[case.pk])
    response = coord_client.post(url, {"key": item.key, "next": reverse("cases:dashboard")})
    assert response.status_code == 302 and response.url == reverse("cases:dashboard")
    WorkItemSeen.objects.all().delete()
    response = coord_client.post(url, {"key": item.key}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.content == b""
    assert not [i for i in work_queue(user=coordinator)["items"] if i.kind == "over_limit"]


@pytest.mark.parametrize("count", [1, 30])
def test_the_queue_costs_a_fixed_number_of_queries(
    count, coordinator, coord_client, django_assert_max_num_queries
) -> None:
    office = OfficeSettings.current()
    late = TODAY() - dt.timedelta(days=office.waiting_limit_days + 1)
    for _ in range(count):
        case = CaseFactory(coordinator=coordinator, arrival_city=late)
        followup_create(case=case, by=coordinator, due_on=TODAY(), reason="x")
    OfficeSettings.current()
    with django_assert_max_num_queries(12):
        result = work_queue(user=coordinator, scope="team")
    assert result["count"] >= 2 * count
    with django_assert_max_num_queries(40):
        coord_client.get(reverse("cases:dashboard"))


# --- the case page leads to the next step ----------------------------------------------------


def _primary_labels(page: str) -> list[str]:
    import re

    return re.findall(
        r'kern-btn--primary"[^>]*>(?:<span[^>]*></span>)?<span class="kern-label">([^<]+)<', page
    )


@pytest.mark.parametrize(
    ("traits", "label"),
    [
        ({}, "Start clarification"),
        ({"clarification": True}, "Ready: look for a place"),
        ({"ready": True}, "Refer to a school or Kita"),
        ({"on_hold": True}, "Resume"),
    ],
)
def test_case_page_primary_button_is_the_step_forward(coord_client, coordinator, traits, label):
    case = CaseFactory(coordinator=coordinator, **traits)
    page = coord_client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert _primary_labels(page) == [label]


def test_case_page_links_the_art15_copy(coord_client, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    page = coord_client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse("cases:access_report", args=[case.pk]) in page


def test_opening_the_case_page_records_the_look(coord_client, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    coord_client.get(reverse("cases:detail", args=[case.pk]))
    assert WorkItemSeen.objects.filter(
        user=coordinator, case=case, key=WorkItemSeen.LOOKED
    ).exists()
