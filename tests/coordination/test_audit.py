"""The audit log: append-only in the app and in PostgreSQL, a keyed hash chain, prunable only
in a recorded way and only past its retention period, searchable by administrators."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse
from django.utils import timezone

from coordination.audit import (
    PRUNE_ACTION,
    AuditPruneRefused,
    audit_cutoff,
    audit_log,
    audit_prune,
    client_ip,
    csv_cell,
    entry_digest,
    verify_chain,
    verify_chain_report,
)
from coordination.models import AuditEntry
from tests.factories import CaseFactory
from tests.second_factor import log_in


def _entries(n: int, **kwargs: object) -> list[AuditEntry]:
    return [audit_log(actor=None, action=f"test.{i}", **kwargs) for i in range(n)]  # type: ignore[arg-type]


def _raw(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _tamper(sql: str, params: list[object]) -> None:
    """Change the table like someone with the database owner's rights (trigger switched off
    on PostgreSQL, inside the test's transaction)."""
    if connection.vendor == "postgresql":
        _raw("ALTER TABLE coordination_auditentry DISABLE TRIGGER audit_append_only", [])
    _raw(sql, params)
    if connection.vendor == "postgresql":
        _raw("ALTER TABLE coordination_auditentry ENABLE TRIGGER audit_append_only", [])


# --- append-only in the app ---------------------------------------------------------------


def test_an_entry_cannot_be_saved_again_or_deleted(db) -> None:
    entry = audit_log(actor=None, action="test.one")
    entry.action = "test.changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()


