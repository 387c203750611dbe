"""Migrations cases 0004 and referrals 0004: encrypted columns from text tokens to binary.

Run with rows in every converted table, backwards (binary to the old text tokens) and forwards
again, on SQLite and on PostgreSQL: the values decrypt to the same plaintext afterwards, and a
value in neither form stops the migration with nothing written.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import Case, CaseEvent, Guardian
from coordination import encrypted_columns
from coordination.crypto import get_keyring
from coordination.encrypted_columns import StoredFormError, binary_to_text, text_to_binary
from coordination.fields import encrypted_fields
from referrals.models import Referral
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("cases", "0003_case_birth_year_index"), ("referrals", "0003_referral_reminder_level")]
AFTER = [("cases", "0004_encrypted_columns_binary"), ("referrals", "0004_encrypted_columns_binary")]
MODELS = (Case, Guardian, CaseEvent, Referral)
TEXT_TOKEN = re.compile(r"^t1\$[A-Za-z0-9+/]+={0,2}$")
# Longer than 57 bytes: PostgreSQL's base64 would break the line after 76 characters.
LONG = "Familie wohnt vorübergehend in der Gemeinschaftsunterkunft, Dolmetschung Arabisch. " * 3


def _migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest():  # type: ignore[no-untyped-def]
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _raw(model) -> dict[tuple[int, str], object]:  # type: ignore[no-untyped-def]
    """Every stored value of the model's encrypted columns, by (pk, column)."""
    qn = connection.ops.quote_name
    columns = [f.column for f in encrypted_fields(model)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(map(qn, columns))} FROM {qn(model._meta.db_table)}"  # noqa: S608
        )
        return {
            (row[0], c): v
            for row in cursor.fetchall()
            for c, v in zip(columns, row[1:], strict=True)
        }


def _column_kinds(model) -> set[str]:  # type: ignore[no-untyped-def]
    columns = {f.column for f in encrypted_fields(model)}
    with connection.cursor() as cursor:
        found = connection.introspection.get_table_description(cursor, model._meta.db_table)
    return {connection.introspection.get_field_type(c.type_code, c) for c in found
            if c.name in columns}  # fmt: skip


def _old_decrypt(token: str, context: str) -> bytes:
    """How the text tokens were read before the migration."""
    key_id, _sep, body = token.partition("$")
    raw = base64.b64decode(body, validate=True)
    return get_keyring().keys[key_id].decrypt(raw[:12], raw[12:], context.encode())


def _old_encrypt(plaintext: bytes, context: str) -> str:
    nonce = os.urandom(12)
    sealed = get_keyring().keys["t1"].encrypt(nonce, plaintext, context.encode())
    return "t1$" + base64.b64encode(nonce + sealed).decode()


def _plaintexts() -> dict[tuple[str, int], dict[str, object]]:
    """Every encrypted value as the application reads it, by (model, pk) and field."""
    loaded = {}
    for model in MODELS:
        names = [f.name for f in encrypted_fields(model)]
        for row in model.objects.values("pk", *names):
            loaded[model._meta.label, row.pop("pk")] = row
    return loaded


@pytest.fixture
def rows(coordinator, district, institution) -> None:
    """Rows in every table with encrypted columns, values of every field type, some NULL."""
    for name in ("Haddad", "Kovalenko"):
        case = CaseFactory(
            coordinator=coordinator,
            district=district,
            family_name=name,
            birth_date=dt.date(2016, 5, 17),
            languages=["Arabisch", "Kurdisch"],
            interpreter_needed=True,
            school_years=3,
            notes=LONG,
            address="",  # NULL
            clarification=True,
        )
        Guardian.objects.create(family=case.family, relation="mother", name="Mutter", phone="1")
        CaseEvent.objects.create(case=case, kind="edited", comment=f"Notiz {name}")
        Referral.objects.create(
            case=case, institution=institution, group="g01", message=LONG, answer_comment=""
        )


