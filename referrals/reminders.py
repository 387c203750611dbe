"""Reminders, escalation and expiry of referrals that wait too long; the weekly digest.

The beat sweep (``referrals.tasks.sweep_referrals``, every ``SWEEP_MINUTES``) is the whole
schedule; no task waits in the broker for days. Each sweep:

1. finds what is due with one indexed query (state, the highest level recorded so far, and
   ``created_at`` / ``start_date`` against cut-offs computed here from working days), locks
   those referrals with ``select_for_update(skip_locked=True)`` and writes one
   :class:`~referrals.models.ReminderLog` per (referral, level). The unique constraint on
   (referral, level) makes sure two sweeps at once, or a sweep repeated after a crash, never
   create a level twice. An expiry is carried out right there (``referral_expire``);
2. on commit, queues one ``send_reminder(reminder_id)`` per new row. A broker that is down
   is logged, the rows stay ``queued``, and
3. rows still ``queued`` some minutes after their hand-over are queued again (catch-up).

``reminder_send`` locks the row, re-checks the referral under lock (an answer from the
institution stops the chain at once) and sends; sending twice is impossible because the row
says ``sent``. When a referral is due for several levels at once (the sweep was down, or the
thresholds changed) only the highest is sent; the lower ones are recorded as skipped.

Levels and their thresholds (``OfficeSettings``, working days in Rhineland-Palatinate):

=====  ======================================  =============================================
level  when                                    who is told
=====  ======================================  =============================================
r1     pending ``reminder_1_days``             the institution
r2     pending ``reminder_2_days``             the institution, and the case's coordinator
esc    pending ``escalation_days``             the team lead (else team mailbox, else office)
exp    pending ``expiry_days``                 referral expires, case looks again; coordinator
e1     accepted, ``enrolment_reminder_days``   the institution (enrolment not confirmed)
       after the agreed start date
e2     accepted, ``enrolment_notice_days``     the coordinator
       after the agreed start date
=====  ======================================  =============================================

A coordinator without an e-mail address (or no longer active) is replaced by the team's
mailbox, and that by ``settings.OFFICE_MAILBOX``. E-mail is not an encrypted channel: mails
carry the case reference, the institution's name and a link, nothing about the child.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import KombuError

from cases.models import WAITING_STATES, Case, CaseEvent
from cases.services import case_record_event
from coordination.exceptions import DomainError
from coordination.fields import encrypted_fields
from coordination.models import OfficeSettings, Team, User
from coordination.workdays import add_working_days, due_before, working_days_between
from referrals.models import DigestLog, Referral, ReferralState, ReminderLog
from referrals.services import referral_expire

log = logging.getLogger(__name__)

Level = ReminderLog.Level
Outcome = ReminderLog.Outcome
Recipient = ReminderLog.Recipient

# Ascending: when several levels are due at once, the last one wins.
PENDING_LEVELS: tuple[str, ...] = (
    Level.REMINDER_1,
    Level.REMINDER_2,
    Level.ESCALATION,
    Level.EXPIRY,
)
ACCEPTED_LEVELS: tuple[str, ...] = (Level.ENROL_REMINDER, Level.ENROL_NOTICE)
ALL_LEVELS = PENDING_LEVELS + ACCEPTED_LEVELS

# Which OfficeSettings field holds each level's threshold (working days).
LEVEL_DAYS: dict[str, str] = {
    Level.REMINDER_1: "reminder_1_days",
    Level.REMINDER_2: "reminder_2_days",
    Level.ESCALATION: "escalation_days",
    Level.EXPIRY: "expiry_days",
    Level.ENROL_REMINDER: "enrolment_reminder_days",
    Level.ENROL_NOTICE: "enrolment_notice_days",
}

# The referral state in which a level is still worth sending (checked again under lock).
SEND_WHEN: dict[str, str] = {
    Level.REMINDER_1: ReferralState.PENDING,
    Level.REMINDER_2: ReferralState.PENDING,
    Level.ESCALATION: ReferralState.PENDING,
    Level.EXPIRY: ReferralState.EXPIRED,
    Level.ENROL_REMINDER: ReferralState.ACCEPTED,
    Level.ENROL_NOTICE: ReferralState.ACCEPTED,
}

# Errors of the mail server worth another try; after the last one the failure is recorded.
MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)
# Errors that will not go away by retrying (the server refused every recipient).
PERMANENT_MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPRecipientsRefused,)
# Errors of the broker when queueing: logged, the rows stay queued, the next sweep retries.
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError)

# Stored as the reason of a level recorded as skipped because a later one was due at once.
_SUPERSEDED = _("a later level was due at the same time")

MAX_ATTEMPTS = 6  # the first try and five retries
BACKOFF_SECONDS = 60  # 1, 2, 4, 8, 15 minutes: far below the broker's visibility timeout
BACKOFF_MAX_SECONDS = 15 * 60
# A queued row whose task has not run this long after its hand-over is queued again.
REQUEUE_AFTER = dt.timedelta(minutes=10)
BATCH_SIZE = 200
MAX_BATCHES = 50


def backoff_seconds(retries: int) -> int:
    """Seconds to wait before retry number ``retries + 1`` (exponential, capped)."""
    return min(BACKOFF_SECONDS * 2**retries, BACKOFF_MAX_SECONDS)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# --- what is due --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutoffs:
    """Per level: a referral made before ``created[level]`` (pending) or with a start date
    before ``start[level]`` (accepted) is due for that level."""

    created: dict[str, dt.datetime]
    start: dict[str, dt.date]

    @classmethod
    def at(cls, now: dt.datetime, office: OfficeSettings) -> Cutoffs:
        today = timezone.localdate(now)

        def midnight(day: dt.date) -> dt.datetime:
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

        return cls(
            created={
                level: midnight(due_before(today, getattr(office, LEVEL_DAYS[level])))
                for level in PENDING_LEVELS
            },
            start={
                level: due_before(today, getattr(office, LEVEL_DAYS[level]))
                for level in ACCEPTED_LEVELS
            },
        )

    def is_due(self, referral: Referral, level: str) -> bool:
        if level in self.created:
            return referral.created_at < self.created[level]
        return referral.start_date is not None and referral.start_date < self.start[level]


# Before its first level, an open referral holds "" or (accepted) a level of the pending chain.
_BEFORE_CHAIN: dict[str, tuple[str, ...]] = {
    ReferralState.PENDING: ("",),
    ReferralState.ACCEPTED: ("", *PENDING_LEVELS),
}


def level_rank(level: str) -> int:
    """Position of a level in ``ALL_LEVELS`` (r1 < r2 < esc < exp < e1 < e2); "" is -1."""
    return ALL_LEVELS.index(level) if level else -1


def referrals_due(cutoffs: Cutoffs) -> QuerySet[Referral]:
    """Pending or accepted referrals due for their next level: one query, read from indexes.

    Levels are recorded in ascending order (a lower level that is no longer worth a mail is
    recorded as skipped), and thresholds rise from level to level (``OfficeSettings``
    validates it), so a referral is due exactly when the level after its highest recorded one
    (``Referral.reminder_level``) is due. Each level is one arm of a ``UNION ALL`` in an
    ``id IN (...)``: (state, ``reminder_level``, a range of ``created_at`` or ``start_date``),
    an index-only range scan of the partial index ``ref_due_pending`` or ``ref_due_accepted``
    (their keys end in the id) that returns only due referrals, so a sweep with nothing due
    reads nothing, however many referrals wait. (Written as one ``OR``, or with indexes that
    need the table for the id, the conditions look common one by one, and PostgreSQL reads
    every open referral instead; see the benchmark's plans.) ``_claim_batch`` reads the
    reminder log again under lock, so a stale ``reminder_level`` never sends a level twice.
    """
    arms = []
    chains = (
        (ReferralState.PENDING, PENDING_LEVELS, "created_at", cutoffs.created),
        (ReferralState.ACCEPTED, ACCEPTED_LEVELS, "start_date", cutoffs.start),
    )
    for state, levels, column, limit in chains:
        previous: tuple[str, ...] = _BEFORE_CHAIN[state]
        for level in levels:
            arms.append(
                Referral.objects.filter(
                    state=state, reminder_level__in=previous, **{f"{column}__lt": limit[level]}
                )
                .order_by()
                .values("pk")
            )
            previous = (level,)
    first, *rest = arms
    return (
        Referral.objects.filter(pk__in=first.union(*rest, all=True))
        .only("id", "state", "created_at", "start_date", "reminder_level")
        .order_by("pk")
    )


@dataclass(frozen=True)
class Plan:
    """What the sweep does for one referral: send ``send`` (if any), mark ``superseded`` as
    skipped (lower levels that are no longer worth a mail)."""

    referral: Referral
    send: str | None
    superseded: tuple[str, ...]


def plan_for(referral: Referral, cutoffs: Cutoffs, written: Collection[str]) -> Plan:
    """The highest due level is sent; lower due levels without a row are skipped.

    ``written``: the levels that already have a row for this referral.
    """
    levels = PENDING_LEVELS if referral.state == ReferralState.PENDING else ACCEPTED_LEVELS
    due = [level for level in levels if cutoffs.is_due(referral, level)]
    missing = [level for level in due if level not in written]
    if not due:
        return Plan(referral, None, ())
    top = due[-1]
    send = top if top in missing else None
    return Plan(referral, send, tuple(level for level in missing if level != top))


# --- the sweep ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one sweep did; ``lines()`` is what ``manage.py sweep_referrals`` prints."""

    queued: Counter[str] = field(default_factory=Counter)
    superseded: Counter[str] = field(default_factory=Counter)
    # After commit: how the sends went (inline) or how many reached the broker (queued).
    dispatched: Counter[str] = field(default_factory=Counter)
    expired: int = 0
    expiry_refused: int = 0
    requeued: int = 0
    digests_requeued: int = 0
    reminder_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": dict(self.queued),
            "superseded": dict(self.superseded),
            "expired": self.expired,
            "expiry_refused": self.expiry_refused,
            "requeued": self.requeued,
            "digests_requeued": self.digests_requeued,
            "dispatched": dict(self.dispatched),
        }

    def lines(self) -> list[str]:
        """An operator's report in English, like Django's own command output."""
        with translation.override("en"):
            labels = {level: str(label) for level, label in Level.choices}
        out = [
            f"{level:<4} {labels[level]}: {self.queued[level]} new"
            for level in ALL_LEVELS
            if self.queued[level]
        ]
        if self.expired:
            out.append(f"expired referrals (case back to looking for a place): {self.expired}")
        if self.expiry_refused:
            out.append(f"expiries refused (the referral changed meanwhile): {self.expiry_refused}")
        skipped = sum(self.superseded.values())
        if skipped:
            detail = ", ".join(f"{lvl} {n}" for lvl, n in sorted(self.superseded.items()))
            out.append(f"skipped, a later level was due at once: {skipped} ({detail})")
        if self.requeued or self.digests_requeued:
            out.append(
                f"queued again (broker was down or lost them): {self.requeued} reminder(s), "
                f"{self.digests_requeued} digest(s)"
            )
        out.extend(f"{what}: {n}" for what, n in sorted(self.dispatched.items()) if n)
        return out or ["nothing due"]


