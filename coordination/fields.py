"""Encrypted model fields and the blind-index field.

Every encrypted field is a binary column (``bytea`` on PostgreSQL, BLOB on SQLite) holding
``len(key id) | key id | nonce | ciphertext+tag`` (see :mod:`coordination.crypto`); the
plaintext never reaches the database. Only ``isnull`` can be looked up on it: search goes
through a :class:`BlindIndexField` (HMAC of the normalised value) instead.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.db import models
from django.db.models import Lookup

from coordination import crypto
from coordination.crypto import get_keyring


class EncryptedFieldLookupError(FieldError):
    pass


class EncryptedField(models.TextField):
    """Base: subclasses convert their Python value to and from bytes.

    A ``TextField`` for everything Python-side (form fields, admin widgets, ``to_python``,
    serialisation of the plaintext); only the column is binary (``get_internal_type``).
    """

    encrypted = True
    _context: str = ""
    _aad: bytes = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["null"] = True
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False):
        super().contribute_to_class(cls, name, private_only)
        self._context = f"{cls._meta.label_lower}.{name}"
        self._aad = self._context.encode()

    @property
    def context(self) -> str:
        return self._context

    def get_internal_type(self) -> str:
        # The column type (bytea / BLOB); the deconstructed field is unchanged, so migrations
        # do not see it: cases 0004 and referrals 0004 converted the existing columns.
        return "BinaryField"

    # Subclasses implement these two.
    def to_bytes(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def from_bytes(self, data: bytes) -> Any:
        return data.decode("utf-8")

    def is_empty(self, value: Any) -> bool:
        return value is None

    def empty_value(self) -> Any:
        return None

    def get_prep_value(self, value: Any) -> Any:
        value = self.to_python(value)
        if self.is_empty(value):
            return None
        return get_keyring().encrypt(self.to_bytes(value), context=self._context, aad=self._aad)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return self.empty_value()
        # The keyring global is read directly (a function call less per value: this runs for
        # every encrypted value of every row read; see the benchmark).
        ring = crypto._keyring or get_keyring()
        return self.from_bytes(ring.decrypt(value, context=self._context, aad=self._aad))

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        if lookup_name != "isnull":
            raise EncryptedFieldLookupError(
                f"{self.context} is encrypted: only 'isnull' can be looked up on it; "
                "search through its blind index instead."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise EncryptedFieldLookupError(f"{self.context} is encrypted and cannot be transformed.")


class EncryptedTextField(EncryptedField):
    def is_empty(self, value: Any) -> bool:
        return value is None or value == ""

    def empty_value(self) -> str:
        return ""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # The most frequent case (names on every list), without the from_bytes call.
        if value is None:
            return ""
        ring = crypto._keyring or get_keyring()
        return ring.decrypt(value, context=self._context, aad=self._aad).decode()

    def to_python(self, value: Any) -> Any:
        if value is None:
            return ""
        return str(value)


class EncryptedCharField(EncryptedTextField):
    """An encrypted text with a maximum length checked on validation (the column is text)."""

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        defaults: dict[str, Any] = {"form_class": forms.CharField, "max_length": self.max_length}
        defaults.update(kwargs)
        return models.Field.formfield(self, **defaults)


class EncryptedDateField(EncryptedField):
    def to_python(self, value: Any) -> dt.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise ValidationError("Enter a valid date.", code="invalid") from exc

    def to_bytes(self, value: dt.date) -> bytes:
        return value.isoformat().encode("ascii")

    def from_bytes(self, data: bytes) -> dt.date:
        return dt.date.fromisoformat(data.decode("ascii"))

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return models.Field.formfield(self, **{"form_class": forms.DateField, **kwargs})


class EncryptedBooleanField(EncryptedField):
    def to_python(self, value: Any) -> bool | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        return str(value).lower() in {"1", "true", "yes", "on"}

    def to_bytes(self, value: bool) -> bytes:
        return b"1" if value else b"0"

    def from_bytes(self, data: bytes) -> bool:
        return data == b"1"

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return models.Field.formfield(
            self, **{"form_class": forms.NullBooleanField, "required": False, **kwargs}
        )


class EncryptedIntegerField(EncryptedField):
    def to_python(self, value: Any) -> int | None:
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError("Enter a whole number.", code="invalid") from exc

    def to_bytes(self, value: int) -> bytes:
        return str(int(value)).encode("ascii")

    def from_bytes(self, data: bytes) -> int:
        return int(data)

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return models.Field.formfield(self, **{"form_class": forms.IntegerField, **kwargs})


class EncryptedJSONField(EncryptedField):
    """A list or dict (e.g. languages spoken), stored encrypted as JSON."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value:
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def is_empty(self, value: Any) -> bool:
        return value is None

    def to_bytes(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def from_bytes(self, data: bytes) -> Any:
        return json.loads(data)

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj))


class BlindIndexField(models.CharField):
    """Hex HMAC-SHA-256 of a normalised value; indexed, never shown, set by the model."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)


def encrypted_fields(model: type[models.Model]) -> list[EncryptedField]:
    """The encrypted fields of a model (used by rotation, erasure and tests)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
