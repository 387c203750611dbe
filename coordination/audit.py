"""The append-only access and change log.

``audit_log`` answers who did what, when, from where, to which object and which fields.
Entries are chained: each carries an HMAC-SHA-256 (key ``AUDIT_KEY``, kept outside the
database) over the previous entry's hash and its own content, so ``manage.py
verify_audit_log`` finds the first altered, inserted or removed entry, and whoever can write
the table cannot recompute the chain. Entries written before the chain was keyed carry plain
SHA-256 and no key id: they may only form the log's oldest part ("unkeyed prefix").

On PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE (migrations 0002, 0003 and 0006 of
coordination). The one exception is ``audit_prune``: it records the prune as an entry, then
calls the SECURITY DEFINER function ``ankommen_audit_prune``, which deletes only entries past
the log's retention period. The nightly head (``coordination/audit_head.py``) goes outside
the system, so cutting off the newest entries can be proven too. Depth: docs/audit-log.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from coordination.crypto import get_audit_keys
from coordination.models import AuditEntry
from coordination.spreadsheet import defuse

log = logging.getLogger(__name__)

_request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)
_request_user: ContextVar[Any] = ContextVar("audit_request_user", default=None)

# PostgreSQL advisory lock key that serialises appends to the hash chain.
_CHAIN_LOCK = 0x414E4B  # "ANK"

PRUNE_ACTION = "audit.prune"


class UnknownAuditKey(Exception):
    """An entry names a key id that AUDIT_KEY does not list."""


class AuditPruneRefused(Exception):
    """The database refused the prune (too recent a cut-off, or no right to prune)."""


def set_request_ip(ip: str | None) -> Any:
    return _request_ip.set(ip)


def reset_request_ip(token: Any) -> None:
    _request_ip.reset(token)


def set_request_user(user: Any) -> Any:
    return _request_user.set(user)


def reset_request_user(token: Any) -> None:
    _request_user.reset(token)


def current_actor() -> Any:
    """The user of the request being served (for receivers that are not told who acted)."""
    user = _request_user.get()
    return user if getattr(user, "is_authenticated", False) else None


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: Any) -> str | None:
    """The client's address: REMOTE_ADDR, or the proxy-set X-Forwarded-For entry.

    ``TRUSTED_PROXY_COUNT`` (settings) says how many reverse proxies sit in front of the app;
    only then is X-Forwarded-For trusted, and only the entry the nearest proxy appended.
    """
    from django.conf import settings

    meta = getattr(request, "META", {}) or {}
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0:
        chain = [p.strip() for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(chain) >= proxies:
            return _valid_ip(chain[-proxies])
    return _valid_ip(meta.get("REMOTE_ADDR"))


def entry_digest(entry: AuditEntry) -> str:
    """The hash of one entry over its content and the previous hash: HMAC-SHA-256 with the
    AUDIT_KEY entry named by ``key_id``, or plain SHA-256 for an old, unkeyed entry."""
    content: list[Any] = [
        entry.prev_hash,
        entry.at.isoformat() if entry.at else "",
        entry.actor_id,
        entry.actor_name,
        entry.roles,
        entry.ip,
        entry.action,
        entry.object_type,
        str(entry.object_id),
        entry.case_reference,
        entry.fields,
        entry.detail,
    ]
    if not entry.key_id:
        payload = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()
    key = get_audit_keys().keys.get(entry.key_id)
    if key is None:
        raise UnknownAuditKey(entry.key_id)
    # The key id is signed too: an entry cannot be moved under another key.
    payload = json.dumps(
        [entry.key_id, *content], sort_keys=True, separators=(",", ":"), default=str
    )
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def audit_log(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    case_reference: str = "",
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    actor_name: str | None = None,
    object_type: str = "",
    object_id: str = "",
) -> AuditEntry:
    """Append one entry. ``obj`` is any model instance (type and id are recorded).

    ``object_type``/``object_id`` name an object without loading it (e.g. from an admin log
    entry); ``actor_name`` records who acted when there is no user (a failed login's name).
    """
    from coordination.roles import role_names

    user = actor if getattr(actor, "is_authenticated", False) else None
    name = actor_name if actor_name is not None else getattr(actor, "username", "")
    entry = AuditEntry(
        actor=user,
        actor_name=(name or str(actor or "system"))[:150],
        roles=",".join(sorted(role_names(user))) if user else "",
        ip=_valid_ip(ip) or _request_ip.get(),
        action=action[:60],
        object_type=(obj._meta.label_lower if obj is not None else object_type)[:60],
        object_id=(str(obj.pk) if obj is not None else str(object_id))[:60],
        case_reference=(case_reference or getattr(obj, "reference", "") or "")[:30],
        fields=sorted(set(fields)),
        detail=detail or {},
    )
    with transaction.atomic():
        _lock_chain()
        last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry.prev_hash = last or ""
        entry.at = timezone.now()
        entry.key_id = get_audit_keys().active_id
        entry.hash = entry_digest(entry)
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a walk over the whole log. ``unkeyed``: entries at its start written
    before the chain was keyed (protected only from the first keyed entry on)."""

    checked: int
    broken: AuditEntry | None = None
    reason: str = ""
    head_id: int | None = None
    head_hash: str = ""
    unkeyed: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None


def _anchor_ok(first: AuditEntry) -> bool:
    """A log that does not start at the genesis must start where the last prune left it."""
    if first.prev_hash == "":
        return True
    prune = AuditEntry.objects.filter(action=PRUNE_ACTION).order_by("-id").values("detail").first()
    if prune is None:
        return False
    detail = prune["detail"] or {}
    return detail.get("anchor") == first.prev_hash and int(detail.get("through_id", 0)) < first.id


def _entry_problem(entry: AuditEntry, *, prev: str, keyed_seen: bool) -> str:
    """Why ``entry`` breaks the chain, or "" when it is a sound link."""
    if entry.prev_hash != prev:
        return "the previous entry is missing or was changed"
    if keyed_seen and not entry.key_id:
        # Without the key anyone could append plain SHA-256 entries: only the oldest part of
        # the log, written before the upgrade, may be unkeyed.
        return "an unkeyed entry after the keyed chain began (forged or inserted)"
    try:
        digest = entry_digest(entry)
    except UnknownAuditKey:
        return f"signed with key id {entry.key_id!r}, which AUDIT_KEY does not list"
    if not hmac.compare_digest(digest, entry.hash):
        return "this entry was changed"
    return ""


def verify_chain_report(*, batch_size: int = 2000) -> ChainReport:
    """Walk the log in order and report the first broken link (altered, inserted or removed)."""
    prev: str | None = None
    checked = unkeyed = 0
    keyed_seen = False
    last_id = 0
    last_hash = ""
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return ChainReport(
                checked=checked, head_id=last_id or None, head_hash=last_hash, unkeyed=unkeyed
            )
        for entry in batch:
            if prev is None:
                # The first remaining entry: the genesis, or anchored by the last prune.
                if not _anchor_ok(entry):
                    return ChainReport(
                        checked=checked,
                        broken=entry,
                        reason="the log does not start at its beginning or at a recorded prune",
                        unkeyed=unkeyed,
                    )
                prev = entry.prev_hash
            problem = _entry_problem(entry, prev=prev, keyed_seen=keyed_seen)
            if problem:
                return ChainReport(checked=checked, broken=entry, reason=problem, unkeyed=unkeyed)
            keyed_seen = keyed_seen or bool(entry.key_id)
            unkeyed += not entry.key_id
            prev = entry.hash
            checked += 1
            last_id = entry.id
            last_hash = entry.hash


def verify_chain(*, batch_size: int = 2000) -> tuple[int, AuditEntry | None]:
    """Walk the log in order; return (entries checked, first broken entry or None)."""
    report = verify_chain_report(batch_size=batch_size)
    return report.checked, report.broken


def audit_cutoff(*, months: int, now: dt.datetime | None = None) -> dt.datetime:
    """The moment ``months`` calendar months before ``now`` (end of month clamped)."""
    now = now or timezone.now()
    month_index = now.year * 12 + (now.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    return now.replace(year=year, month=month, day=day)


def audit_prune(*, before: dt.datetime, by: Any = None, dry_run: bool = False) -> int:
    """Remove the oldest entries (all written before ``before``); returns how many.

    Only a contiguous oldest part of the chain is removed. The prune itself is appended first,
    carrying the hash of the last removed entry as ``anchor``; ``verify_chain_report`` then
    accepts a log that starts exactly there. On PostgreSQL the database function
    ``ankommen_audit_prune`` deletes (migration 0006): it refuses a cut-off inside the log's
    retention period and a role without EXECUTE on it, raised here as ``AuditPruneRefused``
    (and nothing is written).
    """
    with transaction.atomic():
        _lock_chain()
        first_kept = (
            AuditEntry.objects.filter(at__gte=before).order_by("id").values_list("id", flat=True)
        ).first()
        doomed = AuditEntry.objects.all()
        if first_kept is not None:
            doomed = doomed.filter(id__lt=first_kept)
        last = doomed.order_by("-id").values("id", "hash").first()
        if last is None:
            return 0
        count = doomed.count()
        if dry_run:
            return count
        audit_log(
            actor=by,
            action=PRUNE_ACTION,
            detail={
                "through_id": last["id"],
                "anchor": last["hash"],
                "count": count,
                "before": before.isoformat(),
            },
        )
        if connection.vendor == "postgresql":
            removed = _database_prune(before=before, through_id=last["id"])
        else:
            removed = AuditEntry.objects.filter(id__lte=last["id"])._raw_delete(doomed.db)
        if removed != count:  # an entry appeared or vanished under the lock: do nothing
            raise AuditPruneRefused(f"expected to remove {count} entries, found {removed}")
    log.info("audit log: pruned %s entries written before %s", count, before.isoformat())
    return count


def _database_prune(*, before: dt.datetime, through_id: int) -> int:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT ankommen_audit_prune(%s, %s)", [before, through_id])
            return int(cursor.fetchone()[0])
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AuditPruneRefused(reason) from None


def csv_cell(value: Any) -> str:
    """One value for a CSV export that a spreadsheet opens: lists and dicts as JSON, and a
    leading formula character defused with an apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    elif isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return defuse(text)
