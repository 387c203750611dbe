"""Health of the database, the cache and the broker, for /healthz and operators.

The app serves pages as long as the database answers: the cache is optional (its outage
makes pages slower, docs/adr/0005-cache-is-optional.md) and a broker outage delays mail
until the sweep hands it over. So the status is "ok" (all up), "degraded" (database up,
cache or broker down: still HTTP 200, nothing to restart) or "down" (database down: 503).
The body names components and states only: no host, port or URL.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache
from django.db import connection


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def cache_ok() -> bool:
    """Whether the cache answers now (a round trip; the fail-soft Redis cache is pinged)."""
    ping = getattr(cache, "ping", None)
    try:
        if ping is not None:
            return bool(ping())
        token = secrets.token_hex(8)
        cache.set("healthz", token, 10)
        return cache.get("healthz") == token
    except Exception:
        return False


def broker_url() -> str:
    from coordination.celery import app

    return str(app.conf.broker_url)


def broker_ok(timeout: float = 2.0) -> bool:
    from coordination.celery import app

    try:
        with app.connection_for_write(broker_url()) as conn:
            # One attempt, no pause before giving up (kombu waits 2 s by default).
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=max(1, round(timeout))
            )
            return True
    except Exception:
        return False


def health() -> dict[str, Any]:
    db, cache_up, broker = database_ok(), cache_ok(), broker_ok()
    status = "down" if not db else "ok" if cache_up and broker else "degraded"
    return {
        "status": status,
        "database": "ok" if db else "down",
        "cache": "ok" if cache_up else "down",
        "broker": "ok" if broker else "down",
    }
