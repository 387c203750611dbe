"""Indexes for the Art. 15 report, which looks up everything logged about one case.

``audit_object`` serves entries about the case or its referrals. On PostgreSQL a GIN index on
``detail -> 'references'`` serves the list pages that named the case among others (the report
asks ``detail -> 'references' @> '["NZ-…"]'``); SQLite has no GIN, and scans there.
"""

from django.db import migrations, models

GIN = (
    "CREATE INDEX IF NOT EXISTS audit_listed_references ON coordination_auditentry "
    "USING gin ((detail -> 'references') jsonb_path_ops)"
)
DROP_GIN = "DROP INDEX IF EXISTS audit_listed_references"


def create_gin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GIN)


def drop_gin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_GIN)


class Migration(migrations.Migration):
    dependencies = [
        ("coordination", "0003_audit_controlled_prune"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ),
        migrations.RunPython(create_gin, drop_gin),
    ]