def test_bulk_update_and_delete_are_refused_in_the_app(db) -> None:
    _entries(2)
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().update(action="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(action="test.0").delete()
    assert AuditEntry.objects.count() == 2


def test_admin_offers_no_add_change_or_delete(client, admin_user_role) -> None:
    entry = audit_log(actor=admin_user_role, action="test.one")
    log_in(client, admin_user_role)
    assert client.get(reverse("admin:coordination_auditentry_add")).status_code == 403
    assert (
        client.get(reverse("admin:coordination_auditentry_delete", args=[entry.pk])).status_code
        == 403
    )
    page = client.get(reverse("admin:coordination_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200  # read-only view
    assert b'name="_save"' not in page.content
    post = client.post(
        reverse("admin:coordination_auditentry_change", args=[entry.pk]), {"action": "forged"}
    )
    assert post.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.one"


# --- the hash chain -----------------------------------------------------------------------


def test_chain_of_untouched_entries_verifies(db) -> None:
    _entries(5, detail={"k": [1, "zwei"]}, fields=["given_name"])
    report = verify_chain_report()
    assert report.ok and report.checked == 5
    assert report.head_hash == AuditEntry.objects.order_by("-id").first().hash  # type: ignore[union-attr]


def test_altered_entry_is_found_by_the_command(db) -> None:
    entries = _entries(4)
    _tamper(
        "UPDATE coordination_auditentry SET actor_name = %s WHERE id = %s",
        ["mallory", entries[2].id],
    )
    checked, broken = verify_chain()
    assert checked == 2 and broken is not None and broken.id == entries[2].id
    with pytest.raises(CommandError, match=f"#{entries[2].id}") as exc:
        call_command("verify_audit_log")
    assert exc.value.returncode == 1
    assert "was changed" in str(exc.value)


def test_removed_entry_is_found_as_a_broken_link(db) -> None:
    entries = _entries(4)
    _tamper("DELETE FROM coordination_auditentry WHERE id = %s", [entries[1].id])
    report = verify_chain_report()
    assert report.broken is not None and report.broken.id == entries[2].id
    assert "missing" in report.reason


def test_removing_the_oldest_entries_without_a_recorded_prune_is_found(db) -> None:
    entries = _entries(4)
    _tamper("DELETE FROM coordination_auditentry WHERE id <= %s", [entries[1].id])
    report = verify_chain_report()
    assert report.broken is not None and report.broken.id == entries[2].id


def test_verify_command_reports_success_and_the_head(db, capsys) -> None:
    last = _entries(3)[-1]
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "audit log OK: 3 entries" in out and last.hash in out


# --- the chain is keyed (AUDIT_KEY, outside the database) ------------------------------------

OTHER_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktb3Q="


def _rewrite(entry: AuditEntry, **changes: object) -> None:
    """Rewrite a stored entry and recompute its hash as an attacker without AUDIT_KEY can:
    ``key_id`` empty (plain SHA-256) or with a key of their own."""
    for name, value in changes.items():
        setattr(entry, name, value)
    entry.hash = entry_digest(entry)
    _tamper(
        "UPDATE coordination_auditentry SET actor_name = %s, key_id = %s, hash = %s WHERE id = %s",
        [entry.actor_name, entry.key_id, entry.hash, entry.id],
    )


def test_new_entries_carry_the_active_key_id_and_an_hmac(db) -> None:
    entry = audit_log(actor=None, action="test.one")
    assert entry.key_id == "a1" and len(entry.hash) == 64
    entry.key_id = ""
    assert entry_digest(entry) != entry.hash  # not the plain SHA-256 of the same content


def test_a_rewritten_entry_with_a_recomputed_plain_hash_is_found(db) -> None:
    entries = _entries(3)
    _rewrite(entries[1], actor_name="mallory", key_id="")
    report = verify_chain_report()
    assert report.broken is not None and report.broken.id == entries[1].id
    assert "unkeyed entry after the keyed chain began" in report.reason


def test_a_rewritten_entry_signed_with_another_key_is_found(db, settings) -> None:
    entries = _entries(3)
    settings.AUDIT_KEY = f"a1:{OTHER_KEY}"  # the attacker's own key under the real id
    _rewrite(entries[1], actor_name="mallory")
    settings.AUDIT_KEY = "a1:YXVkaXQta2V5LWF1ZGl0LWtleS1hdWRpdC1rZXktYXU="
    report = verify_chain_report()
    assert report.broken is not None and report.broken.id == entries[1].id
    assert report.reason == "this entry was changed"


def test_entries_written_before_the_chain_was_keyed_verify_as_an_unkeyed_prefix(db, capsys) -> None:
    old = _entries(2)
    prev = ""
    for entry in old:  # as an installation before the upgrade wrote them
        entry.prev_hash = prev
        _rewrite(entry, key_id="")
        _tamper("UPDATE coordination_auditentry SET prev_hash = %s WHERE id = %s", [prev, entry.id])
        prev = entry.hash
    new = audit_log(actor=None, action="test.after-upgrade")
    assert new.prev_hash == old[-1].hash and new.key_id == "a1"
    report = verify_chain_report()
    assert report.ok and report.checked == 3 and report.unkeyed == 2
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "the oldest 2 entries were written before the chain was keyed" in out
    # The keyed entry seals the prefix: rewriting an old entry now breaks the chain.
    _rewrite(old[0], actor_name="mallory", key_id="")
    assert verify_chain_report().broken is not None


def test_a_rotated_audit_key_keeps_old_entries_verifiable(db, settings) -> None:
    old = audit_log(actor=None, action="test.old-key")
    settings.AUDIT_KEY = f"a2:{OTHER_KEY},a1:YXVkaXQta2V5LWF1ZGl0LWtleS1hdWRpdC1rZXktYXU="
    new = audit_log(actor=None, action="test.new-key")
    assert (old.key_id, new.key_id) == ("a1", "a2")
    assert verify_chain_report().ok
    settings.AUDIT_KEY = f"a2:{OTHER_KEY}"  # a1 dropped while its entries remain
    report = verify_chain_report()
    assert report.broken is not None and report.broken.id == old.id
    assert "'a1', which AUDIT_KEY does not list" in report.reason


# --- the head received by the data-protection officer ----------------------------------------


def test_verify_with_the_expected_head_passes_while_the_log_grows(db, capsys) -> None:
    head = _entries(3)[-1]
    _entries(2)
    call_command("verify_audit_log", expect_head=f"{head.id}:{head.hash}")
    assert f"matches the expected head #{head.id}" in capsys.readouterr().out


def test_verify_with_the_expected_head_finds_the_newest_entries_cut_off(db) -> None:
    entries = _entries(4)
    _tamper("DELETE FROM coordination_auditentry WHERE id >= %s", [entries[2].id])
    assert verify_chain_report().ok  # the rest is still a sound chain: only the head shows it
    with pytest.raises(CommandError, match="newest entries were removed") as exc:
        call_command("verify_audit_log", expect_head=f"{entries[3].id}:{entries[3].hash}")
    assert exc.value.returncode == 1


def test_verify_with_the_expected_head_finds_a_rewritten_log(db) -> None:
    head = _entries(2)[-1]
    with pytest.raises(CommandError, match="another hash"):
        call_command("verify_audit_log", expect_head=f"{head.id}:{'0' * 64}")


@pytest.mark.parametrize("value", ["12", "x:abc", f"1:{'g' * 64}", f"²:{'0' * 64}"])
def test_verify_refuses_a_malformed_expected_head(db, value) -> None:
    with pytest.raises(CommandError, match="--expect-head") as exc:
        call_command("verify_audit_log", expect_head=value)
    assert exc.value.returncode == 2


# --- the log's own retention ---------------------------------------------------------------


def test_prune_removes_old_entries_records_itself_and_keeps_the_chain_verifiable(db) -> None:
    with time_machine.travel(dt.datetime(2020, 1, 10, 12, tzinfo=dt.UTC), tick=False):
        old = _entries(3)
    with time_machine.travel(dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC), tick=False):
        new = _entries(2)
        removed = audit_prune(before=audit_cutoff(months=36))
    assert removed == 3
    assert not AuditEntry.objects.filter(id__in=[e.id for e in old]).exists()
    prune = AuditEntry.objects.get(action=PRUNE_ACTION)
    assert prune.detail["count"] == 3 and prune.detail["anchor"] == old[-1].hash
    assert new[0].prev_hash == old[-1].hash
    report = verify_chain_report()
    assert report.ok, report.reason
    assert report.checked == 3  # two new entries and the prune


def test_prune_with_nothing_old_writes_nothing(db) -> None:
    _entries(2)
    assert audit_prune(before=timezone.now() - dt.timedelta(days=400)) == 0
    assert not AuditEntry.objects.filter(action=PRUNE_ACTION).exists()


def test_dry_run_prune_only_counts(db) -> None:
    with time_machine.travel(dt.datetime(2020, 1, 10, tzinfo=dt.UTC), tick=False):
        _entries(2)
    assert audit_prune(before=timezone.now(), dry_run=True) == 2
    assert AuditEntry.objects.count() == 2


def test_two_prunes_in_a_row_stay_verifiable(db) -> None:
    with time_machine.travel(dt.datetime(2019, 1, 1, tzinfo=dt.UTC), tick=False):
        _entries(2)
    with time_machine.travel(dt.datetime(2020, 6, 1, tzinfo=dt.UTC), tick=False):
        _entries(2)
        audit_prune(before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2023, 6, 1, tzinfo=dt.UTC), tick=False):
        _entries(1)
        audit_prune(before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    assert verify_chain_report().ok
    assert AuditEntry.objects.filter(action=PRUNE_ACTION).count() == 1  # the first was pruned


def test_audit_cutoff_counts_calendar_months() -> None:
    now = dt.datetime(2024, 3, 31, 9, tzinfo=dt.UTC)
    assert audit_cutoff(months=1, now=now) == dt.datetime(2024, 2, 29, 9, tzinfo=dt.UTC)
    assert audit_cutoff(months=36, now=now) == dt.datetime(2021, 3, 31, 9, tzinfo=dt.UTC)


# --- on PostgreSQL the database refuses too ---------------------------------------------------


@pytest.mark.postgres
def test_postgres_trigger_refuses_raw_update_and_delete(db) -> None:
    entry = audit_log(actor=None, action="test.one")
    for sql in (
        "UPDATE coordination_auditentry SET action = 'x' WHERE id = %s",
        "DELETE FROM coordination_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _raw(sql, [entry.id])
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.one"


@pytest.mark.postgres
def test_prune_with_a_cutoff_inside_the_retention_period_is_refused_and_writes_nothing(db) -> None:
    _entries(2)
    with pytest.raises(AuditPruneRefused, match="within the 36 months"):
        audit_prune(before=timezone.now())
    assert AuditEntry.objects.count() == 2  # neither deleted nor a prune entry


@pytest.mark.postgres
def test_postgres_trigger_refuses_truncate_even_for_the_owner(db) -> None:
    _entries(1)
    with (
        pytest.raises(DatabaseError, match=r"append-only \(TRUNCATE refused\)"),
        transaction.atomic(),
    ):
        _raw("TRUNCATE coordination_auditentry", [])
    assert AuditEntry.objects.count() == 1


@pytest.mark.postgres
def test_postgres_the_old_prune_setting_opens_nothing_for_a_role_that_is_not_the_owner(
    db,
) -> None:
    """Before: any role could ``SET LOCAL ankommen.audit_prune = 'on'`` and delete."""
    entry = audit_log(actor=None, action="test.one")
    role = "ankommen_test_intruder"
    _raw(f"CREATE ROLE {role}", [])
    _raw(f"GRANT SELECT, DELETE ON coordination_auditentry TO {role}", [])  # even with DELETE
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(f"SET LOCAL ROLE {role}", [])
        _raw("SET LOCAL ankommen.audit_prune = 'on'", [])
        _raw("DELETE FROM coordination_auditentry WHERE id = %s", [entry.id])
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.postgres
def test_postgres_trigger_lets_only_the_recorded_prune_through(db) -> None:
    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _entries(2)
    _entries(1)
    assert audit_prune(before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == 2
    assert not AuditEntry.objects.filter(id__in=[e.id for e in old]).exists()
    assert verify_chain_report().ok
    # The switch is the function's and transaction-local: a later raw delete is refused.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("DELETE FROM coordination_auditentry", [])


@pytest.mark.postgres
def test_postgres_prune_function_refuses_a_prune_that_is_not_recorded(db) -> None:
    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        old = _entries(2)
    with pytest.raises(DatabaseError, match="no recorded prune"), transaction.atomic():
        _raw(
            "SELECT ankommen_audit_prune(%s, %s)",
            [dt.datetime(2021, 1, 1, tzinfo=dt.UTC), old[1].id],
        )
    assert AuditEntry.objects.count() == 2


# --- who, when, where ----------------------------------------------------------------------


def test_entry_records_user_roles_address_object_and_fields(db, coordinator) -> None:
    case = CaseFactory(coordinator=coordinator)
    entry = audit_log(
        actor=coordinator, action="case.view", obj=case, fields=["notes", "address"], ip="192.0.2.7"
    )
    assert entry.actor_id == coordinator.pk and entry.actor_name == "coord"
    assert entry.roles == "coordinator" and entry.ip == "192.0.2.7"
    assert entry.object_type == "cases.case" and entry.object_id == str(case.pk)
    assert entry.case_reference == case.reference and entry.fields == ["address", "notes"]


def test_client_ip_trusts_forwarded_for_only_behind_configured_proxies(rf, settings) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "198.51.100.2"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "203.0.113.9"
    request.META["HTTP_X_FORWARDED_FOR"] = "not-an-ip"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) is None


def test_csv_cells_defuse_spreadsheet_formulas() -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("@SUM") == "'@SUM"
    assert csv_cell(["a"]) == '["a"]'
    assert csv_cell(None) == ""


def test_role_change_and_admin_change_are_logged(client, admin_user_role, coordinator) -> None:
    from django.contrib.auth.models import Group

    log_in(client, admin_user_role)
    coordinator.groups.add(Group.objects.get_or_create(name="management")[0])
    entry = AuditEntry.objects.filter(action="user.roles").latest("id")
    assert entry.object_id == str(coordinator.pk) and entry.detail["roles"] == ["management"]
    response = client.post(
        reverse("admin:coordination_team_add"), {"name": "Team West", "mailbox": ""}
    )
    assert response.status_code == 302
    added = AuditEntry.objects.filter(action="admin.add").latest("id")
    assert added.actor_id == admin_user_role.pk and added.object_type == "coordination.team"


def test_object_permission_grant_and_revoke_are_logged(db, coordinator, other_coordinator) -> None:
    from cases.services import case_share, case_unshare

    case = CaseFactory(coordinator=coordinator)
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    case_unshare(case=case, by=coordinator, with_user=other_coordinator)
    actions = list(
        AuditEntry.objects.filter(action__startswith="permission.", case_reference=case.reference)
        .order_by("id")
        .values_list("action", "detail")
    )
    assert [a for a, _ in actions] == ["permission.grant", "permission.revoke"]
    assert actions[0][1] == {"permission": "work_case", "holder": "coord_other"}


# --- the search page ------------------------------------------------------------------------


def test_administrator_searches_by_user_case_and_period_and_the_search_is_logged(
    client, admin_user_role, coordinator
) -> None:
    case = CaseFactory(coordinator=coordinator)
    with time_machine.travel(dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC), tick=False):
        audit_log(actor=coordinator, action="case.view", obj=case)
    with time_machine.travel(dt.datetime(2024, 6, 2, 10, tzinfo=dt.UTC), tick=False):
        audit_log(actor=coordinator, action="case.view", obj=case)
    log_in(client, admin_user_role)
    response = client.get(
        reverse("audit_search"),
        {
            "user": "COORD",
            "case_reference": case.reference.lower(),
            "date_from": "2024-05-01",
            "date_to": "2024-05-31",
        },
    )
    assert response.status_code == 200
    page = response.context["page"]
    assert page.count == 1 and not page.more
    assert page.entries[0].at.month == 5
    logged = AuditEntry.objects.filter(action="audit.search").latest("id")
    assert logged.actor_id == admin_user_role.pk and logged.detail["user"] == "COORD"


def test_audit_export_is_csv_and_logged(client, admin_user_role, coordinator) -> None:
    audit_log(actor=coordinator, action="=cmd|calc", obj=None)
    log_in(client, admin_user_role)
    response = client.get(reverse("audit_export"), {"user": "coord"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.splitlines()[0].startswith("id,at,actor_name")
    assert "'=cmd|calc" in body
    assert AuditEntry.objects.filter(action="audit.export", actor=admin_user_role).exists()


def test_audit_search_rejects_an_inverted_period(client, admin_user_role) -> None:
    log_in(client, admin_user_role)
    response = client.get(
        reverse("audit_search"), {"date_from": "2024-05-02", "date_to": "2024-05-01"}
    )
    assert response.status_code == 200 and response.context["form"].errors
    assert client.get(reverse("audit_export"), {"date_from": "x"}).status_code == 400


@pytest.mark.parametrize(
    "period", [{"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}, {"date_from": "1999-12-31"}]
)
def test_audit_search_refuses_dates_far_off_with_a_message(client, admin_user_role, period):
    """Year 1 or 9999 overflowed the time zone conversion (a 500); now a form error."""
    log_in(client, admin_user_role)
    response = client.get(reverse("audit_search"), period)
    assert response.status_code == 200
    (name,) = period
    assert response.context["form"].errors[name]
    assert client.get(reverse("audit_export"), period).status_code == 400


@pytest.mark.parametrize("who", ["coordinator", "school_user", "management_user"])
def test_only_administrators_search_the_log(client, request, who) -> None:
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("audit_search")).status_code == 403
    assert client.get(reverse("audit_export")).status_code == 403


def test_an_admin_page_showing_an_encrypted_field_is_logged(rf, admin_user_role) -> None:
    """The safety net for any admin that shows decrypted data (none of ours does)."""
    from django.contrib import admin

    from cases.models import Guardian
    from coordination.middleware import _audit_admin_view

    class LeakyGuardianAdmin(admin.ModelAdmin):
        fields = ("relation", "name", "phone")
        list_display = ("relation", "email")

    site = admin.AdminSite(name="leaky")
    site.register(Guardian, LeakyGuardianAdmin)
    request = rf.get("/admin/cases/guardian/5/change/")
    request.user = admin_user_role
    _audit_admin_view(request, "cases_guardian_change", {"object_id": "5"}, site=site)
    _audit_admin_view(request, "cases_guardian_changelist", {}, site=site)
    change, listing = AuditEntry.objects.filter(action__startswith="admin.view").order_by("id")
    assert (change.action, change.object_type, change.object_id, change.fields) == (
        "admin.view_change",
        "cases.guardian",
        "5",
        ["name", "phone"],
    )
    assert (listing.action, listing.fields) == ("admin.view_changelist", ["email"])
