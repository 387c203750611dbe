"""Migrating encrypted columns between text tokens and the binary stored form, both ways.

Before (text): ``"<key id>$<base64(nonce | ciphertext+tag)>"``. After (``bytea`` on PostgreSQL,
BLOB on SQLite): ``len(key id) | key id | nonce | ciphertext+tag``, the same bytes without
base64 (see coordination/crypto.py). Nothing is decrypted or re-encrypted: no key is needed.

Used by the migrations ``cases 0004`` and ``referrals 0004``, so it converts exactly those two
forms and must not follow later changes of the stored form. Each migration runs in one
transaction; a value in neither form stops it before anything is written, naming the column.

- PostgreSQL: one ``ALTER TABLE ... ALTER COLUMN ... TYPE ... USING`` per table (one rewrite,
  in SQL, no rows through Python). Only DDL and reads: no UPDATE leaves deferred trigger events
  behind that would make the DDL fail.
- SQLite: the table is rebuilt with the new column types (as Django's own ``AlterField`` does
  there), then the values are converted in batches.

A column that already has the target type is left alone: a database created by ``migrate``
with the current field code gets binary columns from the start (the fields' migration state
did not change, only their column type).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from django.db import migrations, models

TEXT_TOKEN_RE = re.compile(r"^([A-Za-z0-9_-]{1,16})\$([A-Za-z0-9+/]*={0,2})$")
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
# Header, nonce and tag: no stored value is shorter.
MIN_BINARY = 1 + 1 + 12 + 16
BATCH = 1000

# SQL for one column, written ``{c}`` (``sql(template, column)``). Forwards: the key id's
# length as one byte, the key id, the base64 body decoded. Backwards: PostgreSQL's base64
# breaks lines every 76 characters, the tokens written by the application had none.
TO_BINARY_SQL = (
    "CASE WHEN {c} IS NULL THEN NULL ELSE "
    "set_byte('\\x00'::bytea, 0, length(split_part({c}, '$', 1))) "
    "|| convert_to(split_part({c}, '$', 1), 'UTF8') "
    "|| decode(split_part({c}, '$', 2), 'base64') END"
)
TO_TEXT_SQL = (
    "CASE WHEN {c} IS NULL THEN NULL ELSE "
    "convert_from(substring({c} FROM 2 FOR get_byte({c}, 0)), 'UTF8') || '$' "
    "|| translate(encode(substring({c} FROM get_byte({c}, 0) + 2), 'base64'), E'\\n', '') END"
)
# Values not in the form to convert, counted per column before anything is changed: 40 base64
# characters are the 28 bytes of nonce and tag; 30 bytes are a 1-character key id's header,
# nonce and tag (``MIN_BINARY``).
BAD_TEXT_SQL = (
    "{c} IS NOT NULL AND ({c} !~ '^[A-Za-z0-9_-]{1,16}\\$[A-Za-z0-9+/]*={0,2}$' "
    "OR mod(length(split_part({c}, '$', 2)), 4) <> 0 OR length(split_part({c}, '$', 2)) < 40)"
)
BAD_BINARY_SQL = (
    "{c} IS NOT NULL AND CASE WHEN length({c}) < 30 THEN true "
    "ELSE length({c}) < get_byte({c}, 0) + 29 "
    "OR encode(substring({c} FROM 2 FOR get_byte({c}, 0)), 'escape') "
    "!~ '^[A-Za-z0-9_-]{1,16}$' END"
)


def sql(template: str, column: str) -> str:
    """One of the templates above for ``column`` (an SQL expression, e.g. a quoted name)."""
    return template.replace("{c}", column)


class StoredFormError(ValueError):
    """A stored value is in neither form: the migration stops, nothing is written."""


def text_to_binary(token: str) -> bytes:
    match = TEXT_TOKEN_RE.fullmatch(token)
    if match is None:
        raise StoredFormError("not a text token 'keyid$base64'")
    key_id, body = match.groups()
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StoredFormError("the body of the text token is not base64") from exc
    if len(raw) < MIN_BINARY - 2:
        raise StoredFormError("the text token is too short for nonce and tag")
    return bytes([len(key_id)]) + key_id.encode("ascii") + raw


def binary_to_text(value: bytes) -> str:
    end = value[0] + 1 if value else 0
    key_id = value[1:end].decode("ascii", "replace")
    if len(value) < max(MIN_BINARY, end + MIN_BINARY - 2) or not KEY_ID_RE.fullmatch(key_id):
        raise StoredFormError("not a binary stored value 'len | keyid | nonce | ciphertext'")
    return f"{key_id}${base64.b64encode(value[end:]).decode('ascii')}"


def convert(app_label: str, fields: dict[str, list[str]]) -> migrations.RunPython:
    """The operation converting ``fields`` (model name -> encrypted field names), reversible."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        for model_name, names in fields.items():
            _convert(apps.get_model(app_label, model_name), names, schema_editor, binary=True)

    def backwards(apps: Any, schema_editor: Any) -> None:
        for model_name, names in fields.items():
            _convert(apps.get_model(app_label, model_name), names, schema_editor, binary=False)

    return migrations.RunPython(forwards, backwards)


