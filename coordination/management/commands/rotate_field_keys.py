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
  No plaintext is printed; an error names the model and the row id.
- Flat at any table size (PostgreSQL; docs/encryption.md, docs/performance.md): keyset
  pagination by id, ``--workers`` threads over id ranges, one ``UPDATE ... FROM unnest()`` per
  wave with its arrays bound on the server in binary, waves of one share per heap block (so
  that most rows can be rewritten in place, without touching an index), asynchronous commit.
  SQLite: one worker, row by row.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Substr
from django.db.models.lookups import Exact

from coordination.crypto import DecryptionError, Keyring, get_keyring
from coordination.fields import EncryptedField, encrypted_fields

MAX_PASSES = 3
# A batch is written in at most this many transactions (see _waves).
MAX_WAVES = 5
# The heap block of a row (PostgreSQL): its ctid is "(block,offset)".
BLOCK_SQL = "(ctid::text::point)[0]::bigint"


class _Progress:
    """Rows and values written for one model, shared by the workers; prints one line per
    batch, ``app.Model: written/todo`` (the format ``benchmarks/rotation.py`` reads)."""

    def __init__(self, stdout: Any, label: str, todo: int) -> None:
        self.stdout = stdout
        self.label = label
        self.todo = todo
        self.rows = 0
        self.values = 0
        self._lock = threading.Lock()

    def add(self, rows: int, values: int) -> None:
        with self._lock:
            self.rows += rows
            self.values += values
            self.stdout.write(f"{self.label}: {min(self.rows, self.todo)}/{self.todo}")


