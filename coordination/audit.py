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
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Func, TextField
from django.db.models.functions import Cast
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
# A recorded successful verification (verify_audit_log); the nightly head records one too.
CHECKPOINT_ACTION = "audit.verified"
CHECKPOINT_ACTIONS = (CHECKPOINT_ACTION, "audit.head")


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


# One encoder for every digest (json.dumps would build a new one per call): the same output as
# ``json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)``.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)

# The columns a digest covers, in the order ``_content`` takes them (``DIGEST_COLUMNS`` plus
# ``id``, ``hash`` and ``key_id`` is what verification reads: no model instances).
DIGEST_COLUMNS = (
    "prev_hash", "at", "actor_id", "actor_name", "roles", "ip", "action", "object_type",
    "object_id", "case_reference", "fields", "detail",
)  # fmt: skip
_VERIFY_COLUMNS = ("id", "hash", "key_id", *DIGEST_COLUMNS)


def _digest(key_id: str, content: list[Any]) -> str:
    """HMAC-SHA-256 under the AUDIT_KEY entry ``key_id`` (the key id signed too, so an entry
    cannot be moved under another key), or plain SHA-256 for an old, unkeyed entry."""
    if not key_id:
        return hashlib.sha256(_ENCODER.encode(content).encode("utf-8")).hexdigest()
    key = get_audit_keys().keys.get(key_id)
    if key is None:
        raise UnknownAuditKey(key_id)
    payload = _ENCODER.encode([key_id, *content]).encode("utf-8")
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _content(
    prev_hash: str, at: Any, actor_id: Any, actor_name: str, roles: str, ip: Any, action: str,
    object_type: str, object_id: Any, case_reference: str, fields: Any, detail: Any,
) -> list[Any]:  # fmt: skip
    return [
        prev_hash, at.isoformat() if at else "", actor_id, actor_name, roles, ip, action,
        object_type, str(object_id), case_reference, fields, detail,
    ]  # fmt: skip


def entry_digest(entry: AuditEntry) -> str:
    """The hash of one entry over its content and the previous hash: HMAC-SHA-256 with the
    AUDIT_KEY entry named by ``key_id``, or plain SHA-256 for an old, unkeyed entry."""
    return _digest(entry.key_id, _content(*(getattr(entry, c) for c in DIGEST_COLUMNS)))


# --- verification at speed: rows, not model instances ---------------------------------------
# A row to verify: (id, hash, key_id, prev_hash, at as ISO text, actor_id, actor_name, roles,
# ip, action, object_type, object_id, case_reference, fields and detail as canonical JSON).
# Its digest is the same as ``entry_digest``: the JSON of a list is "[" + its items' JSON
# joined by "," + "]", so the two JSON columns are encoded once each and spliced in.

_canonical_cache: dict[str, str] = {}


def _canonical(text: str) -> str:
    """Canonical JSON (sorted keys, compact) of a jsonb value read as text; the few distinct
    small values (``[]``, ``{"view": "detail"}`` …) are cached."""
    hit = _canonical_cache.get(text)
    if hit is None:
        hit = _ENCODER.encode(json.loads(text))
        if len(text) <= 200:
            if len(_canonical_cache) >= 4096:
                _canonical_cache.clear()
            _canonical_cache[text] = hit
    return hit


_hmac_bases: dict[tuple[str, bytes], Any] = {}


def _row_digest(row: tuple[Any, ...]) -> str:
    key_id = row[2]
    scalars = [row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10], str(row[11]),
               row[12]]  # fmt: skip
    if not key_id:
        head = _ENCODER.encode(scalars)
        payload = f"{head[:-1]},{row[13]},{row[14]}]".encode()
        return hashlib.sha256(payload).hexdigest()
    key = get_audit_keys().keys.get(key_id)
    if key is None:
        raise UnknownAuditKey(key_id)
    base = _hmac_bases.get((key_id, key))
    if base is None:  # keyed once per key: each entry copies the prepared state
        base = _hmac_bases[(key_id, key)] = hmac.new(key, digestmod=hashlib.sha256)
    head = _ENCODER.encode([key_id, *scalars])
    mac = base.copy()
    mac.update(f"{head[:-1]},{row[13]},{row[14]}]".encode())
    return mac.hexdigest()


