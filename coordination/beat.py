"""Exactly one beat in the whole installation, even if a second one is started by mistake.

A second beat (``docker compose up --scale beat=2``, a beat on two hosts, an old container
still running during a deploy) would queue every periodic task twice. The scheduler
(``CELERY_BEAT_SCHEDULER``) therefore sends nothing unless it holds a PostgreSQL session
advisory lock, taken on a connection of its own and checked before every tick. A second beat
waits as a standby: it logs once that another beat holds the lock, tries again every
``POLL_SECONDS`` and takes over when the first one's connection goes away (the process
stopped, its host died and the server dropped the connection). A beat that finds its own
lock connection broken stops sending at once and competes for the lock again.

Needs a direct (or session-pooled) connection: a PgBouncer in transaction mode would hand
the lock's session to others (docs/deployment.md). Without PostgreSQL (the embedded SQLite
set-up, ``celery worker -B``) there is nothing to share and the lock is always held.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery.beat import PersistentScheduler
from django.conf import settings

log = logging.getLogger(__name__)

# pg_advisory_lock key of the beat (any bigint; the audit chain's lock is another one).
BEAT_LOCK_KEY = 0x616E6B6265617401  # "ankbeat" + 1
# A standby tries for the lock this often; the holder checks its connection this often.
POLL_SECONDS = 5.0
# Keys of Django's OPTIONS that are not libpq connection parameters.
_DJANGO_ONLY_OPTIONS = {"isolation_level", "server_side_binding", "assume_role", "pool"}


def _connect() -> Any:
    import psycopg

    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        # A host that vanished is noticed by the client within about a minute.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "application_name": "ankommen-beat-lock",
    }
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in _DJANGO_ONLY_OPTIONS}
    params.update(options)
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True)


class BeatLock:
    """The advisory lock on a connection of its own: ``held()`` says whether this process
    may send, taking the lock if it is free and noticing if its connection broke."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.holding = False
        self._told_standby = False

    @staticmethod
    def needed() -> bool:
        return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

    def held(self) -> bool:
        if not self.needed():
            return True
        try:
            if self.conn is None or self.conn.closed:
                self.conn = _connect()
                self.holding = False
            if self.holding:
                self.conn.execute("SELECT 1")  # the lock lives as long as this session
                return True
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY]).fetchone()
        except Exception as exc:
            if self.holding:
                log.error("beat: lost the lock connection (%s); sending nothing until it "
                          "holds the lock again", type(exc).__name__)  # fmt: skip
            self.release()
            return False
        self.holding = bool(row and row[0])
        if self.holding:
            log.info("beat: took the beat lock; this beat sends the periodic tasks")
            self._told_standby = False
        elif not self._told_standby:
            log.warning("beat: another beat has the lock; this one waits as a standby")
            self._told_standby = True
        return self.holding

    def release(self) -> None:
        conn, self.conn, self.holding = self.conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection
                conn.close()  # ends the session, and with it the lock


class SingleBeatScheduler(PersistentScheduler):
    """Celery's default scheduler (the schedule file), sending only while it holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.beat_lock = BeatLock()
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.beat_lock.held():
            return POLL_SECONDS
        delay = super().tick(*args, **kwargs)
        return min(delay, POLL_SECONDS) if self.beat_lock.needed() else delay

    def close(self) -> None:
        super().close()
        self.beat_lock.release()