def _convert(model: Any, names: list[str], schema_editor: Any, *, binary: bool) -> None:
    connection = schema_editor.connection
    table = model._meta.db_table
    columns = [model._meta.get_field(name).column for name in names]
    todo = [c for c, kind in _column_types(connection, table, columns).items()
            if kind != ("binary" if binary else "text")]  # fmt: skip
    if not todo:
        return
    if connection.vendor == "postgresql":
        _convert_postgresql(schema_editor, table, todo, binary=binary)
    elif connection.vendor == "sqlite":
        _convert_sqlite(model, names, schema_editor, binary=binary)
    else:
        raise NotImplementedError(f"converting encrypted columns on {connection.vendor}")


def _column_types(connection: Any, table: str, columns: list[str]) -> dict[str, str]:
    """``"text"``, ``"binary"`` or the type's name, for each column."""
    found: dict[str, str]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                [table],
            )
            found = {name: kind for name, kind in cursor.fetchall()}
        else:
            cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(table)})")
            found = {row[1]: row[2].lower() for row in cursor.fetchall()}
    names = {"text": "text", "bytea": "binary", "blob": "binary"}
    return {c: names.get(found[c], found[c]) for c in columns}


def _convert_postgresql(
    schema_editor: Any, table: str, columns: list[str], *, binary: bool
) -> None:
    qn = schema_editor.quote_name
    bad_sql = BAD_TEXT_SQL if binary else BAD_BINARY_SQL
    counts = ", ".join(f"count(*) FILTER (WHERE {sql(bad_sql, qn(c))})" for c in columns)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts} FROM {qn(table)}")  # noqa: S608 - names quoted
        bad = {c: n for c, n in zip(columns, cursor.fetchone(), strict=True) if n}
    if bad:
        raise StoredFormError(
            f"{table}: values in neither stored form, nothing converted: "
            + ", ".join(f"{c} ({n} rows)" for c, n in bad.items())
        )
    kind, using = ("bytea", TO_BINARY_SQL) if binary else ("text", TO_TEXT_SQL)
    alters = ", ".join(
        f"ALTER COLUMN {qn(c)} TYPE {kind} USING ({sql(using, qn(c))})" for c in columns
    )
    schema_editor.execute(f"ALTER TABLE {qn(table)} {alters}", params=None)
    # The rewrite drops the columns' statistics; the planner should not wait for autovacuum.
    schema_editor.execute(f"ANALYZE {qn(table)}", params=None)


def _convert_sqlite(model: Any, names: list[str], schema_editor: Any, *, binary: bool) -> None:
    fields = [model._meta.get_field(name) for name in names]
    # First the table with the new column types (the DDL first, as on PostgreSQL). The model
    # of the migration state has the binary columns; backwards they become text again.
    # ``_remake_table`` is what SQLite's AlterField runs, once per table here instead of once
    # per column.
    if binary:
        schema_editor._remake_table(model)
    else:
        schema_editor._remake_table(model, alter_fields=[(f, _text_twin(f)) for f in fields])
    connection = schema_editor.connection
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    columns = [f.column for f in fields]
    change: Callable[[Any], Any] = text_to_binary if binary else binary_to_text
    check: Callable[[Any], Any] = binary_to_text if binary else text_to_binary
    source, target = (str, bytes) if binary else (bytes, str)

    def converted(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, source):
            return change(value)
        if isinstance(value, target):
            check(value)  # already converted: only a well-formed value may stay
            return value
        raise StoredFormError(f"a {type(value).__name__} value is in neither stored form")

    first = f"SELECT {pk}, {', '.join(map(qn, columns))} FROM {table}"  # noqa: S608 - quoted
    sets = ", ".join(f"{qn(c)} = %s" for c in columns)
    update = f"UPDATE {table} SET {sets} WHERE {pk} = %s"  # noqa: S608 - names quoted
    last: Any = None
    with connection.cursor() as cursor:
        while True:
            if last is None:
                cursor.execute(f"{first} ORDER BY {pk} LIMIT {BATCH}")
            else:
                cursor.execute(f"{first} WHERE {pk} > %s ORDER BY {pk} LIMIT {BATCH}", [last])
            rows = cursor.fetchall()
            if not rows:
                break
            changed = []
            for pk_value, *values in rows:
                try:
                    new = [converted(v) for v in values]
                except StoredFormError as exc:
                    raise StoredFormError(
                        f"{model._meta.db_table} id={pk_value}: {exc}; nothing converted"
                    ) from exc
                if new != values:
                    changed.append([*new, pk_value])
            if changed:
                cursor.executemany(update, changed)
            last = rows[-1][0]


def _text_twin(field: models.Field) -> models.Field:
    twin = models.TextField(null=True, blank=True, db_column=field.db_column)
    twin.set_attributes_from_name(field.name)
    return twin
