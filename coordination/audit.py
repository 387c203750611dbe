"""The append-only access and change log.

``audit_log`` answers who did what, when, from where, to which object and which fields.
Entries are chained: each carries SHA-256 over the previous entry's hash and its own content,
so ``manage.py verify_audit_log`` finds the first altered or removed entry. On PostgreSQL a
trigger refuses UPDATE and DELETE on the table (migration 0002 of coordination).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from django.db import connection, transaction

from coordination.models import AuditEntry

_request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)

# PostgreSQL advisory lock key that serialises appends to the hash chain.
_CHAIN_LOCK = 0x414E4B  # "ANK"


def set_request_ip(ip: str | None) -> Any:
    return _request_ip.set(ip)


def reset_request_ip(token: Any) -> None:
    _request_ip.reset(token)


def entry_digest(entry: AuditEntry) -> str:
    """The hash of one entry over its content and the previous hash."""
    payload = json.dumps(
        [
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
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def audit_log(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    case_reference: str = "",
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry. ``obj`` is any model instance (type and id are recorded)."""
    from coordination.roles import role_names

    user = actor if getattr(actor, "is_authenticated", False) else None
    entry = AuditEntry(
        actor=user,
        actor_name=(getattr(actor, "username", "") or str(actor or "system"))[:150],
        roles=",".join(sorted(role_names(user))) if user else "",
        ip=ip or _request_ip.get(),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        case_reference=case_reference or getattr(obj, "reference", "") or "",
        fields=sorted(set(fields)),
        detail=detail or {},
    )
    from django.utils import timezone

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry.prev_hash = last or ""
        entry.at = timezone.now()
        entry.hash = entry_digest(entry)
        entry.save(force_insert=True)
    return entry


def verify_chain(*, batch_size: int = 2000) -> tuple[int, AuditEntry | None]:
    """Walk the log in order; return (entries checked, first broken entry or None)."""
    prev = ""
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return checked, None
        for entry in batch:
            if entry.prev_hash != prev or entry_digest(entry) != entry.hash:
                return checked, entry
            prev = entry.hash
            checked += 1
            last_id = entry.id