def _claim_batch(
    *, now: dt.datetime, cutoffs: Cutoffs, result: SweepResult
) -> tuple[int, list[int]]:
    """Lock one batch of due referrals and write their reminder rows (inside a transaction).

    Returns (referrals looked at, ids of reminder rows to send).
    """
    referrals = list(referrals_due(cutoffs).select_for_update(skip_locked=True)[:BATCH_SIZE])
    if not referrals:
        return 0, []
    # Read the rows again now that the referrals are locked: the due query's snapshot may
    # predate the commit of a sweep that held the same rows a moment ago. No other sweep can
    # write rows for these referrals while this transaction holds their locks.
    written: dict[int, set[str]] = defaultdict(set)
    for referral_id, level in ReminderLog.objects.filter(
        referral_id__in=[r.pk for r in referrals]
    ).values_list("referral_id", "level"):
        written[referral_id].add(level)
    rows: list[ReminderLog] = []
    expiring: list[Referral] = []
    for referral in referrals:
        plan = plan_for(referral, cutoffs, written[referral.pk])
        for level in plan.superseded:
            rows.append(_row(referral.pk, level, now, Outcome.SKIPPED, _SUPERSEDED))
            result.superseded[level] += 1
        if plan.send == Level.EXPIRY:
            expiring.append(referral)
        elif plan.send is not None:
            rows.append(_row(referral.pk, plan.send, now))
    # Expiries last: they take the audit log's lock, which should be held only briefly.
    for referral in expiring:
        try:
            referral_expire(referral=referral)
        except DomainError as exc:
            # Answered, withdrawn or expired by someone else meanwhile: record, send nothing.
            result.expiry_refused += 1
            rows.append(_row(referral.pk, Level.EXPIRY, now, Outcome.SKIPPED, str(exc.message)))
            continue
        result.expired += 1
        rows.append(_row(referral.pk, Level.EXPIRY, now))
    created = _insert(rows)
    _record_levels(referrals, written, rows)
    queued = [row for row in created if row.outcome == Outcome.QUEUED]
    result.queued.update(row.level for row in queued)
    return len(referrals), sorted(row.pk for row in queued)


