"""The outbox: every outgoing e-mail is a row, written with the change that causes it.

``mail_enqueue`` writes one :class:`~coordination.models.OutboxMessage` (one address, a
Message-ID fixed at creation) inside the caller's transaction and hands its id to the worker
once that transaction has committed. A change that is rolled back leaves no mail; a broker
that is down leaves the row ``queued`` for ``outbox_flush`` (beat, every minute).

Sending one row (``outbox_send``) takes two commits around the hand-over to the mail server:

1. lock the row (``skip_locked``), check it is queued and due and still wanted, set it
   ``sending`` (attempts + 1, ``sending_since``) and COMMIT;
2. hand the message to the mail server, with the stored Message-ID;
3. set it ``sent`` (or back to ``queued`` with a backoff, or ``failed``) and COMMIT.

A worker that dies between 1 and 3 leaves the row ``sending``; the flush puts it back to
``queued`` after ``SENDING_TIMEOUT``. If the mail server had accepted the message before the
crash, it goes out a second time, with the same Message-ID (at-least-once: exactly-once to an
SMTP server is impossible; see ``docs/outbox.md``).

Upper apps say per kind of mail (a prefix such as ``reminder.``) whether a row is still
wanted just before it is sent, and learn its final state (``register_kind``), so the base
never imports upward.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from coordination.models import OutboxMessage

log = logging.getLogger(__name__)

State = OutboxMessage.State

MAX_ATTEMPTS = 6  # the first try and five more
BACKOFF_SECONDS = 60  # 1, 2, 4, 8, 15, 15 minutes between attempts
BACKOFF_MAX_SECONDS = 15 * 60
# A row "sending" this long belongs to a worker that died (a hand-over to the mail server
# takes seconds: EMAIL_TIMEOUT is 20). It is put back to queued and sent again.
SENDING_TIMEOUT = dt.timedelta(minutes=5)
# A queued, due row whose hand-over to the broker is this old (or never happened) is handed
# over again by the flush; younger ones are presumably waiting in the broker.
HANDOVER_GRACE = dt.timedelta(minutes=1)
REQUEUE_AFTER = dt.timedelta(minutes=10)
FLUSH_BATCH = 500

# Errors of the mail server; every other exception is a bug, logged, and counted the same way.
MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)
# Errors that will not go away by retrying: the server refused the (only) recipient.
PERMANENT_MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPRecipientsRefused,)


# --- what upper apps register ---------------------------------------------------------------


StillWanted = Callable[[OutboxMessage], "str | None"]
OnFinal = Callable[[OutboxMessage], None]


@dataclass(frozen=True)
class KindHooks:
    prefix: str
    still_wanted: StillWanted | None = None
    on_final: OnFinal | None = None


_KINDS: dict[str, KindHooks] = {}


def register_kind(
    prefix: str, *, still_wanted: StillWanted | None = None, on_final: OnFinal | None = None
) -> None:
    """Hooks for the kinds starting with ``prefix`` (the longest registered prefix wins).

    ``still_wanted(message)`` runs under the row's lock just before the hand-over, inside the
    transaction that commits ``sending``: it returns None to send, or a short reason (no
    personal data) to cancel the row instead. ``on_final(message)`` runs in the transaction
    that sets the row ``sent``, ``failed`` or ``cancelled`` (in a savepoint: an error there
    is logged and never undoes the state). Call it from an ``AppConfig.ready()``.
    """
    _KINDS[prefix] = KindHooks(prefix, still_wanted, on_final)


def hooks_for(kind: str) -> KindHooks:
    matches = [hooks for prefix, hooks in _KINDS.items() if kind.startswith(prefix)]
    return max(matches, key=lambda hooks: len(hooks.prefix), default=KindHooks(""))


# --- writing a message -----------------------------------------------------------------------


def _domain() -> str:
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return address.rpartition("@")[2] or "localhost"


def new_message_id() -> str:
    """A Message-ID for a new row, fixed for all its attempts."""
    return f"<outbox-{uuid.uuid4().hex}@{_domain()}>"


def mail_enqueue(
    *,
    kind: str,
    to: str,
    subject: str,
    body: str,
    case_reference: str = "",
    object_type: str = "",
    object_id: str = "",
    headers: Mapping[str, str] | None = None,
) -> OutboxMessage | None:
    """Write one mail to one address in the caller's transaction; hand it to the worker on
    commit. Returns None (and logs, without the address) when there is no address.

    The body is stored as it is: it must carry the case reference and a link only, never a
    personal value of the child or family.
    """
    address = (to or "").strip()
    if not address:
        log.warning("outbox: no address for a %s mail (case %s)", kind, case_reference or "-")
        return None
    extra = {"Auto-Submitted": "auto-generated", **(headers or {})}
    extra = {k: v for k, v in extra.items() if k.lower() != "message-id"}  # ours only
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.create(
            kind=kind,
            to=address,
            subject=" ".join(subject.split())[:255],
            body=body,
            message_id=new_message_id(),
            headers=extra,
            created_at=now,
            next_attempt_at=now,
            case_reference=case_reference,
            object_type=object_type,
            object_id=str(object_id),
        )
        transaction.on_commit(partial(hand_over, message.pk))
    return message


@dataclass(frozen=True)
class MailDraft:
    """One mail to one address, for :func:`mails_enqueue` (the arguments of ``mail_enqueue``)."""

    kind: str
    to: str
    subject: str
    body: str
    case_reference: str = ""
    object_type: str = ""
    object_id: str = ""


def mails_enqueue(drafts: Sequence[MailDraft]) -> list[OutboxMessage | None]:
    """``mail_enqueue`` for many mails at once: one INSERT for all of them in the caller's
    transaction, and their hand-over to the worker once it has committed. Returns, per draft,
    its row, or None when it has no address (logged, without the address).

    For writers of many mails in one transaction (the reminder sweep writes a batch of
    reminders in one): the same rows, guarantees and hand-over as ``mail_enqueue``.
    """
    now = timezone.now()
    headers = {"Auto-Submitted": "auto-generated"}
    messages: list[OutboxMessage | None] = []
    for draft in drafts:
        address = (draft.to or "").strip()
        if not address:
            log.warning(
                "outbox: no address for a %s mail (case %s)",
                draft.kind,
                draft.case_reference or "-",
            )
            messages.append(None)
            continue
        messages.append(
            OutboxMessage(
                kind=draft.kind,
                to=address,
                subject=" ".join(draft.subject.split())[:255],
                body=draft.body,
                message_id=new_message_id(),
                headers=dict(headers),
                created_at=now,
                next_attempt_at=now,
                case_reference=draft.case_reference,
                object_type=draft.object_type,
                object_id=str(draft.object_id),
            )
        )
    rows = [message for message in messages if message is not None]
    if not rows:
        return messages
    with transaction.atomic():
        OutboxMessage.objects.bulk_create(rows)
        transaction.on_commit(partial(hand_over_all, [row.pk for row in rows]))
    return messages


def hand_over_all(pks: Sequence[int]) -> None:
    """Give the rows' ids to the worker; at the first broker error the rest stay queued for
    the flush (one warning, not one per row)."""
    for pk in pks:
        if not hand_over(pk):
            return


def hand_over(pk: int) -> bool:
    """Give one row's id to the worker. A broker error is logged; the row stays queued and
    the flush hands it over later."""
    from coordination.outbox_tasks import send_outbox_message

    try:
        send_outbox_message.delay(pk)
    except Exception:  # any broker error: the row is safe in the database
        log.warning("outbox: broker unavailable, message %s stays queued", pk, exc_info=True)
        return False
    return True


# --- sending one message ---------------------------------------------------------------------


def backoff_seconds(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones (exponential, capped)."""
    return min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


