"""Keyring, AES-256-GCM field encryption and HMAC-SHA-256 blind indexes.

Stored form of an encrypted value (a ``bytea``/BLOB column): one byte with the length of the
key id, the key id in ASCII, the 12-byte nonce, then the ciphertext with its 16-byte tag:
``len(id) | id | nonce | ciphertext+tag``. The associated data is ``app_label.model.field``,
so a value copied into another column fails to decrypt. Keys come from the environment only
(``FIELD_ENCRYPTION_KEYS``: ``id:base64`` entries, the first one active; ``BLIND_INDEX_KEY``),
never from ``SECRET_KEY`` or the database. ``AUDIT_KEY`` (same ``id:base64`` form) keys the
audit log's HMAC chain (``coordination/audit.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class DecryptionError(Exception):
    """A stored value could not be decrypted (unknown key id, wrong key, tampered data)."""


def header(key_id: str) -> bytes:
    """The start of every value stored under ``key_id``: its length, then its ASCII bytes."""
    return bytes([len(key_id)]) + key_id.encode("ascii")


@dataclass(frozen=True)
class Keyring:
    active_id: str
    keys: dict[str, AESGCM]
    blind_key: bytes
    # Derived from ``keys``: every key by the header of its stored values (``raw[: raw[0] + 1]``),
    # so decryption needs one slice and one dict lookup, no parsing.
    by_header: dict[bytes, AESGCM] = field(init=False, repr=False, compare=False)
    active_header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_header", {header(k): aes for k, aes in self.keys.items()})
        object.__setattr__(self, "active_header", header(self.active_id))

    def encrypt(self, plaintext: bytes, *, context: str, aad: bytes | None = None) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys[self.active_id].encrypt(nonce, plaintext, aad or context.encode())
        return self.active_header + nonce + sealed

    def decrypt(self, token: bytes, *, context: str, aad: bytes | None = None) -> bytes:
        """Decrypt one stored value. ``aad`` is ``context`` encoded (fields keep it ready)."""
        # The hot path of every page: kept flat on purpose (see the benchmark). Anything odd
        # (short, unknown header, wrong key, not bytes) lands in ``error``, off that path.
        try:
            end = token[0] + 1
            body = end + NONCE_BYTES
            return self.by_header[token[:end]].decrypt(
                token[end:body], token[body:], aad or context.encode()
            )
        except (LookupError, InvalidTag, TypeError, ValueError):
            if isinstance(token, memoryview | bytearray):
                return self.decrypt(bytes(token), context=context, aad=aad)
            # ``from None``: the lookup's KeyError would carry the value's first bytes into
            # tracebacks and error mails (plaintext, were a column ever written unencrypted).
            raise self.error(token, context) from None

    def error(self, token: object, context: str) -> DecryptionError:
        """Why ``token`` does not decrypt, named for the operator (the slow path)."""
        if isinstance(token, str):
            return DecryptionError(
                f"{context}: stored value is text, not an encrypted value (a column not yet "
                "converted to binary? run `manage.py migrate`)"
            )
        key_id = _key_id(token)
        if key_id is None:
            return DecryptionError(f"{context}: stored value is not an encrypted token")
        if key_id not in self.keys:
            return DecryptionError(
                f"{context}: value is encrypted under key id {key_id!r}, which is not in "
                "FIELD_ENCRYPTION_KEYS"
            )
        return DecryptionError(
            f"{context}: value does not decrypt with key {key_id!r} of FIELD_ENCRYPTION_KEYS "
            "(wrong key, tampered data, or copied from another column)"
        )

    def blind_index(self, normalised: str, *, purpose: str) -> str:
        mac = hmac.new(self.blind_key, f"{purpose}\x1f{normalised}".encode(), hashlib.sha256)
        return mac.hexdigest()


def _key_id(token: object) -> str | None:
    """The key id of a well-formed stored value (long enough for nonce and tag), else None."""
    if not isinstance(token, bytes) or not token:
        return None
    end = token[0] + 1
    if len(token) < end + NONCE_BYTES + TAG_BYTES:
        return None
    key_id = token[1:end].decode("ascii", "replace")
    return key_id if KEY_ID_RE.match(key_id) else None


def _decode_key(raw: str, variable: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{variable}: a key is not valid base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"{variable}: every key must be 32 bytes (256 bits)")
    return key


def parse_keyring(field_keys: str, blind_key: str) -> Keyring:
    """Build a keyring from the two environment variables; raise naming the bad variable."""
    if not field_keys.strip():
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set: personal fields cannot be encrypted or read."
        )
    if not blind_key.strip():
        raise ImproperlyConfigured("BLIND_INDEX_KEY is not set: search indexes cannot be built.")
    keys: dict[str, AESGCM] = {}
    active = ""
    for entry in field_keys.split(","):
        if not entry.strip():
            continue
        key_id, sep, raw = entry.strip().partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS: entries are 'id:base64key' separated by commas"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key id {key_id!r} appears twice")
        keys[key_id] = AESGCM(_decode_key(raw, "FIELD_ENCRYPTION_KEYS"))
        active = active or key_id
    return Keyring(active_id=active, keys=keys, blind_key=_decode_key(blind_key, "BLIND_INDEX_KEY"))


_keyring: Keyring | None = None


def get_keyring() -> Keyring:
    """The keyring for the current settings, built once (every field value goes through
    here, so this is a plain global; a change of the key settings resets it)."""
    global _keyring
    ring = _keyring
    if ring is None:
        ring = _keyring = parse_keyring(settings.FIELD_ENCRYPTION_KEYS, settings.BLIND_INDEX_KEY)
    return ring


@receiver(setting_changed)
def _reset_keyring(*, setting: str, **kwargs: object) -> None:
    global _keyring
    if setting in {"FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}:
        _keyring = None


@dataclass(frozen=True)
class AuditKeys:
    """The HMAC keys of the audit log's chain: new entries use ``active_id``; older ids stay
    listed while entries signed with them remain in the log."""

    active_id: str
    keys: dict[str, bytes] = field(repr=False)


def parse_audit_keys(raw: str) -> AuditKeys:
    """``AUDIT_KEY``: ``id:base64`` entries separated by commas, the first one active."""
    keys: dict[str, bytes] = {}
    active = ""
    for entry in raw.split(","):
        if not entry.strip():
            continue
        key_id, sep, value = entry.strip().partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured("AUDIT_KEY: entries are 'id:base64key' separated by commas")
        if key_id in keys:
            raise ImproperlyConfigured(f"AUDIT_KEY: key id {key_id!r} appears twice")
        keys[key_id] = _decode_key(value, "AUDIT_KEY")
        active = active or key_id
    if not keys:
        raise ImproperlyConfigured("AUDIT_KEY is not set: the audit log cannot be written.")
    return AuditKeys(active_id=active, keys=keys)


_audit_keys: AuditKeys | None = None


def get_audit_keys() -> AuditKeys:
    """The audit keys for the current settings, parsed once."""
    global _audit_keys
    if _audit_keys is None:
        _audit_keys = parse_audit_keys(getattr(settings, "AUDIT_KEY", ""))
    return _audit_keys


@receiver(setting_changed)
def _reset_audit_keys(*, setting: str, **kwargs: object) -> None:
    global _audit_keys
    if setting == "AUDIT_KEY":
        _audit_keys = None


def generate_key() -> str:
    """A fresh random 256-bit key, base64-encoded, for .env files and rotation."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def key_id_of(token: bytes) -> str:
    """The key id a stored value names (``token`` must be a stored value, see ``header``)."""
    return token[1 : token[0] + 1].decode("ascii")


# --- blind indexes ------------------------------------------------------------------------


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC-SHA-256 over the value (NFKC, case-folded, single spaces); ``purpose`` separates
    index families. Names are folded further before they get here: ``cases/identity.py``."""
    text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    return get_keyring().blind_index(text, purpose=purpose)