def _record_levels(
    referrals: Sequence[Referral], written: Mapping[int, set[str]], rows: Sequence[ReminderLog]
) -> None:
    """Keep ``Referral.reminder_level`` at the highest level with a row (one UPDATE per level).

    Also mends a referral whose rows were written some other way: it would otherwise be found
    due again by every sweep.
    """
    levels: dict[int, set[str]] = {r.pk: set(written.get(r.pk, ())) for r in referrals}
    for row in rows:
        levels[row.referral_id].add(row.level)
    changed: dict[str, list[int]] = defaultdict(list)
    for referral in referrals:
        top = max(levels[referral.pk], key=level_rank, default="")
        if level_rank(top) > level_rank(referral.reminder_level):
            changed[top].append(referral.pk)
    for level, ids in changed.items():
        Referral.objects.filter(pk__in=ids).update(reminder_level=level)


def _row(
    referral_id: int, level: str, now: dt.datetime, outcome: str = Outcome.QUEUED, error: Any = ""
) -> ReminderLog:
    return ReminderLog(
        referral_id=referral_id,
        level=level,
        created_at=now,
        queued_at=now if outcome == Outcome.QUEUED else None,
        outcome=outcome,
        error=str(error)[:300],
    )


def _insert(rows: list[ReminderLog]) -> list[ReminderLog]:
    """Insert the rows; returns those that were new (with their ids).

    The unique (referral, level) constraint is the last word: should a row exist after all,
    the batch is retried row by row, each in a savepoint, and the existing row is left alone.
    """
    if not rows:
        return []
    try:
        with transaction.atomic():
            created = ReminderLog.objects.bulk_create(rows)
    except IntegrityError:
        created = []
        for row in rows:
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                log.info("reminder %s of referral %s exists already", row.level, row.referral_id)
                continue
            created.append(row)
    if any(row.pk is None for row in created):  # a database that returns no ids on insert
        ids = {
            (referral_id, level): pk
            for pk, referral_id, level in ReminderLog.objects.filter(
                referral_id__in={row.referral_id for row in created}
            ).values_list("pk", "referral_id", "level")
        }
        for row in created:
            row.pk = ids[(row.referral_id, row.level)]
    return created


