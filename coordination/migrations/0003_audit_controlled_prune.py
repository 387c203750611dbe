"""Let the append-only trigger pass one controlled DELETE: the audit log's own retention.

``coordination.audit.audit_prune`` sets ``SET LOCAL ankommen.audit_prune = 'on'`` inside its
transaction (after appending the prune as an entry of its own); every other UPDATE or
DELETE is still refused.
"""

from django.db import migrations

TRIGGER = """
CREATE OR REPLACE FUNCTION ankommen_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('ankommen.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION ankommen_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("coordination", "0002_audit_append_only_and_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
