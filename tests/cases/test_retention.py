"""Retention: due cases, offer to the archive with the hand-over file, the archive's decision,
erasure of personal data that keeps the statistics, the daily task and the command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from cases.models import ArchiveStatus, Case, CaseEvent, Guardian
from cases.retention import (
    case_archive_decision,
    case_erase,
    case_offer_to_archive,
    cases_due_for_retention,
    months_before,
    retention_run,
)
from cases.services import case_register, case_transition
from coordination.audit import verify_chain_report
from coordination.exceptions import DomainError, NotAllowed
from coordination.fields import encrypted_fields
from coordination.models import AuditEntry, OfficeSettings, OutboxMessage
from tests.factories import CaseFactory, ReferralFactory
from tests.second_factor import log_in

PAST = dt.datetime(2022, 1, 10, 9, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _english():  # type: ignore[no-untyped-def]
    """Messages are matched in English (the German catalogue may translate them)."""
    from django.utils import translation

    with translation.override("en"):
        yield


NOW = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def closed_case(coordinator, institution, school_user):  # type: ignore[no-untyped-def]
    """A case closed in January 2022 with guardians, a declined referral and comments."""
    with time_machine.travel(PAST, tick=False):
        case = CaseFactory(
            coordinator=coordinator,
            ready=True,
            district=institution.district,
            address="Moselweg 3",
            notes="Vater arbeitet nachts",
            health_notes="Asthma",
        )
        Guardian.objects.create(
            family=case.family,
            relation="mother",
            name="Leyla Haddad",
            phone="+49 261 1234",
            email="leyla@example.org",
        )
        ReferralFactory(
            coordinator=coordinator,
            institution=institution,
            staff=school_user,
            case=case,
            declined=True,
        )
        from referrals.models import Referral

        Referral.objects.filter(case=case).update(
            message="Bitte Platz in Klasse 2", answer_comment="Klasse voll"
        )
        case.refresh_from_db()
        case_transition(case=case, by=coordinator, transition="hold", reason="Familie verreist")
        case_transition(case=case, by=coordinator, transition="resume")
        case_transition(
            case=case,
            by=coordinator,
            transition="close",
            reason="moved_away",
            comment="Umzug nach Mainz zu Tante Samira",
        )
    case.refresh_from_db()
    return case


def _raw_row(table: str, pk: int) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 - test
        columns = [c[0] for c in cursor.description]
        return dict(zip(columns, cursor.fetchone(), strict=True))


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(dt.date(2025, 3, 31), 1) == dt.date(2025, 2, 28)
    assert months_before(dt.date(2025, 6, 1), 24) == dt.date(2023, 6, 1)


def test_a_closed_case_is_due_only_after_the_retention_period(closed_case) -> None:
    with time_machine.travel(dt.datetime(2023, 12, 1, tzinfo=dt.UTC)):
        assert not cases_due_for_retention().exists()
    with time_machine.travel(NOW):
        assert list(cases_due_for_retention()) == [closed_case]
        office = OfficeSettings.current()
        office.retention_months = 60
        office.save()
        assert not cases_due_for_retention().exists()


def test_open_cases_are_never_due(coordinator) -> None:
    with time_machine.travel(PAST, tick=False):
        CaseFactory(coordinator=coordinator, on_hold=True)
    with time_machine.travel(NOW):
        assert not cases_due_for_retention().exists()


def test_offer_marks_the_case_and_hands_over_the_whole_record(closed_case, admin_user_role):
    with time_machine.travel(NOW):
        handover = case_offer_to_archive(cases=[closed_case], by=admin_user_role)
    closed_case.refresh_from_db()
    assert closed_case.archive_status == ArchiveStatus.OFFERED
    document = json.loads(handover.as_json())
    assert document["meta"]["legal_basis"].startswith("§ 7")
    (record,) = document["records"]
    assert record["case"]["reference"] == closed_case.reference
    assert record["case"]["closed_on"] == "2022-01-10"
    assert record["personal_data"]["address"] == "Moselweg 3"
    assert record["family_contacts"][0]["name"] == "Leyla Haddad"
    assert [e["to_state"] for e in record["history"] if e["kind"] == "transition"][-1] == "closed"
    assert record["referrals"][0]["decline_reason"] == "no_place"
    rows = list(csv.reader(io.StringIO(handover.as_csv().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "reference" and rows[1][0] == closed_case.reference
    assert "Moselweg 3" in rows[1]
    entry = AuditEntry.objects.get(action="case.archive_offer")
    assert entry.actor_id == admin_user_role.pk and "address" in entry.fields


def test_offer_refuses_cases_not_yet_due_and_non_administrators(
    closed_case, coordinator, admin_user_role
):
    with (
        time_machine.travel(dt.datetime(2023, 1, 1, tzinfo=dt.UTC)),
        pytest.raises(DomainError, match="retention period"),
    ):
        case_offer_to_archive(cases=[closed_case], by=admin_user_role)
    with time_machine.travel(NOW), pytest.raises(NotAllowed):
        case_offer_to_archive(cases=[closed_case], by=coordinator)
    closed_case.refresh_from_db()
    assert closed_case.archive_status == ArchiveStatus.NONE


def test_decision_needs_an_offer_first(closed_case, admin_user_role) -> None:
    with pytest.raises(DomainError, match="offered to the archive first"):
        case_archive_decision(case=closed_case, by=admin_user_role, taken=False)


def test_erasure_needs_an_archive_decision(closed_case, admin_user_role) -> None:
    with pytest.raises(DomainError, match="archive has decided"):
        case_erase(case=closed_case)
    with time_machine.travel(NOW):
        case_offer_to_archive(cases=[closed_case], by=admin_user_role)
    with pytest.raises(DomainError, match="archive has decided"):
        case_erase(case=closed_case)


def _offer_and_decline(case: Case, admin) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW):
        case_offer_to_archive(cases=[case], by=admin)
        case_archive_decision(case=case, by=admin, taken=False)


def test_erasure_removes_every_personal_value_and_keeps_the_statistics(
    closed_case, admin_user_role
):
    _offer_and_decline(closed_case, admin_user_role)
    plain_before = {
        f: getattr(closed_case, f)
        for f in (
            "reference",
            "target_type",
            "wanted_group",
            "district_id",
            "birth_year",
            "waiting_since",
            "closed_on",
            "close_reason",
            "team_id",
            "state",
        )
    }
    with time_machine.travel(NOW):
        erased = case_erase(case=closed_case)
    assert erased.erased_at is not None
    raw = _raw_row("cases_case", closed_case.pk)
    for field in encrypted_fields(Case):
        assert raw[field.column] is None, field.name
    assert all(raw[k] is None for k in raw if k.startswith("bidx_"))
    assert {f: getattr(erased, f) for f in plain_before} == plain_before
    assert erased.display_name != "" and "Amina" not in erased.display_name
    # Family contacts: nobody else in the family needs them.
    assert not Guardian.objects.filter(family_id=closed_case.family_id).exists()
    # History: state changes stay, comments and free-text reasons go, coded reasons stay.
    events = list(CaseEvent.objects.filter(case=closed_case).order_by("at", "id"))
    assert [e.to_state for e in events if e.kind == "transition"][-1] == "closed"
    for event in events:
        assert _raw_row("cases_caseevent", event.pk)["comment"] is None
    reasons = {e.reason for e in events} - {""}
    assert reasons <= {"moved_away", "no_place"}
    assert CaseEvent.objects.filter(case=closed_case).latest("id").kind == CaseEvent.Kind.ERASED
    # Referral free texts are gone; the referral (statistics) stays.
    from referrals.models import Referral

    referral = Referral.objects.get(case=closed_case)
    row = _raw_row("referrals_referral", referral.pk)
    assert row["message"] is None and row["answer_comment"] is None
    assert referral.state == "declined" and referral.decline_reason == "no_place"
    entry = AuditEntry.objects.get(action="case.erase")
    assert entry.actor_id is None and entry.case_reference == closed_case.reference
    assert "given_name" in entry.fields
    assert verify_chain_report().ok


def test_erasure_is_idempotent_and_blocks_reopening(closed_case, admin_user_role, coordinator):
    _offer_and_decline(closed_case, admin_user_role)
    case_erase(case=closed_case)
    again = case_erase(case=closed_case)
    assert AuditEntry.objects.filter(action="case.erase").count() == 1
    assert again.erased_at is not None
    with pytest.raises(DomainError):
        case_transition(case=again, by=coordinator, transition="reopen", reason="zurück")


def test_guardians_stay_while_a_sibling_still_has_personal_data(
    closed_case, coordinator, admin_user_role
):
    sibling = case_register(
        by=coordinator,
        data={"given_name": "Omar", "family_name": "Haddad", "target_type": "school"},
        sibling_of=closed_case,
    )
    _offer_and_decline(closed_case, admin_user_role)
    case_erase(case=closed_case)
    assert Guardian.objects.filter(family_id=sibling.family_id).count() == 1
    sibling.refresh_from_db()
    assert sibling.given_name == "Omar"


def test_erased_cases_still_count_in_the_figures(closed_case, admin_user_role) -> None:
    _offer_and_decline(closed_case, admin_user_role)
    case_erase(case=closed_case)
    counted = Case.objects.filter(state="closed", target_type="school", birth_year=2017)
    assert list(counted) == [closed_case]


# --- the daily run ----------------------------------------------------------------------------


def test_run_notifies_administrators_and_erases_only_decided_cases(
    coordinator, closed_case, admin_user_role, django_capture_on_commit_callbacks
):
    admin_user_role.email = "it@example.org"
    admin_user_role.save()
    with time_machine.travel(PAST, tick=False):
        waiting = CaseFactory(coordinator=coordinator, closed=True)
    _offer_and_decline(closed_case, admin_user_role)
    with time_machine.travel(NOW), django_capture_on_commit_callbacks(execute=True):
        report = retention_run()
    assert report.erased == [closed_case.reference]
    assert report.awaiting_offer == [waiting.reference]
    [row] = OutboxMessage.objects.filter(kind="retention.notice")
    assert (row.state, row.to) == ("sent", "it@example.org")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["it@example.org"]
    assert waiting.reference in mail.outbox[0].body and "Amina" not in mail.outbox[0].body
    waiting.refresh_from_db()
    assert waiting.erased_at is None and waiting.given_name.startswith("Amina")


def test_dry_run_changes_nothing(closed_case, admin_user_role) -> None:
    _offer_and_decline(closed_case, admin_user_role)
    entries = AuditEntry.objects.count()
    with time_machine.travel(NOW):
        report = retention_run(dry_run=True)
    assert report.would_erase == [closed_case.reference] and report.erased == []
    closed_case.refresh_from_db()
    assert closed_case.erased_at is None and closed_case.address == "Moselweg 3"
    assert AuditEntry.objects.count() == entries
    assert not mail.outbox


def test_run_prunes_the_audit_log_past_its_own_retention(db) -> None:
    from coordination.audit import audit_log

    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        audit_log(actor=None, action="test.old")
    with time_machine.travel(NOW):
        audit_log(actor=None, action="test.new")
        report = retention_run()
    assert report.audit_pruned == 1
    assert not AuditEntry.objects.filter(action="test.old").exists()
    assert verify_chain_report().ok


def test_run_prunes_old_sent_mails_and_records_how_many(db, settings) -> None:
    from coordination.models import OutboxMessage
    from coordination.outbox import mail_enqueue

    settings.OUTBOX_KEEP_DAYS = 90
    with time_machine.travel(NOW - dt.timedelta(days=120), tick=False):
        old = mail_enqueue(kind="test.mail", to="a@example.org", subject="S", body="B")
    with time_machine.travel(NOW - dt.timedelta(days=10), tick=False):
        young = mail_enqueue(kind="test.mail", to="a@example.org", subject="S", body="B")
    assert old is not None and young is not None
    OutboxMessage.objects.update(state=OutboxMessage.State.SENT)
    with time_machine.travel(NOW):
        report = retention_run()
    assert report.outbox_pruned == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [young.pk]
    entry = AuditEntry.objects.filter(action="retention.run").latest("pk")
    assert entry.detail["outbox_pruned"] == 1


def test_task_and_command_run_the_same_job(closed_case, admin_user_role, capsys) -> None:
    from cases.tasks import apply_retention

    with time_machine.travel(NOW):
        result = apply_retention.delay(dry_run=True).get()
        assert result["awaiting_offer"] == [closed_case.reference]
        call_command("apply_retention", "--dry-run")
    out = capsys.readouterr().out
    assert "DRY RUN: awaiting an archive offer: 1" in out and closed_case.reference in out
    closed_case.refresh_from_db()
    assert closed_case.archive_status == ArchiveStatus.NONE


def test_beat_runs_the_task_daily(settings) -> None:
    from cases.tasks import apply_retention
    from coordination.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["daily-retention"]
    assert entry["task"] == "cases.tasks.apply_retention" == apply_retention.name
    assert app.tasks[apply_retention.name].name == apply_retention.name


# --- the administrators' page -----------------------------------------------------------------


def test_administrator_offers_downloads_and_records_the_decision(
    client, closed_case, admin_user_role
):
    log_in(client, admin_user_role)
    with time_machine.travel(NOW):
        page = client.get(reverse("cases:retention"))
        assert page.status_code == 200 and closed_case.reference in page.content.decode()
        response = client.post(
            reverse("cases:retention_offer"), {"case": [closed_case.pk], "format": "csv"}
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        again = client.post(reverse("cases:retention_offer"), {"case": [closed_case.pk]})
        assert json.loads(again.content)["records"][0]["case"]["reference"] == closed_case.reference
        decided = client.post(
            reverse("cases:retention_decision"), {"case": [closed_case.pk], "decision": "taken"}
        )
        assert decided.status_code == 302
    closed_case.refresh_from_db()
    assert closed_case.archive_status == ArchiveStatus.TAKEN


def test_retention_page_refuses_bad_input_without_a_500(client, closed_case, admin_user_role):
    log_in(client, admin_user_role)
    with time_machine.travel(NOW):
        assert (
            client.post(reverse("cases:retention_offer"), {"case": ["x", "99999"]}).status_code
            == 302
        )
        # Numbers no row can have (SQLite cannot even compare them) are ignored, too.
        for huge in ("9223372036854775808", "-9223372036854775809", str(10**40)):
            assert (
                client.post(reverse("cases:retention_offer"), {"case": [huge]}).status_code == 302
            )
            response = client.post(
                reverse("cases:retention_decision"), {"case": [huge], "decision": "taken"}
            )
            assert response.status_code == 302
        assert (
            client.post(
                reverse("cases:retention_decision"), {"case": [closed_case.pk], "decision": "maybe"}
            ).status_code
            == 302
        )
        assert (
            client.post(
                reverse("cases:retention_decision"), {"case": [closed_case.pk], "decision": "taken"}
            ).status_code
            == 302
        )
    closed_case.refresh_from_db()
    assert closed_case.archive_status == ArchiveStatus.NONE  # never offered, so no decision


@pytest.mark.parametrize("who", ["coordinator", "school_user", "management_user"])
def test_only_administrators_open_the_retention_page(client, request, who) -> None:
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("cases:retention")).status_code == 403
    assert client.post(reverse("cases:retention_offer"), {}).status_code == 403
