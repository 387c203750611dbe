"""Institutions, their free places, and referrals of a case to them.

Writes go through ``referrals/services.py``; reads that depend on the user go through
``referrals/selectors.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from guardian.models import UserObjectPermissionBase

from cases.models import Case, Group, TargetType
from coordination.fields import EncryptedTextField
from coordination.roles import is_coordinator, is_institution_staff


class InstitutionKind(models.TextChoices):
    KITA = "kita", _("Kita")
    GRUNDSCHULE = "grundschule", _("Primary school (Grundschule)")
    REALSCHULE_PLUS = "realschule_plus", _("Realschule plus")
    IGS = "igs", _("Comprehensive school (IGS)")
    GYMNASIUM = "gymnasium", _("Gymnasium")
    FOERDERSCHULE = "foerderschule", _("Special school (Förderschule)")
    BBS = "bbs", _("Vocational school (BBS)")


KIND_TARGET = {
    InstitutionKind.KITA: TargetType.KITA,
    InstitutionKind.BBS: TargetType.VOCATIONAL,
}


def target_for_kind(kind: str) -> str:
    return KIND_TARGET.get(kind, TargetType.SCHOOL)  # type: ignore[call-overload]


def _grades(first: int, last: int) -> list[str]:
    return [f"g{n:02d}" for n in range(first, last + 1)]


# The grades or age groups an institution of a kind usually takes newcomers into; its
# free-places page offers these (plus any group it already has figures for).
KIND_GROUPS: dict[str, list[str]] = {
    InstitutionKind.KITA: [Group.KITA_U3.value, Group.KITA_3.value],
    InstitutionKind.GRUNDSCHULE: _grades(1, 4),
    InstitutionKind.REALSCHULE_PLUS: _grades(5, 10),
    InstitutionKind.IGS: _grades(5, 13),
    InstitutionKind.GYMNASIUM: _grades(5, 13),
    InstitutionKind.FOERDERSCHULE: _grades(1, 10),
    InstitutionKind.BBS: [Group.BVJ.value, Group.VOCATIONAL.value],
}


def groups_for_kind(kind: str) -> list[str]:
    return list(KIND_GROUPS.get(kind, ()))


def kinds_for_group(group: str) -> list[str]:
    """The institution kinds (school types) that take children of a grade or age group:
    no Gymnasium for Klasse 4, no Grundschule for Klasse 7."""
    return [kind for kind in InstitutionKind.values if group in KIND_GROUPS.get(kind, ())]


def kind_takes_group(kind: str, group: str) -> bool:
    return group in KIND_GROUPS.get(kind, ())


class Institution(models.Model):
    name = models.CharField(_("name"), max_length=160, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=InstitutionKind.choices)
    district = models.ForeignKey(
        "coordination.District", verbose_name=_("district"), on_delete=models.PROTECT,
        related_name="institutions",
    )  # fmt: skip
    address = models.CharField(_("address"), max_length=200, blank=True)
    email = models.EmailField(_("contact e-mail"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    has_intensive_course = models.BooleanField(_("runs a German intensive course"), default=False)
    has_bvj = models.BooleanField(_("offers BVJ-S"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["name"]
        permissions = [("staff_institution", _("Works for this institution"))]
        indexes = [models.Index(fields=["kind", "district"], name="institution_kind_district")]

    def __str__(self) -> str:
        return self.name

    @property
    def target_type(self) -> str:
        return target_for_kind(self.kind)


class InstitutionUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key table for guardian: staff belong to their institution(s)."""

    content_object = models.ForeignKey(Institution, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class Places(models.Model):
    """Free places for newcomers of one institution in one grade or age group."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="places")
    group = models.CharField(_("grade or age group"), max_length=8, choices=Group.choices)
    free = models.PositiveIntegerField(_("free places"), default=0)
    reserved = models.PositiveIntegerField(_("reserved places"), default=0)
    updated_at = models.DateTimeField(_("last updated"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("free places")
        verbose_name_plural = _("free places")
        ordering = ["institution", "group"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "group"], name="places_unique_group"),
            models.CheckConstraint(condition=Q(free__gte=0), name="places_free_nonneg"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="places_reserved_nonneg"),
        ]
        indexes = [models.Index(fields=["group", "free"], name="places_group_free")]

    def __str__(self) -> str:
        return f"{self.institution}: {self.get_group_display()} ({self.free})"


class ReferralState(models.TextChoices):
    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    ENROLLED = "enrolled", _("enrolled")
    DECLINED = "declined", _("declined")
    EXPIRED = "expired", _("expired")
    WITHDRAWN = "withdrawn", _("withdrawn")
    NO_SHOW = "no_show", _("did not start")


OPEN_REFERRAL_STATES = [ReferralState.PENDING, ReferralState.ACCEPTED]


class DeclineReason(models.TextChoices):
    NO_PLACE = "no_place", _("no free place")
    WRONG_TYPE = "wrong_type", _("wrong school type")
    CATCHMENT = "catchment", _("outside the catchment area")
    OTHER = "other", _("other reason")


def may_answer(instance: Referral, user: Any) -> bool:
    """Staff of the institution the referral is addressed to."""
    return is_institution_staff(user) and user.has_perm(
        "referrals.staff_institution", instance.institution
    )


def may_manage(instance: Referral, user: Any) -> bool:
    """The coordinator(s) who may work the referral's case."""
    from cases.models import may_work_case

    return is_coordinator(user) and may_work_case(instance.case, user)


class Referral(ConcurrentTransitionMixin, models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="referrals")
    group = models.CharField(_("grade or age group"), max_length=8, choices=Group.choices)
    state = FSMField(
        _("state"),
        default=ReferralState.PENDING,
        choices=ReferralState.choices,
        protected=True,
        db_index=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("referred at"), default=timezone.now)
    waitlist = models.BooleanField(_("referred without a free place (waiting list)"), default=False)
    message = EncryptedTextField(_("message to the institution"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    decline_reason = models.CharField(
        _("decline reason"), max_length=12, choices=DeclineReason.choices, blank=True
    )
    answer_comment = EncryptedTextField(_("comment"))
    start_date = models.DateField(_("agreed start date"), null=True, blank=True)
    enrolled_on = models.DateField(_("first day attended"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    place_reserved = models.BooleanField(default=False, editable=False)
    # The highest reminder level recorded for this referral (a ``ReminderLog.Level``, "" for
    # none), kept by the sweep as it writes reminder rows: the due query reads it through the
    # two partial indexes below instead of probing the whole reminder log (see
    # ``referrals.reminders.referrals_due``).
    reminder_level = models.CharField(max_length=4, blank=True, default="", db_default="",
                                      editable=False)  # fmt: skip

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(state__in=["pending", "accepted"]),
                name="one_open_referral_per_case",
            )
        ]
        indexes = [
            models.Index(fields=["institution", "state", "created_at"], name="ref_inst_state"),
            models.Index(fields=["state", "created_at"], name="ref_state_created"),
            models.Index(fields=["state", "start_date"], name="ref_state_start"),
            # What the reminder sweep looks for: the next level of each open referral. The id
            # is part of the key, and the institution is included (the sweep's calendar scopes
            # filter by it), so the sweep's query is answered from the index alone.
            models.Index(
                fields=["reminder_level", "created_at", "id"],
                condition=Q(state="pending"),
                include=["institution"],
                name="ref_due_pending",
            ),
            models.Index(
                fields=["reminder_level", "start_date", "id"],
                condition=Q(state="accepted"),
                include=["institution"],
                name="ref_due_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} → {self.institution} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REFERRAL_STATES

    # --- transitions (called only from referrals/services.py) --------------------------

    @transition(
        field=state, source=ReferralState.PENDING, target=ReferralState.ACCEPTED,
        permission=may_answer,
    )  # fmt: skip
    def accept(self, *, by: Any, start_date: dt.date | None = None) -> None:
        """Accepted by ``by`` (staff of the institution), starting on ``start_date`` if agreed;
        the service has reserved one free place for it."""
        self.answered_at = timezone.now()
        self.answered_by = by
        self.start_date = start_date
        self.place_reserved = True

    @transition(
        field=state, source=ReferralState.PENDING, target=ReferralState.DECLINED,
        permission=may_answer,
    )  # fmt: skip
    def decline(self, *, by: Any, reason: str, comment: str = "") -> None:
        """Declined by ``by`` for a coded ``reason`` (``DeclineReason``), with a comment."""
        self.answered_at = self.closed_at = timezone.now()
        self.answered_by = by
        self.decline_reason = reason
        self.answer_comment = comment

    @transition(
        field=state, source=ReferralState.ACCEPTED, target=ReferralState.ENROLLED,
        permission=may_answer,
    )  # fmt: skip
    def enrol(self, *, first_day: dt.date) -> None:
        """The child attended from ``first_day``; the reserved place is taken."""
        self.closed_at = timezone.now()
        self.enrolled_on = first_day
        self.place_reserved = False

    @transition(
        field=state, source=ReferralState.ACCEPTED, target=ReferralState.NO_SHOW,
        permission=may_answer,
    )  # fmt: skip
    def report_no_show(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state, source=OPEN_REFERRAL_STATES, target=ReferralState.WITHDRAWN,
        permission=may_manage,
    )  # fmt: skip
    def withdraw(self) -> None:
        self.closed_at = timezone.now()

    @transition(field=state, source=ReferralState.PENDING, target=ReferralState.EXPIRED)
    def expire(self) -> None:
        """Set by the reminder sweep when no answer came by the deadline."""
        self.closed_at = timezone.now()


# The columns each transition sets besides ``state`` (the methods above): the services save
# exactly these. A released place (withdraw, no-show) is bookkeeping of the free places and
# saved by ``referrals.services._release_place``.
FIELDS_SET_BY: dict[str, tuple[str, ...]] = {
    "accept": ("answered_at", "answered_by", "start_date", "place_reserved"),
    "decline": ("answered_at", "closed_at", "answered_by", "decline_reason", "answer_comment"),
    "enrol": ("closed_at", "enrolled_on", "place_reserved"),
    "report_no_show": ("closed_at",),
    "withdraw": ("closed_at",),
    "expire": ("closed_at",),
}


class ReminderLog(models.Model):
    """One reminder, escalation or expiry of a referral; (referral, level) is unique."""

    class Level(models.TextChoices):
        REMINDER_1 = "r1", _("first reminder to the institution")
        REMINDER_2 = "r2", _("second reminder, coordinator notified")
        ESCALATION = "esc", _("escalated to the team lead")
        EXPIRY = "exp", _("expired")
        ENROL_REMINDER = "e1", _("reminder: enrolment not confirmed")
        ENROL_NOTICE = "e2", _("coordinator notified: enrolment not confirmed")

    class Outcome(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        SKIPPED = "skipped", _("not needed any more")
        FAILED = "failed", _("failed")

    class Recipient(models.TextChoices):
        """Who a reminder went to (a role, not an address); ``recipient`` lists these."""

        INSTITUTION = "institution", _("institution")
        COORDINATOR = "coordinator", _("coordinator")
        TEAM_LEAD = "team_lead", _("team lead")
        TEAM_MAILBOX = "team_mailbox", _("team mailbox")
        OFFICE_MAILBOX = "office_mailbox", _("office mailbox")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="reminders")
    level = models.CharField(_("level"), max_length=4, choices=Level.choices)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    created_at = models.DateTimeField(_("due at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=8, choices=Outcome.choices, default=Outcome.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    # When the send task was last handed to the broker (or when its retry is due). The sweep
    # re-queues rows still queued a few minutes after this: the broker was down or lost it.
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "level"], name="one_reminder_per_level")
        ]
        indexes = [models.Index(fields=["outcome", "queued_at"], name="reminder_outcome_queued")]

    def __str__(self) -> str:
        return f"{self.referral_id} {self.level} {self.outcome}"

    def recipient_labels(self) -> list[str]:
        """The roles the reminder went to, translated (``recipient`` holds their codes)."""
        labels = dict(self.Recipient.choices)
        return [str(labels.get(code, code)) for code in self.recipient.split(",") if code]


class DigestLog(models.Model):
    """One weekly waiting-time digest to a coordinator; (user, ISO week) is unique."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("coordinator"), on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    week = models.CharField(_("week"), max_length=8, help_text=_("ISO week, e.g. 2026-W03"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=8, choices=ReminderLog.Outcome.choices,
        default=ReminderLog.Outcome.QUEUED,
    )  # fmt: skip
    cases = models.PositiveIntegerField(_("cases listed"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("waiting-time digest")
        verbose_name_plural = _("waiting-time digests")
        ordering = ["-week", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="one_digest_per_week")]
        indexes = [models.Index(fields=["outcome", "queued_at"], name="digest_outcome_queued")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.week} {self.outcome}"


class ClosingPeriod(models.Model):
    """Days on which reminder deadlines stand still: the school holidays (Schulferien) of
    all schools, the closing days of all Kitas, or of one institution.

    First and last day are both included. ``referrals.calendars`` turns these rows into the
    working-day calendars of the sweep and of every deadline shown.
    """

    class AppliesTo(models.TextChoices):
        SCHOOLS = "schools", _("all schools (school holidays)")
        KITAS = "kitas", _("all Kitas")
        INSTITUTION = "institution", _("one institution")

    name = models.CharField(_("name"), max_length=80, help_text=_("e.g. Herbstferien 2026"))
    start = models.DateField(_("first day"))
    end = models.DateField(_("last day"))
    applies_to = models.CharField(
        _("applies to"), max_length=12, choices=AppliesTo.choices, default=AppliesTo.SCHOOLS
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="closing_periods",
        help_text=_("Only for “one institution”: e.g. a Kita's closing days."),
    )  # fmt: skip

    class Meta:
        verbose_name = _("holiday or closing period")
        verbose_name_plural = _("holidays and closing periods")
        ordering = ["start", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gte=F("start")), name="closing_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(applies_to="institution", institution__isnull=False)
                | (~Q(applies_to="institution") & Q(institution__isnull=True)),
                name="closing_institution_iff_one",
            ),
            models.UniqueConstraint(
                fields=["applies_to", "start", "end"],
                condition=Q(institution__isnull=True),
                name="closing_unique_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start:%d.%m.%Y} - {self.end:%d.%m.%Y})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, Any] = {}
        if self.start and self.end and self.end < self.start:
            errors["end"] = _("The last day cannot be before the first day.")
        if self.applies_to == self.AppliesTo.INSTITUTION and self.institution_id is None:
            errors["institution"] = _("Choose the institution these closing days belong to.")
        if self.applies_to != self.AppliesTo.INSTITUTION and self.institution_id is not None:
            errors["institution"] = _("An institution is chosen only for “one institution”.")
        if errors:
            raise ValidationError(errors)