def reminders_claim_due(*, now: dt.datetime | None = None) -> tuple[SweepResult, list[int]]:
    """Write the reminder rows due now (one transaction per batch); nothing is queued.

    Returns the result and the ids of the rows to send, for the caller to dispatch.
    """
    now = now or timezone.now()
    cutoffs = Cutoffs.at(now, OfficeSettings.current())
    result = SweepResult()
    ids: list[int] = []
    for _batch in range(MAX_BATCHES):
        with transaction.atomic():
            seen, new = _claim_batch(now=now, cutoffs=cutoffs, result=result)
        ids.extend(new)
        if seen < BATCH_SIZE:
            break
    return result, ids


def _stale(model: type[ReminderLog] | type[DigestLog], now: dt.datetime) -> list[int]:
    """Rows still queued well after their hand-over; their hand-over time is renewed.

    Rows locked right now belong to a task that is sending them: those are left alone.
    """
    limit = now - REQUEUE_AFTER
    ids = list(
        model.objects.select_for_update(skip_locked=True)
        .filter(outcome=Outcome.QUEUED)
        .filter(Q(queued_at__lt=limit) | Q(queued_at__isnull=True, created_at__lt=limit))
        .order_by("pk")
        .values_list("pk", flat=True)[: BATCH_SIZE * 5]
    )
    if ids:
        model.objects.filter(pk__in=ids, outcome=Outcome.QUEUED).update(queued_at=now)
    return ids


