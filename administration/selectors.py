"""What the administrators' start page reads: locked accounts, counts and the system's health.

Each part is one function with a fixed number of queries, so the page costs the same with ten
users or ten thousand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from coordination import health
from coordination.heartbeat import FIGURES, SWEEP, WORKER, heartbeats
from coordination.models import AuditEntry, OutboxMessage, User
from coordination.roles import ROLES


@dataclass(frozen=True)
class LockedAccount:
    """A user name locked out of the login (from one address) until ``until``."""

    username: str
    ip: str
    failures: int
    last_attempt: dt.datetime
    until: dt.datetime | None


def failure_limit() -> int:
    limit = settings.AXES_FAILURE_LIMIT
    return limit if isinstance(limit, int) else 0


def locked_accounts(*, now: dt.datetime | None = None) -> list[LockedAccount]:
    """The user names whose failed logins reached the limit within the cool-off time."""
    now = now or timezone.now()
    cool_off = get_cool_off()
    attempts = AccessAttempt.objects.filter(failures_since_start__gte=max(failure_limit(), 1))
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=now - cool_off)
    return [
        LockedAccount(
            username=a.username or "",
            ip=a.ip_address or "",
            failures=a.failures_since_start,
            last_attempt=a.attempt_time,
            until=a.attempt_time + cool_off if cool_off is not None else None,
        )
        for a in attempts.order_by("-attempt_time")[:100]
    ]


@dataclass(frozen=True)
class Counts:
    users_active: int
    users_by_role: dict[str, int]
    devices_confirmed: int
    outbox_failed: int
    outbox_queued: int


def counts() -> Counts:
    """Active users (per role), confirmed second-factor devices, failed and waiting e-mails."""
    users = User.objects.filter(is_active=True).aggregate(
        total=Count("id", distinct=True),
        **{role: Count("id", filter=Q(groups__name=role), distinct=True) for role in ROLES},
    )
    mails = OutboxMessage.objects.aggregate(
        failed=Count("id", filter=Q(state=OutboxMessage.State.FAILED)),
        queued=Count(
            "id", filter=Q(state__in=[OutboxMessage.State.QUEUED, OutboxMessage.State.SENDING])
        ),
    )
    return Counts(
        users_active=users["total"],
        users_by_role={role: users[role] for role in ROLES},
        devices_confirmed=TOTPDevice.objects.filter(confirmed=True).count(),
        outbox_failed=mails["failed"],
        outbox_queued=mails["queued"],
    )


@dataclass(frozen=True)
class Component:
    """One line of the health table: ``ok`` is None where there is nothing to judge."""

    key: str
    ok: bool | None
    at: dt.datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class SystemHealth:
    database: bool
    cache: bool
    broker: bool
    worker: Component
    sweep: Component
    figures: Component
    audit_head: Component
    audit_last_sent: dt.datetime | None


def _late(at: dt.datetime | None, *, expected_every: dt.timedelta, now: dt.datetime) -> bool:
    """Whether a job that should run every ``expected_every`` has been silent for two rounds."""
    return at is None or now - at > 2 * expected_every


def system_health(*, now: dt.datetime | None = None) -> SystemHealth:
    """Database, cache and broker now; when the worker, the sweep and the figures last ran;
    the audit chain's newest entry and the last nightly head."""
    now = now or timezone.now()
    beats = heartbeats()
    sweep_every = dt.timedelta(minutes=settings.SWEEP_MINUTES)
    head = AuditEntry.objects.order_by("-id").values("id", "at", "hash").first()
    last_sent = (
        AuditEntry.objects.filter(action="audit.head").order_by("-id").values_list("at", flat=True)
    ).first()
    return SystemHealth(
        database=health.database_ok(),
        cache=health.cache_ok(),
        broker=health.broker_ok(timeout=1.0),
        worker=Component(
            WORKER,
            not _late(beats[WORKER], expected_every=dt.timedelta(minutes=5), now=now),
            beats[WORKER],
        ),
        sweep=Component(
            SWEEP, not _late(beats[SWEEP], expected_every=sweep_every, now=now), beats[SWEEP]
        ),
        # The figures are computed when asked for (and by beat with a shared cache): an old
        # time is no fault in itself.
        figures=Component(FIGURES, None, beats[FIGURES]),
        audit_head=Component(
            "audit",
            None,
            head["at"] if head else None,
            f"#{head['id']} {head['hash'][:16]}…" if head else "",
        ),
        audit_last_sent=last_sent,
    )
