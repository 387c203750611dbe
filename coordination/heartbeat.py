"""When the background jobs last ran: the administrators' system health reads it.

A job calls ``heartbeat_record(name)`` when it has done its work; the row holds the time. It is
written to the database (not the cache), so it survives a cache outage and a restart, and it
is one upsert statement per run. The names are fixed here, so the reader knows what to expect.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import DatabaseError
from django.utils import timezone

from coordination.models import Heartbeat

log = logging.getLogger(__name__)

WORKER = "worker"
SWEEP = "sweep"
FIGURES = "figures"
NAMES = (WORKER, SWEEP, FIGURES)


def heartbeat_record(name: str, *, at: dt.datetime | None = None) -> None:
    """Note that job ``name`` has just run. A database error is logged, never raised: the
    job's own work is done, and the health page then shows an old time."""
    try:
        # One statement (INSERT … ON CONFLICT UPDATE), the same on the first run and later.
        Heartbeat.objects.bulk_create(
            [Heartbeat(name=name, at=at or timezone.now())],
            update_conflicts=True,
            update_fields=["at"],
            unique_fields=["name"],
        )
    except DatabaseError:
        log.exception("heartbeat %s could not be recorded", name)


def heartbeats() -> dict[str, dt.datetime | None]:
    """The last run of every job (None: never), in one query."""
    found = dict(Heartbeat.objects.filter(name__in=NAMES).values_list("name", "at"))
    return {name: found.get(name) for name in NAMES}
