"""Re-encrypt every encrypted column with the active key of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy,
run ``manage.py rotate_field_keys``, check with ``--check``, then drop the old keys.

- Resumable: only values whose key id is not the active one are touched (the database
  compares the first bytes of each value with the active key's header), so an interrupted
  run continues where it stopped; every batch commits on its own.
- Concurrency-safe: each row is written with compare-and-set on its old tokens, so a value
  changed by the application meanwhile (already under the active key) is never overwritten;
  such a row is read again in another pass (the application saves only the columns it
  changes, so its other columns may still be under an old key).
- Stored values are read raw (a ``Cast`` to a plain binary field bypasses the field's
  decryption), decrypted and encrypted with the same associated data (``app_label.model.field``).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.models.functions import Cast, Substr
from django.db.models.lookups import Exact

from coordination.crypto import DecryptionError, Keyring, get_keyring
from coordination.fields import EncryptedField, encrypted_fields

MAX_PASSES = 3


def _raw(field: EncryptedField) -> Cast:
    # The Cast's output field is a plain BinaryField: its values skip from_db_value.
    return Cast(field.attname, output_field=models.BinaryField())


def _bytes(value: bytes) -> models.Value:
    return models.Value(value, output_field=models.BinaryField())


def _stale(field: EncryptedField, header: bytes) -> models.Q:
    """Rows whose value in this column is stored under a key other than the one of ``header``
    (the active key's): the value does not start with that header."""
    head = Substr(_raw(field), 1, len(header), output_field=models.BinaryField())
    return models.Q(**{f"{field.attname}__isnull": False}) & ~models.Q(Exact(head, _bytes(header)))


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column with the active key (resumable, in batches). "
        "--check counts values still under older keys and exits non-zero if any remain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="rows per transaction (default 500)"
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only count values under older keys; exit 1 if there are any",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            keyring = get_keyring()
        except Exception as exc:  # ImproperlyConfigured: say which variable is wrong
            raise CommandError(str(exc)) from exc
        targets = [
            (model, fields)
            for model in apps.get_models()
            if (fields := encrypted_fields(model)) and not model._meta.proxy
        ]
        if options["check"]:
            self._check(targets, keyring)
            return
        self.stdout.write(f"active key: {keyring.active_id}")
        total = 0
        for model, fields in targets:
            total += self._rotate_model(model, fields, keyring, batch_size)
        self.stdout.write(self.style.SUCCESS(f"done: {total} values re-encrypted"))

    # --- check -------------------------------------------------------------------------

    def _check(
        self, targets: list[tuple[type[models.Model], list[EncryptedField]]], keyring: Keyring
    ) -> None:
        remaining = 0
        for model, fields in targets:
            qs = self._annotated(model, fields)
            for field in fields:
                count = qs.filter(_stale(field, keyring.active_header)).count()
                if count:
                    self.stdout.write(f"{field.context}: {count} values under older keys")
                remaining += count
        if remaining:
            raise CommandError(
                f"{remaining} values are still encrypted under older keys; "
                "run `manage.py rotate_field_keys`."
            )
        self.stdout.write(
            self.style.SUCCESS(f"all encrypted values use the active key {keyring.active_id!r}")
        )

    # --- rotation ----------------------------------------------------------------------

    @staticmethod
    def _annotated(model: type[models.Model], fields: list[EncryptedField]) -> models.QuerySet:
        return model._base_manager.annotate(**{f"_raw_{f.attname}": _raw(f) for f in fields})

    def _rotate_model(
        self,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        batch_size: int,
    ) -> int:
        any_stale = models.Q()
        for field in fields:
            any_stale |= _stale(field, keyring.active_header)
        qs = self._annotated(model, fields).filter(any_stale)
        todo = qs.count()
        if not todo:
            return 0
        label = model._meta.label
        self.stdout.write(f"{label}: {todo} rows to re-encrypt")
        written = 0
        # A row the application changed during a pass is skipped whole (compare-and-set), but
        # the application saves only the columns it changes: its other columns may still be
        # under an old key. Another pass re-reads those rows; a few passes always suffice
        # unless a row is changed again between every read and write.
        for _pass in range(MAX_PASSES):
            written += self._rotate_pass(model, fields, keyring, batch_size, qs, todo)
            todo = qs.count()
            if not todo:
                break
            self.stdout.write(f"{label}: {todo} rows changed meanwhile, once more")
        return written

    def _rotate_pass(
        self,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        batch_size: int,
        qs: models.QuerySet,
        todo: int,
    ) -> int:
        label = model._meta.label
        raw_names = [f"_raw_{f.attname}" for f in fields]
        last_pk: Any = None
        done_rows = 0
        written = 0
        while True:
            page = qs.order_by("pk")
            if last_pk is not None:
                page = page.filter(pk__gt=last_pk)
            rows = list(page.values_list("pk", *raw_names)[:batch_size])
            if not rows:
                break
            with transaction.atomic():
                written += self._rotate_batch(model, fields, keyring, rows)
            last_pk = rows[-1][0]
            done_rows += len(rows)
            self.stdout.write(f"{label}: {min(done_rows, todo)}/{todo}")
        return written

    @classmethod
    def _rotate_batch(
        cls,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        rows: list[tuple[Any, ...]],
    ) -> int:
        """Re-encrypt one batch: one statement on PostgreSQL, row by row elsewhere."""
        if connection.vendor == "postgresql":
            return cls._rotate_batch_pg(model, fields, keyring, rows)
        return sum(cls._rotate_row(model, fields, keyring, pk, tokens) for pk, *tokens in rows)

    @staticmethod
    def _rotate_batch_pg(
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        rows: list[tuple[Any, ...]],
    ) -> int:
        """One ``UPDATE ... FROM unnest(...)`` per batch, with the same compare-and-set as
        ``_rotate_row``: a row the application changed meanwhile is left alone."""
        qn = connection.ops.quote_name
        # One array per column (old and new values), unnested into rows by PostgreSQL: 45
        # parameters per batch instead of 45 per row, which psycopg would otherwise parse
        # out of a query of tens of thousands of placeholders.
        pks: list[Any] = []
        old: list[list[bytes | None]] = [[] for _ in fields]
        new: list[list[bytes | None]] = [[] for _ in fields]
        stale_per_row: dict[Any, int] = {}
        for pk, *tokens in rows:
            stale = 0
            pks.append(pk)
            for i, (field, token) in enumerate(zip(fields, tokens, strict=True)):
                if isinstance(token, memoryview):  # psycopg 2 would give these
                    token = bytes(token)
                fresh = token
                if token is not None and not token.startswith(keyring.active_header):
                    try:
                        plaintext = keyring.decrypt(token, context=field.context)
                    except DecryptionError as exc:
                        raise CommandError(f"{model._meta.label} pk={pk}: {exc}") from exc
                    fresh = keyring.encrypt(plaintext, context=field.context)
                    stale += 1
                old[i].append(token)
                new[i].append(fresh)
            stale_per_row[pk] = stale
        columns = [str(f.column) for f in fields]
        pk_column = str(model._meta.pk.column) if model._meta.pk else "id"
        names = ["pk"] + [n for c in columns for n in (f"o_{c}", f"n_{c}")]
        arrays = ", ".join(["%s::bigint[]"] + ["%s::bytea[]"] * (2 * len(fields)))
        values: list[Any] = [pks] + [a for pair in zip(old, new, strict=True) for a in pair]
        sets = ", ".join(f"{qn(c)} = v.{qn('n_' + c)}" for c in columns)
        same = " AND ".join(f"t.{qn(c)} IS NOT DISTINCT FROM v.{qn('o_' + c)}" for c in columns)
        sql = (
            f"UPDATE {qn(model._meta.db_table)} AS t SET {sets} "  # noqa: S608 - names quoted
            f"FROM unnest({arrays}) AS v({', '.join(map(qn, names))}) "
            f"WHERE t.{qn(pk_column)} = v.pk AND {same} "
            f"RETURNING t.{qn(pk_column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            updated = [row[0] for row in cursor.fetchall()]
        return sum(stale_per_row.get(pk, 0) for pk in updated)

    @staticmethod
    def _rotate_row(
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        pk: Any,
        tokens: list[bytes | None],
    ) -> int:
        updates: dict[str, models.Value] = {}
        unchanged: list[Exact] = []
        for field, token in zip(fields, tokens, strict=True):
            if isinstance(token, memoryview):
                token = bytes(token)
            if token is None or token.startswith(keyring.active_header):
                continue
            try:
                plaintext = keyring.decrypt(token, context=field.context)
            except DecryptionError as exc:
                raise CommandError(f"{model._meta.label} pk={pk}: {exc}") from exc
            new = keyring.encrypt(plaintext, context=field.context)
            # A Value with a plain binary output field is written as is (no second encryption).
            updates[field.attname] = _bytes(new)
            unchanged.append(Exact(_raw(field), _bytes(token)))
        if not updates:
            return 0
        # Compare-and-set: if the application changed the row meanwhile, it already wrote
        # under the active key; leave it alone.
        count = model._base_manager.filter(*unchanged, pk=pk).update(**updates)
        return len(updates) if count else 0
