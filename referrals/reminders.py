"""Reminders, escalation and expiry of referrals that wait too long; the weekly digest.

The beat sweep (``referrals.tasks.sweep_referrals``, every ``SWEEP_MINUTES``) is the whole
schedule; no task waits in the broker for days. Each sweep finds what is due with one indexed
query (state, the highest level recorded so far, and ``created_at`` / ``start_date`` against
cut-offs computed here from working days), locks a batch of those referrals (``BATCH_SIZE``)
with ``select_for_update(skip_locked=True)`` and writes, in one transaction per batch and
set-based (the batch's queries do not grow with the number due):

- one :class:`~referrals.models.ReminderLog` per (referral, level), all with one INSERT. The
  unique constraint on (referral, level) makes sure two sweeps at once, or a sweep repeated
  after a crash, never create a level twice. An expiry is carried out right there
  (``referral_expire``, one referral at a time: state machine, case and audit log);
- the level's e-mails as outbox rows (``referrals/mails.py``, ``coordination/outbox.py``),
  one per recipient, all of the batch with one INSERT (``outbox.mails_enqueue``). The outbox
  hands them to the worker on commit; a broker that is down leaves them queued for the
  outbox's flush.

Just before a reminder's mail is handed to the mail server, the outbox asks
``reminder_still_wanted``, which re-checks the referral under lock: an answer from the
institution that came meanwhile cancels it. When the mail is sent or has failed for good,
``reminder_finished`` records the outcome on the reminder and in the case history, where the
coordinator sees a reminder that could not be delivered. A reminder is sent at least once,
and in rare cases twice (a worker that dies after the mail server took it and before the row
says so): ``docs/outbox.md`` explains the window. When a referral is due for several levels
at once (the sweep was down, or the thresholds changed) only the highest is sent; the lower
ones are recorded as skipped.

Levels and their thresholds (``OfficeSettings``, working days of the institution's calendar,
``referrals/calendars.py``: no weekend or Rhineland-Palatinate public holiday, and for a school
no school-holiday day, for a Kita no closing day):

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
import operator
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from cases.models import WAITING_STATES, Case, CaseEvent
from cases.selectors import followup_digest_user_ids, followup_references_due
from cases.services import case_record_event
from coordination import outbox
from coordination.exceptions import DomainError
from coordination.fields import encrypted_fields
from coordination.models import OfficeSettings, OutboxMessage
from coordination.outbox import MailDraft
from coordination.workdays import OFFICE, Calendar, due_before
from referrals import mails
from referrals.calendars import Calendars
from referrals.models import (
    DigestLog,
    Institution,
    InstitutionKind,
    Referral,
    ReferralState,
    ReminderLog,
)
from referrals.services import referral_expire

log = logging.getLogger(__name__)

Level = ReminderLog.Level
Outcome = ReminderLog.Outcome
Recipient = ReminderLog.Recipient
MailState = OutboxMessage.State

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

# Stored as the reason of a level recorded as skipped because a later one was due at once.
_SUPERSEDED = _("a later level was due at the same time")

BATCH_SIZE = 500
MAX_BATCHES = 50

# A reminder needs the case's reference and people, never the child's data: the encrypted
# fields of the referral and its case are not even read (so not decrypted) for its mails.
_PERSONAL_FIELDS = (
    *(f.name for f in encrypted_fields(Referral)),
    *(f"case__{f.name}" for f in encrypted_fields(Case)),
)


# --- what is due --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutoffs:
    """Per level: a referral made before ``created[level]`` (pending) or with a start date
    before ``start[level]`` (accepted) is due for that level. One calendar's cut-offs."""

    created: dict[str, dt.datetime]
    start: dict[str, dt.date]

    @classmethod
    def at(cls, now: dt.datetime, office: OfficeSettings, calendar: Calendar = OFFICE) -> Cutoffs:
        today = timezone.localdate(now)

        def midnight(day: dt.date) -> dt.datetime:
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

        return cls(
            created={
                level: midnight(due_before(today, getattr(office, LEVEL_DAYS[level]), calendar))
                for level in PENDING_LEVELS
            },
            start={
                level: due_before(today, getattr(office, LEVEL_DAYS[level]), calendar)
                for level in ACCEPTED_LEVELS
            },
        )

    def key(self) -> tuple[Any, ...]:
        return (tuple(sorted(self.created.items())), tuple(sorted(self.start.items())))

    def is_due(self, referral: Referral, level: str) -> bool:
        if level in self.created:
            return referral.created_at < self.created[level]
        return referral.start_date is not None and referral.start_date < self.start[level]