def describe_error(exc: BaseException) -> str:
    """The error type and the server's code: short, and without the addresses a refusal
    lists."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _text in exc.recipients.values()})
        return f"SMTPRecipientsRefused: {', '.join(map(str, codes))}"[:300]
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _email(message: OutboxMessage) -> EmailMessage:
    return EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={**message.headers, "Message-ID": message.message_id},
    )


def _finish(message: OutboxMessage, fields: list[str]) -> None:
    """Save a final state and tell the kind's hook (in a savepoint: its error is logged)."""
    message.save(update_fields=fields)
    hook = hooks_for(message.kind).on_final
    if hook is None:
        return
    try:
        with transaction.atomic():
            hook(message)
    except Exception:
        log.exception("outbox: the final hook of %s #%s failed", message.kind, message.pk)


def _fail_attempt(
    message: OutboxMessage, error: str, *, permanent: bool, retry_at: dt.datetime | None = None
) -> str:
    """Record a failed attempt (the row is locked): back to queued with a backoff (or at
    ``retry_at``), or failed for good."""
    message.last_error = error[:300]
    message.sending_since = None
    message.handed_over_at = None
    fields = ["state", "attempts", "last_error", "sending_since", "handed_over_at"]
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.state = State.FAILED
        _finish(message, fields)
        log.error("outbox: %s #%s failed for good: %s", message.kind, message.pk, error)
        return State.FAILED
    message.state = State.QUEUED
    message.next_attempt_at = retry_at or timezone.now() + dt.timedelta(
        seconds=backoff_seconds(message.attempts)
    )
    message.save(update_fields=[*fields, "next_attempt_at"])
    return "retry later"