def _id_ranges(qs: models.QuerySet, workers: int, todo: int | None = None) -> list[tuple[Any, Any]]:
    """``workers`` contiguous ranges of ids ``(after, up_to)``, split at quantiles of the rows
    still to do (so each worker gets about the same number of rows)."""
    ids = qs.order_by("pk").values_list("pk", flat=True)
    if todo is None:
        todo = ids.count()
    if todo < 2 * workers:
        return [(None, None)]
    bounds = [ids[todo * i // workers - 1] for i in range(1, workers)]
    lows: list[Any] = [None, *bounds]
    highs: list[Any] = [*bounds, None]
    return list(zip(lows, highs, strict=True))


def _waves(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Split a batch (rows ending with their heap block) into at most ``MAX_WAVES`` waves,
    each written and committed before the next, with a block's rows dealt across them.

    A table's pages are full (fillfactor 100), so a rewritten row of a full block moves to
    another page and every index of the table gets a new entry (``cases_case`` has 31, and
    at 100,000 cases their pages no longer stay in memory). Once the first wave is
    committed, the next read of the block prunes the old versions, and the rows of the next
    wave fit where they were: HOT updates, no index touched. The largest rows go first, so
    the later ones fit into the space they free.
    """
    by_block: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_block.setdefault(row[-1], []).append(row[:-1])
    depth = min(MAX_WAVES, max(len(block_rows) for block_rows in by_block.values()))
    waves: list[list[tuple[Any, ...]]] = [[] for _ in range(depth)]
    for block_rows in by_block.values():
        block_rows.sort(key=_size, reverse=True)
        for wave, chunk in zip(waves, _deal(block_rows, depth), strict=True):
            wave.extend(chunk)
    for wave in waves:
        wave.sort(key=lambda r: r[0])  # by id, as the other statements lock rows
    return [wave for wave in waves if wave]


def _size(row: tuple[Any, ...]) -> int:
    return sum(len(token) for token in row[1:] if token is not None)


def _deal(rows: list[tuple[Any, ...]], parts: int) -> list[list[tuple[Any, ...]]]:
    """``rows`` in ``parts`` consecutive chunks, the first ones at least as long."""
    size, extra = divmod(len(rows), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(rows[start:end])
        start = end
    return chunks


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
            "--batch-size", type=int, default=500, help="rows read per batch (default 500)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="threads over ranges of ids, each with its own connection (default 2; "
            "PostgreSQL only, 1 elsewhere)",
        )
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="APP_LABEL.MODEL",
            help="only this model (repeatable; default: every model with encrypted fields)",
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
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            # SQLite allows one writer at a time (threads would only wait); inside a
            # transaction, other connections would not see its rows.
            workers = 1
        try:
            keyring = get_keyring()
        except Exception as exc:  # ImproperlyConfigured: say which variable is wrong
            raise CommandError(str(exc)) from exc
        targets = [
            (model, fields)
            for model in apps.get_models()
            if (fields := encrypted_fields(model)) and not model._meta.proxy
        ]
        if options["model"]:
            known = {model._meta.label_lower: (model, fields) for model, fields in targets}
            unknown = [m for m in options["model"] if m.lower() not in known]
            if unknown:
                raise CommandError(
                    f"no model with encrypted fields: {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(known))})"
                )
            targets = [known[m.lower()] for m in dict.fromkeys(options["model"])]
        if options["check"]:
            self._check(targets, keyring)
            return
        self.stdout.write(f"active key: {keyring.active_id}")
        rows = values = 0
        for model, fields in targets:
            model_rows, model_values = self._rotate_model(
                model, fields, keyring, batch_size, workers
            )
            rows += model_rows
            values += model_values
        self.stdout.write(self.style.SUCCESS(f"done: {rows} rows ({values} values) re-encrypted"))

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
        workers: int,
    ) -> tuple[int, int]:
        any_stale = models.Q()
        for field in fields:
            any_stale |= _stale(field, keyring.active_header)
        qs = self._annotated(model, fields).filter(any_stale)
        todo = qs.count()
        if not todo:
            return 0, 0
        label = model._meta.label
        self.stdout.write(f"{label}: {todo} rows to re-encrypt")
        progress = _Progress(self.stdout, label, todo)
        # A row the application changed during a pass is skipped whole (compare-and-set), but
        # the application saves only the columns it changes: its other columns may still be
        # under an old key. Another pass re-reads those rows; a few passes always suffice
        # unless a row is changed again between every read and write.
        left = todo
        for _pass in range(MAX_PASSES):
            self._rotate_pass(model, fields, keyring, batch_size, qs, progress, workers, left)
            left = qs.count()
            if not left:
                break
            self.stdout.write(f"{label}: {left} rows changed meanwhile, once more")
        return progress.rows, progress.values

    def _rotate_pass(
        self,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        batch_size: int,
        qs: models.QuerySet,
        progress: _Progress,
        workers: int,
        todo: int,
    ) -> None:
        """One walk over the table: ``workers`` threads, each over its own range of ids."""
        ranges = _id_ranges(qs, workers, todo) if workers > 1 else [(None, None)]
        if len(ranges) == 1:
            self._rotate_range(model, fields, keyring, batch_size, qs, progress, *ranges[0])
            return
        # Threads, not processes: each has its own database connection (Django's are per
        # thread), and while one waits for PostgreSQL the other decrypts and encrypts.
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            futures = [
                pool.submit(
                    self._rotate_range_in_thread,
                    model,
                    fields,
                    keyring,
                    batch_size,
                    qs,
                    progress,
                    low,
                    high,
                )
                for low, high in ranges
            ]
            for future in futures:
                future.result()  # re-raises a worker's error (the others finish their batch)

    def _rotate_range_in_thread(self, *args: Any) -> None:
        try:
            self._rotate_range(*args)
        finally:
            connection.close()  # this thread's connection

    def _rotate_range(
        self,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        batch_size: int,
        qs: models.QuerySet,
        progress: _Progress,
        low: Any,
        high: Any,
    ) -> None:
        """Keyset pagination (``id > last ORDER BY id LIMIT n``) over ``low < id <= high``."""
        raw_names = [f"_raw_{f.attname}" for f in fields]
        postgres = connection.vendor == "postgresql"
        page_qs = qs
        names: list[str] = ["pk", *raw_names]
        if postgres:
            # The heap block of each row: the batch is written in waves of one row per block
            # (see _waves).
            page_qs = page_qs.annotate(_block=RawSQL(BLOCK_SQL, (), models.BigIntegerField()))  # noqa: S611
            names.append("_block")
        if high is not None:
            page_qs = page_qs.filter(pk__lte=high)
        last_pk: Any = low
        while True:
            page = page_qs.order_by("pk")
            if last_pk is not None:
                page = page.filter(pk__gt=last_pk)
            rows = list(page.values_list(*names)[:batch_size])
            if not rows:
                break
            last_pk = rows[-1][0]
            waves = _waves(rows) if postgres else [rows]
            for wave in waves:
                with transaction.atomic():
                    if postgres:
                        # A crash loses at most the last few batches: their old values are
                        # still there and readable, and the next run re-encrypts them.
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit TO off")
                    rows_written, values_written = self._rotate_batch(model, fields, keyring, wave)
                progress.add(rows_written, values_written)

    @classmethod
    def _rotate_batch(
        cls,
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        rows: list[tuple[Any, ...]],
    ) -> tuple[int, int]:
        """Re-encrypt one batch: one statement on PostgreSQL, row by row elsewhere.
        Returns the rows and the values written (a row changed meanwhile is not written)."""
        if connection.vendor == "postgresql":
            return cls._rotate_batch_pg(model, fields, keyring, rows)
        counts = [cls._rotate_row(model, fields, keyring, pk, tokens) for pk, *tokens in rows]
        return sum(1 for n in counts if n), sum(counts)

    @staticmethod
    def _rotate_batch_pg(
        model: type[models.Model],
        fields: list[EncryptedField],
        keyring: Keyring,
        rows: list[tuple[Any, ...]],
    ) -> tuple[int, int]:
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
        arrays = ", ".join(["%b::bigint[]"] + ["%b::bytea[]"] * (2 * len(fields)))
        values: list[Any] = [pks] + [a for pair in zip(old, new, strict=True) for a in pair]
        sets = ", ".join(f"{qn(c)} = v.{qn('n_' + c)}" for c in columns)
        same = " AND ".join(f"t.{qn(c)} IS NOT DISTINCT FROM v.{qn('o_' + c)}" for c in columns)
        sql = (
            f"UPDATE {qn(model._meta.db_table)} AS t SET {sets} "  # noqa: S608 - names quoted
            f"FROM unnest({arrays}) AS v({', '.join(map(qn, names))}) "
            f"WHERE t.{qn(pk_column)} = v.pk AND {same} "
            f"RETURNING t.{qn(pk_column)}"
        )
        # Server-side binding, arrays in binary: Django's cursors bind on the client, which
        # escapes every byte of every value into the SQL text (a third of the time of a
        # batch). The same connection, so the same transaction.
        import psycopg  # the PostgreSQL driver: only on this path

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, values)
            updated = [row[0] for row in cursor.fetchall()]
        return len(updated), sum(stale_per_row.get(pk, 0) for pk in updated)

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