def referrals_sweep(*, now: dt.datetime | None = None, send_now: bool = False) -> SweepResult:
    """One sweep: write what is due, expire what is overdue, queue the sends, catch up.

    ``send_now`` sends in this process instead of queueing (``manage.py sweep_referrals
    --send``); a mail error then leaves the row queued for a worker to retry.
    """
    now = now or timezone.now()
    result, ids = reminders_claim_due(now=now)
    with transaction.atomic():
        stale = _stale(ReminderLog, now)
        stale_digests = _stale(DigestLog, now)
        result.requeued, result.digests_requeued = len(stale), len(stale_digests)
        result.reminder_ids = ids + stale
        transaction.on_commit(
            partial(_dispatch, result, "reminders", send_now, result.reminder_ids)
        )
        transaction.on_commit(partial(_dispatch, result, "digests", send_now, stale_digests))
    return result


def _dispatch(result: SweepResult, what: str, send_now: bool, ids: Sequence[int]) -> None:
    if not ids:
        return
    if send_now:
        send = send_reminders_inline if what == "reminders" else send_digests_inline
        for outcome, n in send(ids).items():
            result.dispatched[f"{what} {outcome}"] += n
        return
    queue = queue_reminders if what == "reminders" else queue_digests
    handed_over = queue(ids)
    result.dispatched[f"{what} handed to the worker"] += handed_over
    result.dispatched[f"{what} left for the next sweep (broker down)"] += len(ids) - handed_over


# --- handing over to the broker --------------------------------------------------------------


def _queue(task: Any, ids: Sequence[int]) -> int:
    """Queue one task per id; at the first broker error stop and log (the sweep catches up)."""
    for done, pk in enumerate(ids):
        try:
            task.delay(pk)
        except BROKER_ERRORS:
            log.warning(
                "broker unavailable: %d %s task(s) stay queued for the next sweep",
                len(ids) - done,
                task.name,
                exc_info=True,
            )
            return done
    return len(ids)


def queue_reminders(ids: Sequence[int]) -> int:
    from referrals.tasks import send_reminder

    return _queue(send_reminder, ids)


def queue_digests(ids: Sequence[int]) -> int:
    from referrals.tasks import send_waiting_digest

    return _queue(send_waiting_digest, ids)


def _send_inline(
    send: Callable[..., str], record: Callable[..., bool], ids: Iterable[int]
) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for pk in ids:
        try:
            outcomes[send(pk)] += 1
        except MAIL_ERRORS as exc:
            permanent = isinstance(exc, PERMANENT_MAIL_ERRORS)
            final = record(
                pk, error=describe_error(exc), retry_in=None if permanent else BACKOFF_SECONDS
            )
            outcomes[Outcome.FAILED if final else "retry later"] += 1
    return outcomes


def send_reminders_inline(ids: Sequence[int]) -> Counter[str]:
    """Send in this process (no worker). A mail error is recorded and the row stays queued
    for the sweep's catch-up (or is marked failed when the error is permanent)."""
    return _send_inline(
        lambda pk: reminder_send(reminder_id=pk),
        lambda pk, **kw: reminder_record_failure(reminder_id=pk, **kw),
        ids,
    )


def send_digests_inline(ids: Sequence[int]) -> Counter[str]:
    """Send digests in this process (no worker), like ``send_reminders_inline``."""
    return _send_inline(
        lambda pk: digest_send(digest_id=pk),
        lambda pk, **kw: digest_record_failure(digest_id=pk, **kw),
        ids,
    )


