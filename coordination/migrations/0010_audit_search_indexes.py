"""Indexes for the audit search at nationwide scale (issue 21; docs/performance.md, "Audit log").

``audit_actor_name_upper_at`` serves the search by user name (case-insensitive, newest first):
before, ``UPPER(actor_name) = UPPER(…)`` had no index and scanned the whole log (9.5 s at 20
million entries). ``audit_ip_at`` likewise for the search by client address (a sequential
scan before). Both built CONCURRENTLY on PostgreSQL, so an installation with a big log keeps
writing entries while it is built (a few minutes at 20 million entries); hence this migration
is not atomic. Other databases build it the ordinary way.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Upper


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("coordination", "0009_heartbeat")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="auditentry",
            index=models.Index(Upper("actor_name"), "at", name="audit_actor_name_upper_at"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="auditentry",
            index=models.Index(fields=["ip", "at"], name="audit_ip_at"),
        ),
    ]