def _kitas() -> QuerySet[Institution, Any]:
    return Institution.objects.filter(kind=InstitutionKind.KITA).order_by().values("pk")


@dataclass(frozen=True)
class Scope:
    """Referrals to these institutions are due by ``cutoffs``: to Kitas (``kitas`` True), to
    the others (False) or to all (None); and of those, only to ``only`` or to all but
    ``excluded`` (institutions with closing days of their own, usually few)."""

    cutoffs: Cutoffs
    only: frozenset[int] | None = None
    excluded: frozenset[int] = frozenset()
    kitas: bool | None = None

    def q(self) -> Q:
        q = Q()
        if self.kitas is not None:
            # A subquery, not a list of ids: the statement stays the same size however many
            # Kitas there are (a literal list of 1,800 made the sweep with none due 20x slower).
            of_kitas = Q(institution_id__in=_kitas())
            q &= of_kitas if self.kitas else ~of_kitas
        if self.only is not None:
            q &= Q(institution_id__in=sorted(self.only))
        if self.excluded:
            q &= ~Q(institution_id__in=sorted(self.excluded))
        return q


@dataclass(frozen=True)
class SweepCutoffs:
    """The cut-offs of every calendar at one moment (``referrals.calendars``): schools (the
    school holidays), Kitas (their shared closing days), and institutions with closing days
    of their own, grouped by equal cut-offs. A handful of scopes, whatever the number of
    institutions: the due query stays a few index range scans, and names Kitas by a subquery
    (their kind), never by a list of ids."""

    scopes: tuple[Scope, ...]
    schools: Cutoffs
    kita: Cutoffs
    # Institutions whose own closing days give them other cut-offs than their kind's.
    by_institution: Mapping[int, Cutoffs]

    @classmethod
    def at(
        cls, now: dt.datetime, office: OfficeSettings, calendars: Calendars | None = None
    ) -> SweepCutoffs:
        calendars = calendars or Calendars.load(timezone.localdate(now))
        schools = Cutoffs.at(now, office, calendars.school)
        kita = Cutoffs.at(now, office, calendars.kita)
        if kita.key() == schools.key() and not calendars.own:
            # Most of the year no holiday falls into the window the levels look back on, and
            # few institutions have closing days of their own: one scope, and the due query
            # names no institution at all.
            return cls((Scope(schools),), schools, kita, {})
        own_kitas = (
            frozenset(
                Institution.objects.filter(pk__in=calendars.own, kind=InstitutionKind.KITA)
                .order_by()
                .values_list("pk", flat=True)
            )
            if calendars.own
            else frozenset()
        )
        special: dict[int, Cutoffs] = {}
        for pk, calendar in calendars.own.items():
            cutoffs = Cutoffs.at(now, office, calendar)
            if cutoffs.key() != (kita if pk in own_kitas else schools).key():
                special[pk] = cutoffs
        groups: dict[tuple[Any, ...], tuple[Cutoffs, set[int]]] = {}
        for pk, cutoffs in special.items():
            groups.setdefault(cutoffs.key(), (cutoffs, set()))[1].add(pk)
        excluded = frozenset(special)
        if kita.key() == schools.key():
            scopes = [Scope(schools, excluded=excluded)]
        else:
            scopes = [
                Scope(schools, excluded=excluded, kitas=False),
                Scope(kita, excluded=excluded, kitas=True),
            ]
        scopes.extend(Scope(cutoffs, only=frozenset(ids)) for cutoffs, ids in groups.values())
        return cls(tuple(scopes), schools, kita, special)

    @classmethod
    def single(cls, cutoffs: Cutoffs) -> SweepCutoffs:
        """One set of cut-offs for every referral (tests, benchmarks)."""
        return cls((Scope(cutoffs),), cutoffs, cutoffs, {})

    @property
    def by_kind(self) -> bool:
        """Whether a referral's cut-offs depend on its institution's kind."""
        return self.kita.key() != self.schools.key()

    def for_referral(self, referral: Referral) -> Cutoffs:
        if referral.institution_id in self.by_institution:
            return self.by_institution[referral.institution_id]
        if self.by_kind and referral.institution.kind == InstitutionKind.KITA:
            return self.kita
        return self.schools


# Before its first level, an open referral holds "" or (accepted) a level of the pending chain.
_BEFORE_CHAIN: dict[str, tuple[str, ...]] = {
    ReferralState.PENDING: ("",),
    ReferralState.ACCEPTED: ("", *PENDING_LEVELS),
}