# --- sending one reminder ----------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    role: str  # a ReminderLog.Recipient value
    address: str
    language: str


def _team_contact(team: Team) -> Contact:
    if team.mailbox:
        return Contact(Recipient.TEAM_MAILBOX, team.mailbox, settings.LANGUAGE_CODE)
    return Contact(Recipient.OFFICE_MAILBOX, settings.OFFICE_MAILBOX, settings.LANGUAGE_CODE)


def _user_contact(user: User | None, role: str) -> Contact | None:
    if user is not None and user.is_active and user.email:
        return Contact(role, user.email, user.language or settings.LANGUAGE_CODE)
    return None


def coordinator_contact(case: Case) -> Contact:
    """The case's coordinator; else the team's mailbox; else the office's."""
    return _user_contact(case.coordinator, Recipient.COORDINATOR) or _team_contact(case.team)


def lead_contact(case: Case) -> Contact:
    """The team lead of the case's team; else the team's mailbox; else the office's."""
    return _user_contact(case.team.lead, Recipient.TEAM_LEAD) or _team_contact(case.team)


def institution_contact(referral: Referral) -> Contact:
    return Contact(Recipient.INSTITUTION, referral.institution.email, settings.LANGUAGE_CODE)


# Who each level goes to, and which text they get ("audience" in the templates).
def _contacts(level: str, referral: Referral) -> list[tuple[str, Contact]]:
    case = referral.case
    if level in (Level.REMINDER_1, Level.ENROL_REMINDER):
        return [("institution", institution_contact(referral))]
    if level == Level.REMINDER_2:
        return [
            ("institution", institution_contact(referral)),
            ("coordinator", coordinator_contact(case)),
        ]
    if level == Level.ESCALATION:
        return [("lead", lead_contact(case))]
    return [("coordinator", coordinator_contact(case))]  # exp, e2


def _link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _reminder_message(
    level: str, referral: Referral, audience: str, contact: Contact, today: dt.date
) -> EmailMessage:
    office = OfficeSettings.current()
    referred_on = timezone.localdate(referral.created_at)
    since = referral.start_date if level in ACCEPTED_LEVELS and referral.start_date else referred_on
    path = (
        reverse("referrals:detail", args=[referral.pk])
        if audience == "institution"
        else reverse("cases:detail", args=[referral.case_id])
    )
    context = {
        "level": level,
        "audience": audience,
        "reference": referral.case.reference,
        "institution": referral.institution.name,
        "referred_on": referred_on,
        "start_date": referral.start_date,
        "days": working_days_between(since, today),
        "expires_on": add_working_days(referred_on, office.expiry_days),
        "link": _link(path),
    }
    with translation.override(contact.language):
        subject = render_to_string("referrals/email/reminder_subject.txt", context).strip()
        body = render_to_string("referrals/email/reminder_body.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.address],
        headers={"Auto-Submitted": "auto-generated"},
    )


def _send_messages(messages: Sequence[EmailMessage]) -> None:
    """Send over one connection; any error of the mail server is raised (never silent)."""
    connection = get_connection(fail_silently=False)
    connection.send_messages(list(messages))


def _history_comment(level: str, outcome: str, attempts: int = 0, error: str = "") -> str:
    """The line in the case history, in the office's language (it is stored as text)."""
    with translation.override(settings.LANGUAGE_CODE):
        text = f"{Level(level).label}: {Outcome(outcome).label}"
        if outcome != Outcome.FAILED:
            return text
        detail = _("not delivered after %(n)d attempts: %(error)s") % {
            "n": attempts,
            "error": error,
        }
        return f"{text} ({detail})"


# A reminder needs the case's reference and people, never the child's data: the encrypted
# fields of the referral and its case are not even read (so not decrypted) while sending.
_PERSONAL_FIELDS = (
    *(f.name for f in encrypted_fields(Referral)),
    *(f"case__{f.name}" for f in encrypted_fields(Case)),
)