def test_backwards_and_forwards_keep_every_value(rows, monkeypatch) -> None:
    monkeypatch.setattr(encrypted_columns, "BATCH", 3)  # several batches on SQLite
    before = _plaintexts()
    assert {label for label, _pk in before} == {m._meta.label for m in MODELS}
    try:
        _migrate(BEFORE)
        for model in MODELS:
            assert _column_kinds(model) == {"TextField"}
            names = {f.column: f.name for f in encrypted_fields(model)}
            for (pk, column), value in _raw(model).items():
                plain = before[model._meta.label, pk][names[column]]
                if value is None:
                    assert plain in (None, ""), (model, column)
                    continue
                # The old text form, readable the old way, with no line breaks.
                assert isinstance(value, str) and TEXT_TOKEN.match(value), value
                context = f"{model._meta.label_lower}.{names[column]}"
                assert _old_decrypt(value, context) == model._meta.get_field(
                    names[column]
                ).to_bytes(plain)
        # A value written by the old code while the columns are text.
        guardian = min(pk for label, pk in before if label == "cases.Guardian")
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_guardian SET email = %s WHERE id = %s",
                [_old_encrypt(b"mutter@example.org", "cases.guardian.email"), guardian],
            )
        before["cases.Guardian", guardian]["email"] = "mutter@example.org"
        _migrate(AFTER)
        for model in MODELS:
            assert _column_kinds(model) == {"BinaryField"}
            assert all(isinstance(v, bytes | None) for v in _raw(model).values())
        assert _plaintexts() == before
    finally:
        _migrate(_latest())


# Bytes in a text column: only SQLite can hold them (it keeps them as they are).
ON_SQLITE = "sqlite" in settings.DATABASES["default"]["ENGINE"]


@pytest.mark.parametrize("literal", ["'Klartext'", "42", "newline", *(["blob"] * ON_SQLITE)])
def test_a_value_in_neither_form_stops_the_migration_with_nothing_written(
    rows, literal: str
) -> None:
    sqlite = connection.vendor == "sqlite"
    if literal == "blob":
        literal = "X'4b6c617274657874'"
    elif literal == "newline":
        # A well-formed token with a line break after it: Python's $ would let it pass.
        token = "'t1$" + base64.b64encode(bytes(40)).decode() + "'"
        literal = f"{token} || char(10)" if sqlite else f"{token} || E'\\n'"
    try:
        _migrate(BEFORE)
        case = Case.objects.order_by("pk").values_list("pk", flat=True).first()
        with connection.cursor() as cursor:
            sql = f"UPDATE cases_case SET notes = {literal} WHERE id = %s"  # noqa: S608 - test literals
            cursor.execute(sql, [case])
        stored = _raw(Case)
        with pytest.raises(StoredFormError, match="cases_case"):
            _migrate(AFTER)
        assert _column_kinds(Case) == {"TextField"}
        assert _raw(Case) == stored  # the other columns were not converted either
        with connection.cursor() as cursor:
            cursor.execute("UPDATE cases_case SET notes = NULL WHERE id = %s", [case])
    finally:
        _migrate(_latest())
    assert Case.objects.get(pk=case).notes == ""


def test_the_two_forms_convert_into_each_other() -> None:
    token = get_keyring().encrypt(b"Haddad", context="c")
    text = binary_to_text(token)
    assert text.startswith("t1$") and text_to_binary(text) == token
    assert get_keyring().decrypt(text_to_binary(text), context="c") == b"Haddad"
    for bad in ("Haddad", "t1$", "t1$not base64!", "t1$" + base64.b64encode(bytes(20)).decode()):
        with pytest.raises(StoredFormError):
            text_to_binary(bad)
    for bad_bytes in (b"", b"\x02t1", b"\x00" + bytes(40), b"\x02t\xff" + bytes(40)):
        with pytest.raises(StoredFormError):
            binary_to_text(bad_bytes)


def test_the_postgresql_conversion_matches_the_python_one() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's own conversion")
    from coordination.encrypted_columns import TO_BINARY_SQL, TO_TEXT_SQL, sql

    tokens = [get_keyring().encrypt(os.urandom(n), context="c") for n in (0, 1, 57, 58, 300)]
    with connection.cursor() as cursor:
        for token in tokens:
            text = binary_to_text(token)
            cursor.execute(f"SELECT {sql(TO_TEXT_SQL, '%s::bytea')}", [token] * 5)
            assert cursor.fetchone()[0] == text
            cursor.execute(f"SELECT {sql(TO_BINARY_SQL, '%s::text')}", [text] * 4)
            assert bytes(cursor.fetchone()[0]) == token
        cursor.execute(f"SELECT {sql(TO_BINARY_SQL, 'NULL::text')}")
        assert cursor.fetchone()[0] is None