def level_rank(level: str) -> int:
    """Position of a level in ``ALL_LEVELS`` (r1 < r2 < esc < exp < e1 < e2); "" is -1."""
    return ALL_LEVELS.index(level) if level else -1


_DUE_FIELDS = ("id", "state", "created_at", "start_date", "reminder_level", "institution_id")


def referrals_due(cutoffs: Cutoffs | SweepCutoffs) -> QuerySet[Referral]:
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

    Each calendar scope (``SweepCutoffs``: schools, Kitas, institutions with closing days of
    their own) has its own cut-off per level. An arm's range runs to the latest of them, and a
    filter on (institution, date) picks each scope's own: both are read from the same index
    (it includes ``institution_id``), and nothing due under any calendar still reads nothing.
    (One arm per scope and level instead made PostgreSQL read the whole table at three scopes.)
    """
    if isinstance(cutoffs, Cutoffs):
        cutoffs = SweepCutoffs.single(cutoffs)
    arms = []
    chains = (
        (ReferralState.PENDING, PENDING_LEVELS, "created_at", "created"),
        (ReferralState.ACCEPTED, ACCEPTED_LEVELS, "start_date", "start"),
    )
    for state, levels, column, which in chains:
        previous: tuple[str, ...] = _BEFORE_CHAIN[state]
        for level in levels:
            limits = [(scope.q(), getattr(scope.cutoffs, which)[level]) for scope in cutoffs.scopes]
            latest = max(limit for _q, limit in limits)
            due = Q(**{f"{column}__lt": latest})
            if len(limits) > 1:
                due &= reduce(
                    operator.or_, (q & Q(**{f"{column}__lt": limit}) for q, limit in limits)
                )
            arms.append(
                Referral.objects.filter(due, state=state, reminder_level__in=previous)
                .order_by()
                .values("pk")
            )
            previous = (level,)
    first, *rest = arms
    return (
        Referral.objects.filter(pk__in=first.union(*rest, all=True))
        .only(*_DUE_FIELDS)
        .order_by("pk")
    )


@dataclass(frozen=True)
class Plan:
    """What the sweep does for one referral: send ``send`` (if any), mark ``superseded`` as
    skipped (lower levels that are no longer worth a mail)."""

    referral: Referral
    send: str | None
    superseded: tuple[str, ...]


def plan_for(referral: Referral, cutoffs: Cutoffs | SweepCutoffs, written: Collection[str]) -> Plan:
    """The highest due level is sent; lower due levels without a row are skipped.

    ``written``: the levels that already have a row for this referral.
    """
    if isinstance(cutoffs, SweepCutoffs):
        cutoffs = cutoffs.for_referral(referral)
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
    expired: int = 0
    expiry_refused: int = 0
    mails: int = 0  # outbox rows written
    no_address: int = 0  # reminders that had no address at all (recorded as failed)
    adopted: int = 0  # queued reminders and digests of an earlier version, given their mails
    # With ``send_now``: how the sends of the due outbox rows went.
    dispatched: Counter[str] = field(default_factory=Counter)
    reminder_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": dict(self.queued),
            "superseded": dict(self.superseded),
            "expired": self.expired,
            "expiry_refused": self.expiry_refused,
            "mails": self.mails,
            "no_address": self.no_address,
            "adopted": self.adopted,
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
        if self.mails:
            out.append(f"e-mails written to the outbox: {self.mails}")
        if self.no_address:
            out.append(f"reminders without any e-mail address (failed): {self.no_address}")
        if self.adopted:
            out.append(f"queued rows of an earlier version given their e-mails: {self.adopted}")
        out.extend(f"e-mails {what}: {n}" for what, n in sorted(self.dispatched.items()) if n)
        return out or ["nothing due"]


def _claim_batch(
    *, now: dt.datetime, cutoffs: SweepCutoffs, result: SweepResult
) -> tuple[int, list[int]]:
    """Lock one batch of due referrals; write their reminder rows and those rows' e-mails
    (inside a transaction).

    Returns (referrals looked at, ids of reminder rows to send).
    """
    # In no particular order: ordered by id, PostgreSQL merges the due ids with the primary
    # key index and reads it up to the last due id (80,000 entries at 100,000 cases);
    # unordered, it looks each due id up (``skip_locked``: sweeps never wait on each other).
    locked = referrals_due(cutoffs).order_by().select_for_update(skip_locked=True)
    ids = [r.pk for r in locked[:BATCH_SIZE]]
    if not ids:
        return 0, []
    # The locked batch with what the mails need (and the institution's kind, which picks the
    # cut-offs in the holidays): a second query, so a sweep with none due stays the lean one.
    referrals = list(_with_mail_data(Referral.objects.filter(pk__in=ids)).order_by("pk"))
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
    # The mails are drafted before the rows are written, so each row is inserted with its
    # recipients (or as failed, without any address); the drafts get the rows' ids after.
    drafts = _draft_mails(
        [row for row in rows if row.outcome == Outcome.QUEUED],
        now=now,
        referrals={r.pk: r for r in referrals},
    )
    created = _insert(rows)
    _record_levels(referrals, written, rows)
    queued = [row for row in created if row.outcome != Outcome.SKIPPED]
    result.queued.update(row.level for row in queued)
    _enqueue_mails(queued, drafts, result=result)
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


# The mails of one reminder row (by identity: the row has no id before it is inserted).
Drafts = dict[int, list[MailDraft]]


def _with_mail_data(referrals: QuerySet[Referral]) -> QuerySet[Referral]:
    """The referrals with what their reminders' mails need, and no encrypted field."""
    return referrals.select_related("case__team__lead", "case__coordinator", "institution").defer(
        *_PERSONAL_FIELDS
    )


