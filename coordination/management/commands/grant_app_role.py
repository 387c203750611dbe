"""(Re)apply the application role's rights after migrations; run by the database owner.

Production uses two database roles (docs/database-roles.md): the owner (owns the schema, runs
``migrate`` and this command) and the application role (the web, worker and beat
connections), which may read and write rows but never TRUNCATE, never change the schema and
only SELECT and INSERT on the audit log. ``ALTER DEFAULT PRIVILEGES`` gives tables created by
later migrations the same rights; this command also takes UPDATE and DELETE on the audit log
away again and checks the outcome.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from coordination.models import AuditEntry

ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PRUNE_FUNCTION = "ankommen_audit_prune(timestamptz, bigint)"


def grant_statements(
    *, role: str, owner: str, schema: str, database: str, allow_prune: bool
) -> list[str]:
    """The SQL that gives ``role`` exactly the application's rights (names already quoted)."""
    audit = connection.ops.quote_name(AuditEntry._meta.db_table)
    statements = [
        f"GRANT CONNECT ON DATABASE {database} TO {role}",
        # Only the owner creates objects (PostgreSQL 15 already revokes this from PUBLIC).
        f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"REVOKE UPDATE, DELETE ON {audit} FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        f"REVOKE ALL ON FUNCTION {PRUNE_FUNCTION} FROM PUBLIC",
        f"REVOKE ALL ON FUNCTION {PRUNE_FUNCTION} FROM {role}",
    ]
    if allow_prune:
        statements.append(f"GRANT EXECUTE ON FUNCTION {PRUNE_FUNCTION} TO {role}")
    return statements


def app_role_problems(role: str) -> list[str]:
    """What ``role`` may do that the application role must not (empty: all as intended)."""
    audit = AuditEntry._meta.db_table
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles "
            "WHERE rolname = %s",
            [role],
        )
        row = cursor.fetchone()
        if row is None:
            return [f"role {role} does not exist"]
        if row[0]:
            problems.append("is a superuser or may create roles or databases, or bypass RLS")
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND pg_has_role(%s, c.relowner, 'USAGE')",
            [role],
        )
        if cursor.fetchone()[0]:
            problems.append("owns (or is a member of the owner of) tables in the schema")
        cursor.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [role])
        if cursor.fetchone()[0]:
            problems.append("may CREATE in the schema")
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, audit, privilege])
            if cursor.fetchone()[0]:
                problems.append(f"has {privilege} on the audit log")
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND has_table_privilege(%s, c.oid, 'TRUNCATE')",
            [role],
        )
        if cursor.fetchone()[0]:
            problems.append("may TRUNCATE tables")
    return problems


class Command(BaseCommand):
    help = (
        "Give the application database role its rights (rows only; SELECT and INSERT on the "
        "audit log; no TRUNCATE, no DDL). Run as the database owner after every migrate."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", default="ankommen_app", help="the application role")
        parser.add_argument(
            "--allow-prune",
            action="store_true",
            help="let the application prune the audit log past its retention period "
            "(EXECUTE on ankommen_audit_prune); without it only the owner can",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role works on PostgreSQL only")
        if not ROLE_RE.match(role):
            raise CommandError(f"--role: {role!r} is not a plain lower-case role name")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_schema(), current_database()")
            owner, schema, database = cursor.fetchone()
        if role == owner:
            raise CommandError(
                f"connected as {role} itself: run this command with the owner's connection "
                "(DATABASE_URL of the migrate service)"
            )
        quote = connection.ops.quote_name
        statements = grant_statements(
            role=quote(role),
            owner=quote(owner),
            schema=quote(schema),
            database=quote(database),
            allow_prune=options["allow_prune"],
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                raise CommandError(
                    f"role {role} does not exist: create it first "
                    "(docker/postgres-init/10-roles.sh, docs/database-roles.md)"
                )
            for sql in statements:
                cursor.execute(sql)
            problems = app_role_problems(role)
            if problems:
                raise CommandError(f"role {role} still has too many rights: " + "; ".join(problems))
        prune = "may" if options["allow_prune"] else "may not"
        self.stdout.write(
            self.style.SUCCESS(
                f"granted {role} the application's rights in {database}.{schema} "
                f"(owner {owner}); it {prune} prune the audit log"
            )
        )
