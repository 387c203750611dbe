"""Harden the audit log in the database (issue 14, point 7; docs/audit-log.md).

- TRUNCATE is refused by a statement-level trigger (row triggers never see a TRUNCATE).
- The ``ankommen.audit_prune`` setting no longer opens the table to any role: a DELETE passes
  the row trigger only inside ``ankommen_audit_prune``, a SECURITY DEFINER function owned by
  the table's owner, which refuses a cut-off younger than the log's retention period (at
  least 12 months, whatever the caller or the settings row say) and deletes only an oldest
  part of the chain whose prune is already recorded. EXECUTE is revoked from PUBLIC; the
  owner grants it to the app role with ``manage.py grant_app_role --allow-prune``.
- ``key_id``: the AUDIT_KEY id of the entry's HMAC (empty for the old unkeyed entries).

Hand-written SQL rather than django-pgtrigger: every pgtrigger trigger skips itself when the
session sets ``pgtrigger.ignore``, which any role may do (ADR 0004).
"""

from django.db import migrations, models

ROW_AND_TRUNCATE = """
CREATE OR REPLACE FUNCTION ankommen_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- The one DELETE that passes: ankommen_audit_prune's, which runs as the table's owner
    -- (SECURITY DEFINER) and sets the flag for its own statement. The flag alone does
    -- nothing for any other role.
    IF TG_OP = 'DELETE'
       AND current_setting('ankommen.audit_prune', true) = 'on'
       AND (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID)
           = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_no_truncate ON coordination_auditentry;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON coordination_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION ankommen_audit_append_only();
"""

# {schema} is the migrating connection's current schema (quoted), fixed into the function so
# that a caller's search_path cannot point it at another table.
PRUNE = """
CREATE OR REPLACE FUNCTION ankommen_audit_prune(before timestamptz, through_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, {schema}, pg_temp
AS $$
DECLARE
    keep_months integer;
    removed bigint;
BEGIN
    -- The office's retention period, never below the 12 months the settings form allows
    -- (the settings row is writable by the app role, so it cannot lower this floor).
    SELECT GREATEST(12, COALESCE(MAX(audit_retention_months), 36)) INTO keep_months
        FROM coordination_officesettings;
    IF before IS NULL OR through_id IS NULL
       OR before > now() - make_interval(months => keep_months) THEN
        RAISE EXCEPTION 'audit prune refused: % is within the % months the log is kept',
            before, keep_months;
    END IF;
    IF EXISTS (SELECT 1 FROM coordination_auditentry WHERE id <= through_id AND at >= before) THEN
        RAISE EXCEPTION 'audit prune refused: entries up to #% are not all older than %',
            through_id, before;
    END IF;
    -- The prune must already be recorded (keyed, so a forged record fails verification).
    IF NOT EXISTS (
        SELECT 1 FROM coordination_auditentry p
        WHERE p.id > through_id AND p.action = 'audit.prune'
          AND p.detail ->> 'through_id' = through_id::text
          AND p.detail ->> 'anchor' =
              (SELECT e.hash FROM coordination_auditentry e WHERE e.id = through_id)
    ) THEN
        RAISE EXCEPTION 'audit prune refused: no recorded prune through entry #%', through_id;
    END IF;
    PERFORM set_config('ankommen.audit_prune', 'on', true);
    DELETE FROM coordination_auditentry WHERE id <= through_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('ankommen.audit_prune', 'off', true);
    RETURN removed;
END;
$$;
REVOKE ALL ON FUNCTION ankommen_audit_prune(timestamptz, bigint) FROM PUBLIC;
"""

PREVIOUS = """
DROP FUNCTION IF EXISTS ankommen_audit_prune(timestamptz, bigint);
DROP TRIGGER IF EXISTS audit_no_truncate ON coordination_auditentry;
CREATE OR REPLACE FUNCTION ankommen_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('ankommen.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
    schema_editor.execute(ROW_AND_TRUNCATE, params=None)
    schema_editor.execute(PRUNE.replace("{schema}", connection.ops.quote_name(schema)), params=None)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("coordination", "0005_outbox")]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="key_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="officesettings",
            name="dpo_email",
            field=models.EmailField(
                blank=True,
                help_text=(
                    "Receives the audit log's head (entry number and check value) every night, "
                    "so that a later change to the log can be proven. No personal data is sent."
                ),
                max_length=254,
                verbose_name="data-protection officer's e-mail",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
