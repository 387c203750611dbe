"""Health of the database and the broker, for /healthz and operators."""

from __future__ import annotations

from typing import Any

from django.db import connection


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def broker_url() -> str:
    from coordination.celery import app

    return str(app.conf.broker_url)


def broker_ok(timeout: float = 2.0) -> bool:
    from coordination.celery import app

    try:
        with app.connection_for_write(broker_url()) as conn:
            conn.ensure_connection(max_retries=1, timeout=max(1, round(timeout)))
            return True
    except Exception:
        return False


def health() -> dict[str, Any]:
    db, broker = database_ok(), broker_ok()
    return {
        "status": "ok" if db and broker else "degraded",
        "database": "ok" if db else "down",
        "broker": "ok" if broker else "down",
    }