def _draft_mails(
    reminders: Sequence[ReminderLog],
    *,
    now: dt.datetime,
    referrals: Mapping[int, Referral] | None = None,
) -> Drafts:
    """Draft the mails of these reminders (nothing is written): their ``referrals`` as the
    batch read them (else one query for them, with case, team, lead, coordinator and
    institution), then rendering only. Sets each
    reminder's ``recipient``; a reminder without a single address is marked failed ("no
    e-mail address"), and ``_enqueue_mails`` records that in the case history: nobody would
    otherwise learn that the institution was never reminded."""
    if not reminders:
        return {}
    missing = {r.referral_id for r in reminders} - set(referrals or {})
    referrals = {
        **(referrals or {}),
        **{r.pk: r for r in _with_mail_data(Referral.objects.filter(pk__in=missing))},
    }
    office = OfficeSettings.current()
    today = timezone.localdate(now)
    calendars = Calendars.load(today)
    drafts: Drafts = {}
    for reminder in reminders:
        referral = referrals[reminder.referral_id]
        reminder.referral = referral  # for the case history below, without a query
        written = [
            (contact, draft)
            for contact, draft in mails.reminder_drafts(
                level=reminder.level,
                referral=referral,
                today=today,
                office=office,
                calendar=calendars.for_referral(referral),
            )
            if draft.to.strip()
        ]
        drafts[id(reminder)] = [draft for _contact, draft in written]
        reminder.recipient = ",".join(contact.role for contact, _draft in written)
        if not written:
            reminder.outcome = Outcome.FAILED
            reminder.error = str(_("no e-mail address"))
    return drafts


def _enqueue_mails(
    reminders: Sequence[ReminderLog], drafts: Drafts, *, result: SweepResult
) -> None:
    """Write the drafted mails of these (inserted) reminders to the outbox with one INSERT, in
    the sweep's transaction; record the reminders without any address in the case history."""
    batch = [
        replace(draft, object_id=str(reminder.pk))
        for reminder in reminders
        for draft in drafts.get(id(reminder), ())
    ]
    written = outbox.mails_enqueue(batch)
    result.mails += sum(message is not None for message in written)
    for reminder in reminders:
        if reminder.outcome == Outcome.FAILED:
            result.no_address += 1
            _record_history(reminder.referral.case, reminder, Outcome.FAILED)


def _write_mails(
    reminders: Sequence[ReminderLog], *, now: dt.datetime, result: SweepResult
) -> None:
    """The mails of reminder rows already written (queued rows without any mail)."""
    drafts = _draft_mails(reminders, now=now)
    _enqueue_mails(reminders, drafts, result=result)
    ReminderLog.objects.bulk_update(reminders, ["recipient", "outcome", "error"])


def reminders_claim_due(*, now: dt.datetime | None = None) -> tuple[SweepResult, list[int]]:
    """Write the reminder rows due now and their e-mails (one transaction per batch).

    Returns the result and the ids of the new reminder rows.
    """
    now = now or timezone.now()
    cutoffs = SweepCutoffs.at(now, OfficeSettings.current())
    result = SweepResult()
    ids: list[int] = []
    for _batch in range(MAX_BATCHES):
        with transaction.atomic():
            seen, new = _claim_batch(now=now, cutoffs=cutoffs, result=result)
        ids.extend(new)
        if seen < BATCH_SIZE:
            break
    return result, ids


