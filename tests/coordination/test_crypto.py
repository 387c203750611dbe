"""coordination/crypto.py: keyring, AES-256-GCM with associated data, blind indexes.

(Normalisation and phonetic keys of names: tests/cases/test_identity.py.)"""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from coordination.crypto import (
    DecryptionError,
    blind_index,
    generate_key,
    get_keyring,
    key_id_of,
    parse_keyring,
)

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
BLIND = base64.b64encode(b"c" * 32).decode()


def ring(spec: str = f"new:{KEY_A},old:{KEY_B}", blind: str = BLIND):
    return parse_keyring(spec, blind)


# --- encryption ------------------------------------------------------------------------------


def test_round_trip_returns_the_plaintext() -> None:
    keyring = ring()
    token = keyring.encrypt(b"Amina Haddad", context="cases.case.given_name")
    assert keyring.decrypt(token, context="cases.case.given_name") == b"Amina Haddad"


def test_token_names_the_active_key_and_hides_the_plaintext() -> None:
    token = ring().encrypt(b"Haddad", context="cases.case.family_name")
    assert key_id_of(token) == "new"
    assert token[:4] == b"\x03new"  # length of the key id, the key id
    assert len(token) == 4 + 12 + len(b"Haddad") + 16  # nonce, ciphertext, tag
    assert b"Haddad" not in token


def test_the_same_value_encrypts_differently_each_time() -> None:
    keyring = ring()
    first = keyring.encrypt(b"Haddad", context="c")
    second = keyring.encrypt(b"Haddad", context="c")
    assert first != second  # random nonce: equal values are not recognisable


def test_a_token_copied_into_another_column_does_not_decrypt() -> None:
    keyring = ring()
    token = keyring.encrypt(b"Haddad", context="cases.case.family_name")
    with pytest.raises(DecryptionError, match="copied from another column"):
        keyring.decrypt(token, context="cases.case.notes")


def test_a_tampered_token_does_not_decrypt() -> None:
    keyring = ring()
    token = bytearray(keyring.encrypt(b"Haddad", context="c"))
    token[-1] ^= 1
    with pytest.raises(DecryptionError, match="tampered"):
        keyring.decrypt(bytes(token), context="c")


def test_an_older_key_still_decrypts_while_listed() -> None:
    old_first = ring(f"old:{KEY_B},new:{KEY_A}")
    token = old_first.encrypt(b"Haddad", context="c")
    assert key_id_of(token) == "old"
    assert ring().decrypt(token, context="c") == b"Haddad"


def test_an_unknown_key_id_names_the_variable() -> None:
    token = ring(f"gone:{KEY_B}").encrypt(b"Haddad", context="c")
    with pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        ring().decrypt(token, context="c")


def test_a_wrong_key_under_the_same_id_names_the_variable() -> None:
    token = ring(f"new:{KEY_B}").encrypt(b"Haddad", context="c")
    with pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        ring(f"new:{KEY_A}").decrypt(token, context="c")


def test_key_ids_that_share_a_prefix_are_told_apart() -> None:
    keyring = ring(f"t1:{KEY_A},t10:{KEY_B}")
    token = ring(f"t10:{KEY_B}").encrypt(b"Haddad", context="c")
    assert keyring.decrypt(token, context="c") == b"Haddad"


@pytest.mark.parametrize(
    "value", [b"Haddad", b"", b"\x00" + bytes(40), b"\x03n w" + bytes(40), b"\x03new" + bytes(20)]
)
def test_a_plain_value_is_not_returned_as_if_decrypted(value: bytes) -> None:
    with pytest.raises(DecryptionError, match="not an encrypted token"):
        ring().decrypt(value, context="c")


def test_a_failed_decryption_carries_none_of_the_stored_bytes() -> None:
    # Unencrypted bytes in a column (a bad import): the error, its cause and its context
    # must not repeat them, they end up in logs and error mails.
    stored = b"\xc8Maria Mustermann, Asylbewerberin" + bytes(40)
    with pytest.raises(DecryptionError) as caught:
        ring().decrypt(stored, context="cases.case.notes")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "Maria" not in str(caught.value) and "Maria" not in repr(caught.value)


def test_a_text_value_asks_for_the_migration() -> None:
    old_token = "new$" + base64.b64encode(bytes(40)).decode()
    with pytest.raises(DecryptionError, match=r"text, not an encrypted value.*migrate"):
        ring().decrypt(old_token, context="c")


@pytest.mark.parametrize("wrap", [memoryview, bytearray])
def test_a_buffer_from_the_driver_decrypts_too(wrap) -> None:
    keyring = ring()
    token = keyring.encrypt(b"Haddad", context="c")
    assert keyring.decrypt(wrap(token), context="c") == b"Haddad"


@hyp_settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.text(min_size=1, max_size=40))
def test_any_bytes_round_trip(plaintext: bytes, context: str) -> None:
    keyring = ring()
    assert keyring.decrypt(keyring.encrypt(plaintext, context=context), context=context) == (
        plaintext
    )


# --- key configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_keys", "blind", "variable"),
    [
        ("", BLIND, "FIELD_ENCRYPTION_KEYS"),
        (f"k:{KEY_A}", "", "BLIND_INDEX_KEY"),
        ("k:not-base64!", BLIND, "FIELD_ENCRYPTION_KEYS"),
        (f"k:{base64.b64encode(b'short').decode()}", BLIND, "FIELD_ENCRYPTION_KEYS"),
        (KEY_A, BLIND, "FIELD_ENCRYPTION_KEYS"),  # no id
        (f"k:{KEY_A},k:{KEY_B}", BLIND, "FIELD_ENCRYPTION_KEYS"),  # id twice
        (f"k:{KEY_A}", "c2hvcnQ=", "BLIND_INDEX_KEY"),
    ],
)
def test_a_bad_key_configuration_names_the_variable(field_keys, blind, variable) -> None:
    with pytest.raises(ImproperlyConfigured, match=variable):
        parse_keyring(field_keys, blind)


def test_the_first_key_is_active() -> None:
    assert ring(f"b:{KEY_B},a:{KEY_A}").active_id == "b"


def test_missing_keys_in_settings_raise_a_clear_error(settings) -> None:
    settings.FIELD_ENCRYPTION_KEYS = ""
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is not set"):
        get_keyring()


def test_generated_keys_are_usable_and_distinct() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert parse_keyring(f"g:{first}", second).active_id == "g"


# --- blind indexes, normalisation, phonetics ---------------------------------------------------


def test_blind_index_is_deterministic_and_separated_by_purpose() -> None:
    assert blind_index("Haddad", purpose="family") == blind_index("HADDAD ", purpose="family")
    assert blind_index("Haddad", purpose="family") != blind_index("Haddad", purpose="name")
    assert "haddad" not in blind_index("Haddad", purpose="family")


def test_blind_index_depends_on_the_blind_index_key(settings) -> None:
    before = blind_index("Haddad", purpose="family")
    settings.BLIND_INDEX_KEY = BLIND
    assert blind_index("Haddad", purpose="family") != before