def _claim(message_id: int, *, force: bool) -> OutboxMessage | str:
    """Transaction 1: the row set ``sending`` (returned), or why it is not sent now."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        )
        if message is None:
            exists = OutboxMessage.objects.filter(pk=message_id).exists()
            return "busy" if exists else "missing"
        if message.state != State.QUEUED:
            return message.state
        now = timezone.now()
        if not force and message.next_attempt_at > now:
            return "not due"
        check = hooks_for(message.kind).still_wanted
        if check is not None:
            try:
                with transaction.atomic():
                    reason = check(message)
            except Exception as exc:
                log.exception("outbox: the check of %s #%s failed", message.kind, message.pk)
                message.attempts += 1
                return _fail_attempt(message, describe_error(exc), permanent=False)
            if reason:
                message.state = State.CANCELLED
                message.last_error = str(reason)[:300]
                _finish(message, ["state", "last_error"])
                return State.CANCELLED
        message.state = State.SENDING
        message.attempts += 1
        message.sending_since = now
        message.save(update_fields=["state", "attempts", "sending_since"])
    return message


def outbox_send(*, message_id: int, force: bool = False) -> str:
    """Send one row (``message_id`` is its id) if it is queued and due; returns what
    happened. ``force`` sends a queued row before its next attempt is due."""
    claimed = _claim(message_id, force=force)
    if isinstance(claimed, str):
        return claimed
    since = claimed.sending_since
    error: BaseException | None = None
    try:
        get_connection(fail_silently=False).send_messages([_email(claimed)])
    except Exception as exc:
        if not isinstance(exc, MAIL_ERRORS):
            log.exception("outbox: sending %s #%s raised", claimed.kind, claimed.pk)
        error = exc
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=claimed.pk)
        if message.state != State.SENDING or message.sending_since != since:
            # The flush took the row back meanwhile (this hand-over took longer than
            # SENDING_TIMEOUT) and another attempt owns it now.
            log.warning("outbox: %s #%s was taken back while sending", message.kind, message.pk)
            return "taken back"
        if error is not None:
            return _fail_attempt(
                message,
                describe_error(error),
                permanent=isinstance(error, PERMANENT_MAIL_ERRORS),
            )
        message.state = State.SENT
        message.sent_at = timezone.now()
        message.sending_since = None
        message.last_error = ""
        _finish(message, ["state", "sent_at", "sending_since", "last_error"])
    return State.SENT


# --- the flush: what the broker never got, and what a dead worker left behind ---------------


@dataclass
class FlushResult:
    released: int = 0  # "sending" rows of a dead worker, queued again
    given_up: int = 0  # ... or failed, having used all their attempts
    handed_over: int = 0
    broker_down: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # with send_now: how each went

    def lines(self) -> list[str]:
        out = []
        if self.released or self.given_up:
            out.append(
                f"left 'sending' by a stopped worker: {self.released} queued again, "
                f"{self.given_up} failed (no attempts left)"
            )
        if self.handed_over or self.broker_down:
            out.append(
                f"handed to the worker: {self.handed_over}; broker down, left queued: "
                f"{self.broker_down}"
            )
        out.extend(f"{outcome}: {n}" for outcome, n in sorted(self.sent.items()))
        return out or ["nothing to send"]


def _release_stale(now: dt.datetime, result: FlushResult) -> None:
    stale = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
        state=State.SENDING, sending_since__lt=now - SENDING_TIMEOUT
    )
    for message in stale.order_by("pk")[:FLUSH_BATCH]:
        log.warning("outbox: %s #%s was left sending", message.kind, message.pk)
        # No backoff: the worker died, the mail server was probably fine.
        outcome = _fail_attempt(
            message, "worker stopped while sending", permanent=False, retry_at=now
        )
        if outcome == State.FAILED:
            result.given_up += 1
        else:
            result.released += 1


def outbox_due(*, now: dt.datetime, force: bool = False) -> list[int]:
    """Ids of queued rows due now (``force``: every queued row, due or not)."""
    rows = OutboxMessage.objects.filter(state=State.QUEUED)
    if not force:
        rows = rows.filter(next_attempt_at__lte=now)
    return list(rows.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:FLUSH_BATCH])


def _not_handed_over(now: dt.datetime) -> list[int]:
    """Ids of queued rows due for a while whose hand-over to the broker is missing (the
    broker was down, a retry is due) or old (the broker lost it). A row handed over a moment
    ago is presumably waiting in the broker: it is left alone."""
    rows = OutboxMessage.objects.filter(
        state=State.QUEUED, next_attempt_at__lte=now - HANDOVER_GRACE
    ).filter(Q(handed_over_at__isnull=True) | Q(handed_over_at__lt=now - REQUEUE_AFTER))
    return list(rows.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:FLUSH_BATCH])


def outbox_flush(
    *, now: dt.datetime | None = None, send_now: bool = False, force: bool = False
) -> FlushResult:
    """Put back what a dead worker left ``sending``; hand the due queued rows to the worker
    (``send_now``: send the due rows in this process; ``force``: also those not due yet)."""
    now = now or timezone.now()
    result = FlushResult()
    with transaction.atomic():
        _release_stale(now, result)
    if send_now or force:
        for pk in outbox_due(now=now, force=force):
            result.sent[outbox_send(message_id=pk, force=force)] += 1
        return result
    ids = _not_handed_over(now)
    # Recorded before the hand-over: a worker that fails the row at once resets it.
    OutboxMessage.objects.filter(pk__in=ids, state=State.QUEUED).update(handed_over_at=now)
    for done, pk in enumerate(ids):
        if not hand_over(pk):
            result.broker_down = len(ids) - done
            OutboxMessage.objects.filter(pk__in=ids[done:], handed_over_at=now).update(
                handed_over_at=None
            )
            break
        result.handed_over += 1
    return result


# --- what administrators do (Django admin) ---------------------------------------------------


def outbox_requeue(*, message: OutboxMessage) -> bool:
    """Queue a failed or cancelled row again with fresh attempts, due now; hand it over."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.state not in (State.FAILED, State.CANCELLED):
            return False
        locked.state = State.QUEUED
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.handed_over_at = None
        locked.save(update_fields=["state", "attempts", "next_attempt_at", "handed_over_at"])
        transaction.on_commit(partial(hand_over, locked.pk))
    return True


