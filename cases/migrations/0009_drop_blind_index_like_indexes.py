"""Drop the second (``varchar_pattern_ops``) index Django adds to every indexed varchar column
on PostgreSQL, for the blind-index columns.

A blind index is the hex HMAC of a value and is only ever compared for equality, which the
plain index serves; a ``LIKE 'abc%'`` over an HMAC means nothing. The twelve extra indexes
on ``cases_case`` were more than a quarter of the 43 indexes every write of a case
maintains: the key rotation rewrites every case row, and without them it rewrote case rows
about twice as fast at 100,000 cases in a side-by-side run (``docs/performance.md``).
Reversible: the reverse creates them again. A no-op on SQLite
(it has no such indexes).
"""

from django.db import migrations

from coordination.fields import BlindIndexField


def _like_indexes(apps, schema_editor):
    for model in apps.get_app_config("cases").get_models():
        for field in model._meta.local_fields:
            if isinstance(field, BlindIndexField) and field.db_index:
                yield model, field


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field in _like_indexes(apps, schema_editor):
        name = schema_editor._create_index_name(model._meta.db_table, [field.column], "_like")
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field in _like_indexes(apps, schema_editor):
        sql = schema_editor._create_like_index_sql(model, field)
        if sql is not None:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_followups_journal")]

    operations = [migrations.RunPython(drop, create, elidable=False)]