def reminder_send(*, reminder_id: int) -> str:
    """Send one reminder if it is still needed. Idempotent: returns the row's outcome.

    The row and its referral are locked while sending, so an answer from the institution
    either comes before (the reminder is skipped) or waits until the mail is out.
    """
    with transaction.atomic():
        reminder = ReminderLog.objects.select_for_update().filter(pk=reminder_id).first()
        if reminder is None:
            return "missing"
        if reminder.outcome != Outcome.QUEUED:
            return reminder.outcome
        referral = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("case__team__lead", "case__coordinator", "institution")
            .defer(*_PERSONAL_FIELDS)
            .get(pk=reminder.referral_id)
        )
        if referral.state != SEND_WHEN[reminder.level]:
            reminder.outcome = Outcome.SKIPPED
            reminder.save(update_fields=["outcome"])
            return Outcome.SKIPPED
        today = timezone.localdate()
        contacts = _contacts(reminder.level, referral)
        messages = [
            _reminder_message(reminder.level, referral, audience, contact, today)
            for audience, contact in contacts
        ]
        _send_messages(messages)
        reminder.outcome = Outcome.SENT
        reminder.sent_at = timezone.now()
        reminder.attempts += 1
        reminder.error = ""
        reminder.recipient = ",".join(contact.role for _audience, contact in contacts)
        reminder.save(update_fields=["outcome", "sent_at", "attempts", "error", "recipient"])
        case_record_event(
            case=referral.case,
            by=None,
            kind=CaseEvent.Kind.REMINDER,
            transition=reminder.level,
            reason=Outcome.SENT,
            comment=_history_comment(reminder.level, Outcome.SENT),
        )
    return Outcome.SENT


def reminder_record_failure(*, reminder_id: int, error: str, retry_in: int | None) -> bool:
    """Record a failed attempt; returns True when it was the last one.

    The last attempt (``retry_in`` None, or ``MAX_ATTEMPTS`` reached) marks the row failed and
    writes it into the case history, where the coordinator sees it.
    """
    with transaction.atomic():
        reminder = (
            ReminderLog.objects.select_for_update(of=("self",))
            .select_related("referral")
            .filter(pk=reminder_id)
            .first()
        )
        if reminder is None or reminder.outcome != Outcome.QUEUED:
            return True  # sent or settled by another attempt meanwhile: nothing to retry
        reminder.attempts += 1
        reminder.error = error[:300]
        final = retry_in is None or reminder.attempts >= MAX_ATTEMPTS
        if retry_in is None or final:
            reminder.outcome = Outcome.FAILED
        else:
            reminder.queued_at = timezone.now() + dt.timedelta(seconds=retry_in)
        reminder.save(update_fields=["attempts", "error", "outcome", "queued_at"])
        if final:
            case_record_event(
                case=reminder.referral.case,
                by=None,
                kind=CaseEvent.Kind.REMINDER,
                transition=reminder.level,
                reason=Outcome.FAILED,
                comment=_history_comment(
                    reminder.level, Outcome.FAILED, reminder.attempts, reminder.error
                ),
            )
    return final


# --- the weekly waiting-time digest ------------------------------------------------------------


