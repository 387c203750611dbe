"""The audit log's head, kept outside the system (docs/audit-log.md, "Nightly head").

The keyed chain proves that no entry in the log was altered, inserted or removed in the
middle; it cannot prove that the newest entries were not cut off, nor that whoever holds
the database *and* AUDIT_KEY did not rewrite it. So every night the chain is walked, a head
entry is appended and its id and hash go by mail to the data-protection officer (address in
the office settings). Later ``manage.py verify_audit_log --expect-head ID:HASH`` proves that
this entry is still in the log, unchanged, and that everything after it is chained to it.
The mail holds ids, times and hashes only: no personal data.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from coordination.audit import ChainReport, audit_log, checkpoint_detail, verify_chain_report
from coordination.models import AuditEntry, OfficeSettings

log = logging.getLogger(__name__)

HEAD_ACTION = "audit.head"
MAIL_KIND = "audit.head"


@dataclass(frozen=True)
class ChainHead:
    """The newest entry of the chain: what the data-protection officer keeps."""

    id: int
    at: dt.datetime
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


def audit_head_record(*, verified: ChainReport, sent_to: str) -> ChainHead:
    """Append the head entry (the walk's outcome, whether it goes out by mail) and return it:
    the head that is sent is this entry itself."""
    entry = audit_log(
        actor=None,
        action=HEAD_ACTION,
        detail={
            "verified": verified.checked,
            "broken_at": verified.broken.id if verified.broken is not None else None,
            "unkeyed": verified.unkeyed,
            "sent": bool(sent_to),
            # A sound walk of the whole log is the checkpoint later runs start from.
            **(checkpoint_detail(verified) if verified.ok and verified.head_id else {}),
        },
    )
    return ChainHead(id=entry.id, at=entry.at, hash=entry.hash)


def _mail_text(head: ChainHead, verified: ChainReport) -> tuple[str, str]:
    at = timezone.localtime(head.at)
    if verified.ok:
        outcome = _("all %(count)s earlier entries intact") % {"count": verified.checked}
    else:
        outcome = _("BROKEN at entry #%(id)s (%(reason)s); tell the IT department") % {
            "id": verified.broken.id,  # type: ignore[union-attr]
            "reason": verified.reason,
        }
    subject = _("Ankommen: audit log head of %(date)s") % {"date": f"{at:%Y-%m-%d}"}
    body = _(
        "This is the audit log's head of %(date)s, sent automatically every night.\n\n"
        "Entry: %(id)s\nTime: %(time)s\nCheck value: %(hash)s\nVerification: %(outcome)s\n\n"
        "Please keep this e-mail. To prove later that the log has been neither changed nor cut "
        "off since, the IT department runs:\n\n"
        "    python manage.py verify_audit_log --expect-head %(id)s:%(hash)s\n\n"
        "This e-mail contains no personal data."
    ) % {
        "date": f"{at:%Y-%m-%d}",
        "id": head.id,
        "time": f"{at:%Y-%m-%d %H:%M:%S %Z}",
        "hash": head.hash,
        "outcome": outcome,
    }
    return subject, body


def audit_head_send() -> ChainHead:
    """Nightly: walk the chain, append the head entry, and queue it by mail to the
    data-protection officer (through the outbox, in the same transaction). Without an
    address the entry is still written, and a warning logged."""
    from coordination.outbox import mail_enqueue

    verified = verify_chain_report()
    if not verified.ok:
        log.error(
            "audit log chain BROKEN at entry #%s: %s",
            verified.broken.id,  # type: ignore[union-attr]
            verified.reason,
        )
    to = OfficeSettings.current().dpo_email
    with transaction.atomic():
        head = audit_head_record(verified=verified, sent_to=to)
        if to:
            with translation.override(settings.LANGUAGE_CODE):
                subject, body = _mail_text(head, verified)
            mail_enqueue(
                kind=MAIL_KIND,
                to=to,
                subject=subject,
                body=body,
                object_type=AuditEntry._meta.label_lower,
                object_id=str(head.id),
            )
    log.info("audit log head #%s %s (%s entries verified)", head.id, head.hash, verified.checked)
    if not to:
        log.warning(
            "audit log head #%s was not sent: no data-protection officer's e-mail is set in "
            "the office settings",
            head.id,
        )
    return head


def parse_head(text: str) -> tuple[int, str]:
    """``ID:HASH`` as printed in the nightly mail and by ``verify_audit_log``."""
    head_id, sep, digest = text.strip().partition(":")
    head_id, digest = head_id.strip(), digest.strip().lower()
    if not sep or not (head_id.isascii() and head_id.isdecimal()):
        raise ValueError("expected ID:HASH, e.g. 1234:3f5a…")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("the hash must be 64 hexadecimal characters")
    return int(head_id), digest


def head_problem(expected: tuple[int, str]) -> str:
    """ "" when the entry ``expected`` names is in the log with that hash, else the reason.
    (A sound walk of the chain then proves everything after it is chained to it.)"""
    head_id, digest = expected
    stored = AuditEntry.objects.filter(id=head_id).values_list("hash", flat=True).first()
    if stored is None:
        first = AuditEntry.objects.order_by("id").values_list("id", flat=True).first()
        if first is not None and head_id < first:
            return f"entry #{head_id} was pruned (the log now starts at #{first}): use a newer head"
        return f"entry #{head_id} is missing: the newest entries were removed"
    if not hmac.compare_digest(stored, digest):
        return f"entry #{head_id} has another hash than the one received: the log was rewritten"
    return ""