def outbox_cancel(*, message: OutboxMessage, reason: str = "cancelled by an administrator") -> bool:
    """Cancel a queued row (a row being sent or sent cannot be called back)."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.state != State.QUEUED:
            return False
        locked.state = State.CANCELLED
        locked.last_error = reason[:300]
        _finish(locked, ["state", "last_error"])
    return True


# --- pruning: sent, failed and cancelled rows are not kept for ever --------------------------

FINAL_STATES = (State.SENT, State.FAILED, State.CANCELLED)
PRUNE_BATCH = 5000


def outbox_prune(*, now: dt.datetime | None = None, dry_run: bool = False) -> int:
    """Delete the rows in a final state created more than ``OUTBOX_KEEP_DAYS`` ago, in
    batches (one short transaction each); returns how many (``dry_run``: would be).

    Queued and sending rows are never pruned, whatever their age: they are work still to do.
    A final row's outcome is already recorded where it matters (the reminder's or digest's
    own row, the case history), written in the transaction that made the row final."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.OUTBOX_KEEP_DAYS)
    old = OutboxMessage.objects.filter(state__in=FINAL_STATES, created_at__lt=cutoff)
    if dry_run:
        return old.count()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("created_at", "pk").values_list("pk", flat=True)[:PRUNE_BATCH])
            if not ids:
                return total
            deleted, _ = OutboxMessage.objects.filter(pk__in=ids, state__in=FINAL_STATES).delete()
        total += deleted