def _without_mail(model: type[ReminderLog] | type[DigestLog], object_type: str) -> list[Any]:
    """Rows still queued that have no outbox row: written by the version before the outbox
    (whose send tasks no longer send), or by hand. Locked; at most one batch."""
    mail = OutboxMessage.objects.filter(
        object_type=object_type, object_id=Cast(OuterRef("pk"), output_field=CharField())
    )
    return list(
        model.objects.select_for_update(skip_locked=True)
        .filter(outcome=Outcome.QUEUED)
        .filter(~Exists(mail))
        .order_by("pk")[:BATCH_SIZE]
    )


def _adopt(*, now: dt.datetime, result: SweepResult) -> None:
    with transaction.atomic():
        reminders = _without_mail(ReminderLog, mails.REMINDER_TYPE)
        _write_mails(reminders, now=now, result=result)
        digests = _without_mail(DigestLog, mails.DIGEST_TYPE)
        _digest_mails(digests, now=now)
        result.adopted = len(reminders) + len(digests)


def referrals_sweep(*, now: dt.datetime | None = None, send_now: bool = False) -> SweepResult:
    """One sweep: write what is due and its e-mails, expire what is overdue.

    ``send_now`` (``manage.py sweep_referrals --send``) then sends the due e-mails of the
    outbox in this process instead of leaving them to the worker.
    """
    now = now or timezone.now()
    result, ids = reminders_claim_due(now=now)
    result.reminder_ids = ids
    _adopt(now=now, result=result)
    if send_now:
        result.dispatched.update(outbox.outbox_flush(send_now=True).sent)
    return result


# --- what the outbox asks and tells (registered in referrals/apps.py) -------------------------


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


def _record_history(case: Case, reminder: ReminderLog, outcome: str, attempts: int = 0) -> None:
    case_record_event(
        case=case,
        by=None,
        kind=CaseEvent.Kind.REMINDER,
        transition=reminder.level,
        reason=outcome,
        comment=_history_comment(reminder.level, outcome, attempts, reminder.error),
    )


def _locked_reminder(message: OutboxMessage) -> ReminderLog | None:
    return (
        ReminderLog.objects.select_for_update()
        .filter(pk=int(message.object_id or 0))
        .only("pk", "referral_id", "level", "outcome", "attempts", "error", "sent_at")
        .first()
    )


def reminder_still_wanted(message: OutboxMessage) -> str | None:
    """None while the reminder's referral is still in the state the level is about; else
    why it is not sent (the institution answered, the coordinator withdrew it ...).

    Runs under the outbox row's lock, and locks the referral: an answer either commits
    before this check, or waits until the row says "sending".
    """
    reminder = _locked_reminder(message)
    if reminder is None:
        return "the reminder is gone"
    if reminder.outcome == Outcome.SKIPPED:
        return "the reminder is not needed any more"
    state = (
        Referral.objects.select_for_update()
        .filter(pk=reminder.referral_id)
        .values_list("state", flat=True)
        .first()
    )
    if state != SEND_WHEN[reminder.level]:
        return f"the referral is {state or 'gone'} now"
    return None


def _settled(mail_states: Collection[str]) -> str | None:
    """A reminder's outcome from its mails' states (None while one is still open)."""
    if MailState.SENT in mail_states:
        return Outcome.SENT
    if MailState.QUEUED in mail_states or MailState.SENDING in mail_states:
        return None
    if MailState.FAILED in mail_states:
        return Outcome.FAILED
    return Outcome.SKIPPED


def reminder_finished(message: OutboxMessage) -> None:
    """One of a reminder's mails is sent, failed or cancelled: record the reminder's outcome
    once all its mails are settled (sent as soon as one went out), and a line in the case
    history for a mail sent first and for every mail that could not be delivered."""
    reminder = _locked_reminder(message)
    if reminder is None:
        return
    # "state" too: the FSM mixin reads it on load (a second query else).
    case = Case.objects.only("pk", "state", "reference").get(referrals__pk=reminder.referral_id)
    if message.state == MailState.FAILED:
        reminder.error = message.last_error
        _record_history(case, reminder, Outcome.FAILED, message.attempts)
    states = set(
        OutboxMessage.objects.filter(
            object_type=mails.REMINDER_TYPE, object_id=str(reminder.pk)
        ).values_list("state", flat=True)
    )
    outcome = _settled(states)
    reminder.attempts = max(reminder.attempts, message.attempts)
    fields = ["attempts", "error"]
    if reminder.outcome == Outcome.QUEUED and outcome is not None:
        reminder.outcome = outcome
        fields.append("outcome")
        if outcome == Outcome.SENT:
            reminder.sent_at = message.sent_at
            reminder.error = ""
            fields.append("sent_at")
            _record_history(case, reminder, Outcome.SENT)
        elif outcome == Outcome.SKIPPED:
            reminder.error = message.last_error
    reminder.save(update_fields=fields)


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


