"""The bench databases: one pristine data set per size, and a throw-away working copy.

``<base>_<size>`` holds the generated data set and is never changed after generation (so it
can be reused by the next run: a small meta table records the generator's fingerprint and the
migrations it was built with; migrations added since are applied to it, as a deployment would;
a changed migration, generator or key means a new data set). Every run works on
``<base>_<size>_run``, a fresh ``CREATE DATABASE ... TEMPLATE`` copy, because page views write
sessions and audit rows, the sweep sends reminders and the rotation re-encrypts everything.
Only databases whose name contains ``bench`` are ever created or dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connection, connections

META_TABLE = "bench_dataset_meta"


class BenchDatabaseError(RuntimeError):
    pass


_base: list[str] = []  # the configured name, before use_database() switches databases


def base_name() -> str:
    if _base:
        return _base[0]
    name = str(settings.DATABASES["default"]["NAME"])
    if "bench" not in name:
        raise BenchDatabaseError(
            f"DATABASE_URL names the database {name!r}: the benchmark only creates and drops "
            "databases whose name contains 'bench' (e.g. ankommen_bench)."
        )
    _base.append(name)
    return name


def dataset_name(size: int) -> str:
    return f"{base_name()}_{size}"


def run_name(size: int) -> str:
    return f"{base_name()}_{size}_run"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _admin_connection() -> Any:
    """An autocommit psycopg connection to the server's maintenance database."""
    import psycopg

    params = settings.DATABASES["default"]
    return psycopg.connect(
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def _guard(name: str) -> None:
    if "bench" not in name:
        raise BenchDatabaseError(f"refusing to create or drop {name!r}: not a bench database")


def database_exists(name: str) -> bool:
    with _admin_connection() as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def drop_database(name: str) -> None:
    from psycopg import sql

    _guard(name)
    close_django_connections()
    with _admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database(name: str, *, template: str | None = None) -> float:
    """Create ``name`` (empty, or a file copy of ``template``); returns the seconds taken."""
    from psycopg import sql

    _guard(name)
    close_django_connections()
    started = time.perf_counter()
    with _admin_connection() as admin:
        if template is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            # FILE_COPY: copying the files is much faster than WAL-logging every block.
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
    return time.perf_counter() - started


def close_django_connections() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close()


def use_database(name: str) -> None:
    """Point Django's default connection at another database of the same server."""
    close_django_connections()
    connections["default"].settings_dict["NAME"] = name
    settings.DATABASES["default"]["NAME"] = name


def generator_fingerprint(generator_version: str) -> str:
    """Changes when the generator, Django or the bench keys change: the data must be new."""
    digest = hashlib.sha256()
    for part in (generator_version, django.get_version(), str(settings.FIELD_ENCRYPTION_KEYS),
                 str(settings.BLIND_INDEX_KEY)):  # fmt: skip
        digest.update(part.encode())
        digest.update(b"\x1f")
    return digest.hexdigest()[:16]


def migration_hashes() -> dict[str, str]:
    """The project's migration files and a hash of each (``app/file`` -> sha256 prefix)."""
    root = Path(settings.BASE_DIR)
    hashes = {}
    for app in ("coordination", "cases", "referrals"):
        for path in sorted((root / app / "migrations").glob("*.py")):
            hashes[f"{app}/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return hashes


def compare_migrations(stored: dict[str, str], current: dict[str, str]) -> tuple[bool, list[str]]:
    """(the stored data set can be migrated forward, the files added since).

    Only added migrations can be applied to an existing data set, as a deployment would; a
    migration that was changed or removed means the data set must be generated again.
    """
    for name, digest in stored.items():
        if current.get(name) != digest:
            return False, []
    return True, sorted(set(current) - set(stored))


def read_meta() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [META_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT payload FROM {META_TABLE} ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return None
    payload = row[0]
    return payload if isinstance(payload, dict) else json.loads(payload)


def write_meta(payload: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (id serial PRIMARY KEY, payload jsonb)"
        )
        cursor.execute(f"INSERT INTO {META_TABLE} (payload) VALUES (%s)", [json.dumps(payload)])


def forget_meta() -> None:
    """Mark the current data set as no longer pristine: the next run generates it again."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {META_TABLE}")


def server_version(*, maintenance: bool = True) -> str:
    """Asked on the maintenance database (the bench databases may not exist yet), or on the
    configured one."""
    if not maintenance:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return str(cursor.fetchone()[0])
    with _admin_connection() as admin:
        return str(admin.execute("SHOW server_version").fetchone()[0])


def vacuum_analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def database_size(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(%s)", [name])
        return int(cursor.fetchone()[0])