def iso_week(day: dt.date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def _waiting_cutoffs(today: dt.date, office: OfficeSettings) -> tuple[dt.date, dt.date]:
    """(target, limit): cases waiting since before these dates are over the target / limit."""
    target = min(office.waiting_target_days, office.waiting_limit_days)
    return (
        today - dt.timedelta(days=target),
        today - dt.timedelta(days=office.waiting_limit_days),
    )


def digests_queue_weekly(*, now: dt.datetime | None = None, send_now: bool = False) -> list[int]:
    """Write this week's digest row for every coordinator with a case over the target and
    queue its sending; a coordinator gets at most one digest per ISO week."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    week = iso_week(today)
    target_date, _limit = _waiting_cutoffs(today, OfficeSettings.current())
    with transaction.atomic():
        users = set(
            Case.objects.filter(
                state__in=WAITING_STATES,
                waiting_since__lt=target_date,
                coordinator__is_active=True,
            ).values_list("coordinator_id", flat=True)
        )
        DigestLog.objects.bulk_create(
            [DigestLog(user_id=pk, week=week, created_at=now, queued_at=now) for pk in users],
            ignore_conflicts=True,
        )
        ids = list(
            DigestLog.objects.filter(week=week, user_id__in=users, outcome=Outcome.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        transaction.on_commit(partial(send_digests_inline if send_now else queue_digests, ids))
    return ids


def _digest_message(
    user: User,
    contact: Contact,
    over_limit: list[str],
    over_target: list[str],
    office: OfficeSettings,
) -> EmailMessage:
    context = {
        "name": user.get_full_name() or user.username,
        "over_limit": over_limit,
        "over_target": over_target,
        "count": len(over_limit) + len(over_target),
        "limit_days": office.waiting_limit_days,
        "target_days": min(office.waiting_target_days, office.waiting_limit_days),
        "link": _link(reverse("cases:list") + "?waiting=over_target&mine=1"),
    }
    with translation.override(contact.language):
        subject = render_to_string("referrals/email/digest_subject.txt", context).strip()
        body = render_to_string("referrals/email/digest_body.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.address],
        headers={"Auto-Submitted": "auto-generated"},
    )


def digest_send(*, digest_id: int) -> str:
    """Send one coordinator's weekly digest if still queued (idempotent, locks its row).

    The list is read when sending: cases placed meanwhile are left out; if none is left,
    nothing is sent.
    """
    with transaction.atomic():
        digest = (
            DigestLog.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=digest_id)
            .first()
        )
        if digest is None:
            return "missing"
        if digest.outcome != Outcome.QUEUED:
            return digest.outcome
        contact = _user_contact(digest.user, Recipient.COORDINATOR)
        office = OfficeSettings.current()
        target_date, limit_date = _waiting_cutoffs(timezone.localdate(), office)
        cases = list(
            Case.objects.filter(
                coordinator=digest.user, state__in=WAITING_STATES, waiting_since__lt=target_date
            )
            .order_by("waiting_since", "reference")
            .values_list("reference", "waiting_since")
        )
        if contact is None or not cases:
            digest.outcome = Outcome.SKIPPED
            digest.error = str(
                _("no case over the target any more")
                if cases == []
                else _("the coordinator has no e-mail address or is inactive")
            )
            digest.save(update_fields=["outcome", "error"])
            return Outcome.SKIPPED
        grouped: dict[bool, list[str]] = defaultdict(list)
        for reference, since in cases:
            grouped[since < limit_date].append(reference)
        _send_messages(
            [_digest_message(digest.user, contact, grouped[True], grouped[False], office)]
        )
        digest.outcome = Outcome.SENT
        digest.sent_at = timezone.now()
        digest.cases = len(cases)
        digest.attempts += 1
        digest.error = ""
        digest.save(update_fields=["outcome", "sent_at", "cases", "attempts", "error"])
    return Outcome.SENT


def digest_record_failure(*, digest_id: int, error: str, retry_in: int | None) -> bool:
    """Record a failed attempt of a digest; returns True when it was the last one."""
    with transaction.atomic():
        digest = DigestLog.objects.select_for_update().filter(pk=digest_id).first()
        if digest is None or digest.outcome != Outcome.QUEUED:
            return True
        digest.attempts += 1
        digest.error = error[:300]
        final = retry_in is None or digest.attempts >= MAX_ATTEMPTS
        if retry_in is None or final:
            digest.outcome = Outcome.FAILED
            log.error("waiting digest %s of user %s failed: %s", digest.week, digest.user_id, error)
        else:
            digest.queued_at = timezone.now() + dt.timedelta(seconds=retry_in)
        digest.save(update_fields=["attempts", "error", "outcome", "queued_at"])
    return final


__all__ = [
    "ACCEPTED_LEVELS",
    "MAIL_ERRORS",
    "MAX_ATTEMPTS",
    "PENDING_LEVELS",
    "Cutoffs",
    "SweepResult",
    "backoff_seconds",
    "digest_record_failure",
    "digest_send",
    "digests_queue_weekly",
    "plan_for",
    "referrals_due",
    "referrals_sweep",
    "reminder_record_failure",
    "reminder_send",
    "reminders_claim_due",
]