def digests_queue_weekly(*, now: dt.datetime | None = None) -> list[int]:
    """Write this week's digest row and its e-mail for every coordinator with a case over
    the target; a coordinator gets at most one digest per ISO week. Returns the ids of the
    digest rows written now."""
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
        ) | followup_digest_user_ids(today=today)
        DigestLog.objects.bulk_create(
            [DigestLog(user_id=pk, week=week, created_at=now, queued_at=now) for pk in users],
            ignore_conflicts=True,
        )
        mail = OutboxMessage.objects.filter(
            object_type=mails.DIGEST_TYPE, object_id=Cast(OuterRef("pk"), CharField())
        )
        digests = list(
            DigestLog.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(week=week, user_id__in=users, outcome=Outcome.QUEUED)
            .filter(~Exists(mail))
            .order_by("pk")
        )
        _digest_mails(digests, now=now)
    return [digest.pk for digest in digests]


def _digest_mails(digests: Sequence[DigestLog], *, now: dt.datetime) -> None:
    """Write each digest's e-mail (the cases over the target now), or record it as skipped."""
    office = OfficeSettings.current()
    target_date, limit_date = _waiting_cutoffs(timezone.localdate(now), office)
    for digest in digests:
        contact = mails.user_contact(digest.user, Recipient.COORDINATOR)
        cases = list(
            Case.objects.filter(
                coordinator=digest.user_id, state__in=WAITING_STATES, waiting_since__lt=target_date
            )
            .order_by("waiting_since", "reference")
            .values_list("reference", "waiting_since")
        )
        followups = followup_references_due(user=digest.user, today=timezone.localdate(now))
        if contact is None or not (cases or followups):
            digest.outcome = Outcome.SKIPPED
            digest.error = str(
                _("no case over the target any more")
                if not (cases or followups)
                else _("the coordinator has no e-mail address or is inactive")
            )
            digest.save(update_fields=["outcome", "error"])
            continue
        grouped: dict[bool, list[str]] = defaultdict(list)
        for reference, since in cases:
            grouped[since < limit_date].append(reference)
        mails.digest_enqueue(
            digest=digest,
            contact=contact,
            over_limit=grouped[True],
            over_target=grouped[False],
            office=office,
            followups=followups,
        )
        digest.cases = len({*(reference for reference, _since in cases), *followups})
        digest.save(update_fields=["cases"])


def digest_finished(message: OutboxMessage) -> None:
    """A digest's mail is sent, failed or cancelled: record it on the digest row."""
    digest = DigestLog.objects.select_for_update().filter(pk=int(message.object_id or 0)).first()
    if digest is None or digest.outcome != Outcome.QUEUED:
        return
    digest.attempts = message.attempts
    digest.error = message.last_error
    if message.state == MailState.SENT:
        digest.outcome = Outcome.SENT
        digest.sent_at = message.sent_at
        digest.error = ""
    elif message.state == MailState.FAILED:
        digest.outcome = Outcome.FAILED
        log.error("waiting digest %s of user %s failed", digest.week, digest.user_id)
    else:
        digest.outcome = Outcome.SKIPPED
    digest.save(update_fields=["outcome", "sent_at", "attempts", "error"])


def register_outbox_kinds() -> None:
    """Tell the outbox about reminders and digests (``ReferralsConfig.ready``)."""
    outbox.register_kind(
        "reminder.", still_wanted=reminder_still_wanted, on_final=reminder_finished
    )
    outbox.register_kind("digest.", on_final=digest_finished)


__all__ = [
    "ACCEPTED_LEVELS",
    "PENDING_LEVELS",
    "Cutoffs",
    "SweepCutoffs",
    "SweepResult",
    "digest_finished",
    "digests_queue_weekly",
    "plan_for",
    "referrals_due",
    "referrals_sweep",
    "reminder_finished",
    "reminder_still_wanted",
    "reminders_claim_due",
]
