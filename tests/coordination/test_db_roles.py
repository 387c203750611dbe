"""Two database roles (docs/database-roles.md): the owner migrates; the application role
reads and writes rows, may only SELECT and INSERT on the audit log, never TRUNCATE, never
change the schema, and prunes (if allowed at all) only through the owner's function.

CI connects as the superuser ``postgres``: each test creates both roles inside its own
transaction (rolled back afterwards) and hands the audit log to the owner role, as
``migrate`` run by the owner leaves it in production.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from coordination.audit import AuditPruneRefused, audit_log, audit_prune, verify_chain_report
from coordination.management.commands.grant_app_role import app_role_problems
from coordination.models import AuditEntry, Team

pytestmark = pytest.mark.postgres


def _raw(sql: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@contextmanager
def acting_as(role: str) -> Iterator[None]:
    _raw(f"SET ROLE {role}")
    try:
        yield
    finally:
        _raw("RESET ROLE")


def _refused(sql: str, match: str, params: list[object] | None = None) -> None:
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        _raw(sql, params)


def _make_roles(*, allow_prune: bool) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    owner, app = f"ankommen_owner_t{suffix}", f"ankommen_app_t{suffix}"
    _raw(f"CREATE ROLE {owner}")
    _raw(f"CREATE ROLE {app}")
    _raw(f"ALTER TABLE coordination_auditentry OWNER TO {owner}")
    _raw(f"ALTER FUNCTION ankommen_audit_prune(timestamptz, bigint) OWNER TO {owner}")
    _raw(f"GRANT SELECT ON coordination_officesettings TO {owner}")
    call_command("grant_app_role", role=app, allow_prune=allow_prune)
    return owner, app


@pytest.fixture
def roles(db) -> tuple[str, str]:
    return _make_roles(allow_prune=True)


def test_the_app_role_writes_the_audit_log_but_cannot_change_or_empty_it(roles) -> None:
    _owner, app = roles
    assert app_role_problems(app) == []
    with acting_as(app):
        entry = audit_log(actor=None, action="test.as-app")
        assert AuditEntry.objects.filter(pk=entry.pk).exists()
        _refused(
            "UPDATE coordination_auditentry SET action = 'x' WHERE id = %s",
            "permission denied",
            [entry.id],
        )
        _refused(
            "DELETE FROM coordination_auditentry WHERE id = %s", "permission denied", [entry.id]
        )
        _refused("TRUNCATE coordination_auditentry", "permission denied")
        # The old escape hatch opens nothing for it.
        _raw("SET LOCAL ankommen.audit_prune = 'on'")
        _refused(
            "DELETE FROM coordination_auditentry WHERE id = %s", "permission denied", [entry.id]
        )
    assert verify_chain_report().ok


def test_the_app_role_works_with_rows_but_cannot_truncate_or_change_the_schema(roles) -> None:
    _owner, app = roles
    with acting_as(app):
        team = Team.objects.create(name="Team Rollen")
        Team.objects.filter(pk=team.pk).update(name="Team Rollen 2")
        Team.objects.filter(pk=team.pk).delete()
        _refused("TRUNCATE coordination_team", "permission denied")
        _refused("CREATE TABLE ankommen_intruder (id integer)", "permission denied for schema")
        _refused("ALTER TABLE coordination_team ADD COLUMN x integer", "must be owner")
        _refused("DROP TABLE coordination_team", "must be owner")


def test_the_app_role_prunes_only_past_the_retention_period(roles) -> None:
    _owner, app = roles
    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        for i in range(3):
            audit_log(actor=None, action=f"test.old{i}")
    audit_log(actor=None, action="test.new")
    with acting_as(app):
        with pytest.raises(AuditPruneRefused, match="within the 36 months"):
            audit_prune(before=timezone.now() - dt.timedelta(days=30))
        assert AuditEntry.objects.count() == 4
        assert audit_prune(before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == 3
    assert verify_chain_report().ok


def test_without_allow_prune_only_the_owner_prunes(db) -> None:
    owner, app = _make_roles(allow_prune=False)
    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        audit_log(actor=None, action="test.old")
    audit_log(actor=None, action="test.new")
    with acting_as(app), pytest.raises(AuditPruneRefused, match="permission denied for function"):
        audit_prune(before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    assert AuditEntry.objects.count() == 2
    _raw(f"GRANT INSERT, SELECT ON coordination_auditentry TO {owner}")
    _raw(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {owner}")
    with acting_as(owner):
        assert audit_prune(before=dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == 1


def test_even_the_owner_cannot_truncate_or_delete_from_the_audit_log(roles) -> None:
    owner, _app = roles
    audit_log(actor=None, action="test.one")
    with acting_as(owner):
        _refused("TRUNCATE coordination_auditentry", r"append-only \(TRUNCATE refused\)")
        _refused("DELETE FROM coordination_auditentry", r"append-only \(DELETE refused\)")
    assert AuditEntry.objects.count() == 1


def test_grant_app_role_refuses_a_missing_role_and_the_owner_itself(db) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("grant_app_role", role="ankommen_nobody_here")
    with pytest.raises(CommandError, match="connected as"):
        call_command("grant_app_role", role=connection.get_connection_params()["user"])
    with pytest.raises(CommandError, match="plain lower-case"):
        call_command("grant_app_role", role="x; DROP TABLE y")