def _entry_row(entry: AuditEntry) -> tuple[Any, ...]:
    """The verification row of a model instance (or of ORM values: ``_orm_row``)."""
    return _orm_row(tuple(getattr(entry, c) for c in _VERIFY_COLUMNS))


def _orm_row(values: tuple[Any, ...]) -> tuple[Any, ...]:
    at = values[4]
    return (
        *values[:4], at.isoformat() if at else "", *values[5:13],
        _ENCODER.encode(values[13]), _ENCODER.encode(values[14]),
    )  # fmt: skip


class _AtText(Func):
    """``at`` as UTC ISO text ("2026-12-03 15:16:21.558349"): parsing it in Python is several
    times faster than psycopg's pure-Python timestamp loader."""

    template = "(%(expressions)s AT TIME ZONE 'UTC')::text"
    output_field = TextField()


def _iso_utc(text: str) -> str:
    """PostgreSQL's "2026-12-03 15:16:21.5" as ``datetime.isoformat()`` writes it for UTC
    ("2026-12-03T15:16:21.500000+00:00"; no fraction when there are no microseconds)."""
    whole, dot, fraction = text.partition(".")
    return f"{whole[:10]}T{whole[11:]}{dot}{fraction.ljust(6, '0') if dot else ''}+00:00"


def _verify_rows(after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """The next ``limit`` verification rows after ``after_id``, in id order (keyset)."""
    ordered = AuditEntry.objects.filter(id__gt=after_id).order_by("id")
    if connection.vendor != "postgresql":
        return [_orm_row(v) for v in ordered.values_list(*_VERIFY_COLUMNS)[:limit]]
    rows = ordered.values_list(
        "id", "hash", "key_id", "prev_hash", _AtText("at"), *DIGEST_COLUMNS[2:10],
        Cast("fields", TextField()), Cast("detail", TextField()),
    )[:limit]  # fmt: skip
    canonical = _canonical
    return [(*r[:4], _iso_utc(r[4]), *r[5:13], canonical(r[13]), canonical(r[14])) for r in rows]


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
    """The outcome of a walk over the log. ``unkeyed``: entries at its start written before
    the chain was keyed (protected only from the first keyed entry on). ``since``: the
    checkpoint the walk started after (None: from the first entry); ``checked`` counts the
    entries walked in this run only."""

    checked: int
    broken: AuditEntry | None = None
    reason: str = ""
    head_id: int | None = None
    head_hash: str = ""
    unkeyed: int = 0
    since: Checkpoint | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def rate(self) -> float:
        """Entries verified per second in this walk."""
        return self.checked / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Checkpoint:
    """A successful verification recorded in the log itself (an ``audit.verified`` or an
    ``audit.head`` entry): everything up to entry ``through_id``, whose hash was
    ``through_hash``, was intact. The entry ``entry_id`` holding it is keyed and chained like
    any other, so it cannot be forged or edited without AUDIT_KEY (docs/audit-log.md)."""

    entry_id: int
    at: dt.datetime
    through_id: int
    through_hash: str
    unkeyed: int = 0
    full: bool = True


def _anchor_ok(first_id: int, first_prev_hash: str) -> bool:
    """A log that does not start at the genesis must start where the last prune left it."""
    if first_prev_hash == "":
        return True
    prune = AuditEntry.objects.filter(action=PRUNE_ACTION).order_by("-id").values("detail").first()
    if prune is None:
        return False
    detail = prune["detail"] or {}
    return detail.get("anchor") == first_prev_hash and int(detail.get("through_id", 0)) < first_id


def _problem(row: tuple[Any, ...], *, prev: str, keyed_seen: bool) -> str:
    """Why ``row`` (the ``_VERIFY_COLUMNS`` of an entry) breaks the chain, or "" when it is
    a sound link."""
    stored, key_id, prev_hash = row[1], row[2], row[3]
    if prev_hash != prev:
        return "the previous entry is missing or was changed"
    if keyed_seen and not key_id:
        # Without the key anyone could append plain SHA-256 entries: only the oldest part of
        # the log, written before the upgrade, may be unkeyed.
        return "an unkeyed entry after the keyed chain began (forged or inserted)"
    try:
        digest = _row_digest(row)
    except UnknownAuditKey:
        return f"signed with key id {key_id!r}, which AUDIT_KEY does not list"
    if not hmac.compare_digest(digest, stored):
        return "this entry was changed"
    return ""


def _entry_problem(entry: AuditEntry, *, prev: str, keyed_seen: bool) -> str:
    """Why ``entry`` breaks the chain, or "" when it is a sound link."""
    return _problem(_entry_row(entry), prev=prev, keyed_seen=keyed_seen)


def latest_checkpoint() -> Checkpoint | None:
    """The newest recorded successful verification, if any (``CHECKPOINT_ACTIONS`` entries
    carrying ``through_id`` and ``through_hash``; few rows, served by the action index)."""
    row = (
        AuditEntry.objects.filter(action__in=CHECKPOINT_ACTIONS, detail__has_key="through_id")
        .order_by("-id")
        .values("id", "at", "detail")
        .first()
    )
    if row is None:
        return None
    detail = row["detail"] or {}
    try:
        return Checkpoint(
            entry_id=row["id"],
            at=row["at"],
            through_id=int(detail["through_id"]),
            through_hash=str(detail.get("through_hash") or ""),
            unkeyed=int(detail.get("unkeyed") or 0),
            full=bool(detail.get("full", True)),
        )
    except (TypeError, ValueError):
        return None


def _checkpoint_problem(checkpoint: Checkpoint) -> tuple[AuditEntry | None, str, bool]:
    """Whether the log still holds what ``checkpoint`` vouches for: its own entry keyed and
    unchanged, pointing back, and the entry it names with exactly the recorded hash.
    Returns (the entry at fault, the reason or "", whether the named entry is keyed)."""
    holder = AuditEntry.objects.filter(id=checkpoint.entry_id).first()
    if holder is None:  # pragma: no cover - just read
        return None, "the checkpoint entry vanished", False
    if not holder.key_id or checkpoint.through_id >= holder.id:
        return holder, "the checkpoint is not a keyed record of an earlier entry (forged)", False
    try:
        if not hmac.compare_digest(entry_digest(holder), holder.hash):
            return holder, "the checkpoint entry was changed", False
    except UnknownAuditKey:
        return holder, f"the checkpoint is signed with key id {holder.key_id!r}, not listed", False
    through = AuditEntry.objects.filter(id=checkpoint.through_id).first()
    if through is None:
        return (
            holder,
            f"entry #{checkpoint.through_id}, named by this checkpoint, is missing",
            False,
        )
    if not hmac.compare_digest(through.hash, checkpoint.through_hash):
        return through, "its hash differs from the one recorded when it was verified", False
    try:
        if not hmac.compare_digest(entry_digest(through), through.hash):
            return through, "this entry was changed", False
    except UnknownAuditKey:
        return (
            through,
            f"signed with key id {through.key_id!r}, which AUDIT_KEY does not list",
            False,
        )
    return None, "", bool(through.key_id)


def _broken_since(checkpoint: Checkpoint) -> bool:
    """A nightly walk after ``checkpoint`` found the chain broken: only a full walk counts."""
    return (
        AuditEntry.objects.filter(action="audit.head", id__gt=checkpoint.entry_id)
        .exclude(detail__broken_at=None)
        .filter(detail__has_key="broken_at")
        .exists()
    )


def verify_chain_report(
    *,
    batch_size: int = 5000,
    since: Checkpoint | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Walk the log in id order and report the first broken link (altered, inserted or
    removed). From the first entry, or, with ``since``, from the entry after a checkpoint
    (which is checked first: its record keyed and unchanged, the entry it names unchanged).

    Streams: keyset batches of ``batch_size`` rows (``id > last``; each a short index range
    scan, so memory stays bounded and no snapshot is held for the whole walk), tuples rather
    than model instances. A model instance is built only for a broken entry. ``progress``
    is called after each batch with (entries checked so far, last id).
    """
    started = time.perf_counter()
    prev: str | None = None
    checked = 0
    unkeyed = since.unkeyed if since else 0
    keyed_seen = False
    last_id = 0
    last_hash = ""

    def report(**kwargs: Any) -> ChainReport:
        return ChainReport(
            checked=checked, unkeyed=unkeyed, since=since,
            seconds=time.perf_counter() - started, **kwargs,
        )  # fmt: skip

    def broken(entry_id: int, reason: str) -> ChainReport:
        return report(broken=AuditEntry.objects.get(id=entry_id), reason=reason)

    if since is not None:
        entry, problem, keyed_seen = _checkpoint_problem(since)
        if problem:
            return report(broken=entry, reason=problem)
        prev = last_hash = since.through_hash
        last_id = since.through_id
    while True:
        batch = _verify_rows(last_id, batch_size)
        if not batch:
            return report(head_id=last_id or None, head_hash=last_hash)
        for row in batch:
            if prev is None:
                # The first remaining entry: the genesis, or anchored by the last prune.
                if not _anchor_ok(row[0], row[3]):
                    return broken(
                        row[0], "the log does not start at its beginning or at a recorded prune"
                    )
                prev = row[3]
            problem = _problem(row, prev=prev, keyed_seen=keyed_seen)
            if problem:
                return broken(row[0], problem)
            keyed_seen = keyed_seen or bool(row[2])
            unkeyed += not row[2]
            prev = row[1]
            checked += 1
        last_id, last_hash = batch[-1][0], batch[-1][1]
        if progress is not None:
            progress(checked, last_id)


def verify_chain(*, batch_size: int = 5000) -> tuple[int, AuditEntry | None]:
    """Walk the log in order; return (entries checked, first broken entry or None)."""
    report = verify_chain_report(batch_size=batch_size)
    return report.checked, report.broken


def verify_from_checkpoint(
    *,
    full: bool = False,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """The default walk of ``verify_audit_log``: from the latest checkpoint when there is one
    (and no nightly walk since found a break), else, or with ``full``, from the first entry.
    An entry changed *before* the checkpoint is found only by a full walk: the nightly head
    walks the whole log (docs/audit-log.md, "Checkpoints")."""
    since = None if full else latest_checkpoint()
    if since is not None and (
        _broken_since(since)
        or not AuditEntry.objects.filter(id__lte=since.through_id).exists()  # pruned past it
    ):
        since = None
    return verify_chain_report(batch_size=batch_size, since=since, progress=progress)


def record_checkpoint(report: ChainReport, *, by: Any = None) -> AuditEntry | None:
    """Record a successful walk as a checkpoint entry (keyed and chained like every entry;
    the app role may INSERT into the log, nothing more is needed). None when there is
    nothing to record (a broken chain, an empty log)."""
    if not report.ok or report.head_id is None:
        return None
    return audit_log(
        actor=by,
        action=CHECKPOINT_ACTION,
        detail=checkpoint_detail(report),
    )


def checkpoint_detail(report: ChainReport) -> dict[str, Any]:
    """What a checkpoint records about a successful walk (also put in the nightly head)."""
    return {
        "through_id": report.head_id,
        "through_hash": report.head_hash,
        "from_id": report.since.through_id if report.since else None,
        "checked": report.checked,
        "unkeyed": report.unkeyed,
        "full": report.since is None,
        "seconds": round(report.seconds, 3),
    }


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
