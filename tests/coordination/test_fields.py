"""coordination/fields.py: encrypted model fields store binary tokens, decrypt on load, refuse
lookups."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from cases.models import Case, Guardian
from coordination.crypto import DecryptionError, key_id_of
from coordination.fields import EncryptedField, EncryptedFieldLookupError, encrypted_fields
from tests.factories import CaseFactory


def raw_column(model, pk: int, column: str) -> bytes | None:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",  # noqa: S608
            [pk],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Amina",
        family_name="Haddad",
        birth_date=dt.date(2016, 5, 17),
        languages=["Arabisch", "Kurdisch"],
        interpreter_needed=True,
        school_years=3,
        notes="Bruder geht in die 5. Klasse.",
    )


def test_every_type_round_trips_through_the_database(case) -> None:
    loaded = Case.objects.get(pk=case.pk)
    assert loaded.given_name == "Amina"
    assert loaded.birth_date == dt.date(2016, 5, 17)
    assert loaded.languages == ["Arabisch", "Kurdisch"]
    assert loaded.interpreter_needed is True
    assert loaded.school_years == 3
    assert loaded.support_needed is None  # never set: NULL, not False
    assert loaded.address == ""


def test_the_column_holds_a_token_under_the_active_key(case) -> None:
    for column, plain in [
        ("given_name", "Amina"),
        ("birth_date", "2016-05-17"),
        ("languages", "Arabisch"),
        ("notes", "Bruder"),
    ]:
        stored = raw_column(Case, case.pk, column)
        assert isinstance(stored, bytes)
        assert key_id_of(stored) == "t1"
        assert plain.encode() not in stored


def test_the_columns_are_binary(db) -> None:
    from django.apps import apps

    with connection.cursor() as cursor:
        for model in apps.get_models():
            encrypted = {f.column for f in encrypted_fields(model)}
            if not encrypted:
                continue
            table = model._meta.db_table
            for column in connection.introspection.get_table_description(cursor, table):
                if column.name in encrypted:
                    kind = connection.introspection.get_field_type(column.type_code, column)
                    assert kind == "BinaryField", (table, column.name)


def test_the_stored_value_is_header_nonce_and_ciphertext(case) -> None:
    stored = raw_column(Case, case.pk, "family_name")
    assert len(stored) == len(b"\x02t1") + 12 + len(b"Haddad") + 16


def test_empty_values_are_stored_as_null(case) -> None:
    assert raw_column(Case, case.pk, "address") is None
    assert raw_column(Case, case.pk, "support_needed") is None


@pytest.mark.parametrize(
    "lookup",
    [
        {"given_name": "Amina"},
        {"given_name__icontains": "am"},
        {"birth_date__year": 2016},
        {"family_name__in": ["Haddad"]},
        {"notes__startswith": "B"},
    ],
)
def test_lookups_other_than_isnull_raise(case, lookup) -> None:
    with pytest.raises(EncryptedFieldLookupError, match=r"blind index|encrypted"):
        list(Case.objects.filter(**lookup))


def test_isnull_lookup_works(case) -> None:
    assert Case.objects.filter(address__isnull=True, pk=case.pk).exists()
    assert Case.objects.filter(given_name__isnull=False, pk=case.pk).exists()


def test_a_token_copied_into_another_column_fails_to_decrypt(case) -> None:
    token = raw_column(Case, case.pk, "family_name")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cases_case SET given_name = %s WHERE id = %s", [token, case.pk])
    with pytest.raises(DecryptionError, match=r"cases\.case\.given_name"):
        Case.objects.get(pk=case.pk)


def test_a_missing_key_fails_loudly_instead_of_returning_text(case, settings) -> None:
    settings.FIELD_ENCRYPTION_KEYS = ""
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        Case.objects.get(pk=case.pk)


def test_a_wrong_key_fails_loudly_naming_the_variable(case, settings) -> None:
    settings.FIELD_ENCRYPTION_KEYS = "t1:" + "A" * 43 + "="
    with pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        Case.objects.get(pk=case.pk)


def test_encrypted_fields_lists_the_personal_columns() -> None:
    names = {f.name for f in encrypted_fields(Case)}
    assert {"given_name", "family_name", "birth_date", "health_notes", "notes"} <= names
    assert not names & {"reference", "state", "birth_year", "district", "bidx_name"}
    assert {f.name for f in encrypted_fields(Guardian)} == {
        "name",
        "phone",
        "email",
        "preferred_language",
    }
    assert all(isinstance(f, EncryptedField) for f in encrypted_fields(Case))


def test_the_associated_data_is_app_model_and_field() -> None:
    assert Case._meta.get_field("notes").context == "cases.case.notes"
