from django.db import migrations

TRIGGER = """
CREATE OR REPLACE FUNCTION ankommen_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_append_only ON coordination_auditentry;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON coordination_auditentry
    FOR EACH ROW EXECUTE FUNCTION ankommen_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_append_only ON coordination_auditentry;
DROP FUNCTION IF EXISTS ankommen_audit_append_only();
"""


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("coordinator", "institution_staff", "management", "administrator"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("coordination", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
