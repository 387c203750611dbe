"""The child's case: an encrypted record on a guarded state machine, with its history.

Writes go through ``cases/services.py`` only (no ``.save()`` of a Case elsewhere); reads that
depend on the user go through ``cases/selectors.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition
from guardian.models import UserObjectPermissionBase

from cases.extensions import case_has_open_work
from cases.identity import IDENTITY_VERSION, KEY_COLUMNS, case_keys
from coordination.fields import (
    BlindIndexField,
    EncryptedBooleanField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedIntegerField,
    EncryptedJSONField,
    EncryptedTextField,
)
from coordination.roles import is_coordinator


class TargetType(models.TextChoices):
    SCHOOL = "school", _("School")
    KITA = "kita", _("Kita (daycare)")
    VOCATIONAL = "vocational", _("Vocational school (BBS)")


class Group(models.TextChoices):
    """Wanted grade (schools) or age group (Kita); free places are kept per group."""

    KITA_U3 = "kita_u3", _("Kita: under 3")
    KITA_3 = "kita_3", _("Kita: 3 to school entry")
    GRADE_1 = "g01", _("Grade 1")
    GRADE_2 = "g02", _("Grade 2")
    GRADE_3 = "g03", _("Grade 3")
    GRADE_4 = "g04", _("Grade 4")
    GRADE_5 = "g05", _("Grade 5")
    GRADE_6 = "g06", _("Grade 6")
    GRADE_7 = "g07", _("Grade 7")
    GRADE_8 = "g08", _("Grade 8")
    GRADE_9 = "g09", _("Grade 9")
    GRADE_10 = "g10", _("Grade 10")
    GRADE_11 = "g11", _("Grade 11")
    GRADE_12 = "g12", _("Grade 12")
    GRADE_13 = "g13", _("Grade 13")
    BVJ = "bvj", _("Vocational: BVJ-S (with German support)")
    VOCATIONAL = "bbs", _("Vocational: other course")


KITA_GROUPS = {Group.KITA_U3, Group.KITA_3}
VOCATIONAL_GROUPS = {Group.BVJ, Group.VOCATIONAL}


def groups_for_target(target: str) -> list[str]:
    """The groups of a target type in the order of ``Group`` (never a set's order, which
    changes from process to process: tables and choice lists would reorder)."""
    if target == TargetType.KITA:
        return [g.value for g in Group if g in KITA_GROUPS]
    if target == TargetType.VOCATIONAL:
        return [g.value for g in Group if g in VOCATIONAL_GROUPS]
    return [g.value for g in Group if g not in KITA_GROUPS and g not in VOCATIONAL_GROUPS]


class State(models.TextChoices):
    INTAKE = "intake", _("Intake")
    CLARIFICATION = "clarification", _("Clarification")
    READY = "ready", _("Looking for a place")
    REFERRED = "referred", _("Referred")
    PLACED = "placed", _("Placed")
    ON_HOLD = "on_hold", _("On hold")
    CLOSED = "closed", _("Closed")


OPEN_STATES = [s for s in State if s != State.CLOSED]
# States in which the child has no place yet: the office's key figure counts these days.
WAITING_STATES = [State.INTAKE, State.CLARIFICATION, State.READY, State.REFERRED, State.ON_HOLD]
HOLDABLE_STATES = [State.INTAKE, State.CLARIFICATION, State.READY]


class CloseReason(models.TextChoices):
    DONE = "done", _("Placement completed")
    MOVED_AWAY = "moved_away", _("Moved away")
    WITHDRAWN = "withdrawn", _("Family withdrew")
    AGED_OUT = "aged_out", _("Aged out")
    DUPLICATE = "duplicate", _("Duplicate record")
    OTHER = "other", _("Other")


class Gender(models.TextChoices):
    FEMALE = "f", _("female")
    MALE = "m", _("male")
    DIVERSE = "d", _("diverse")
    UNKNOWN = "x", _("not stated")


class GermanLevel(models.TextChoices):
    NONE = "none", _("none")
    A1 = "A1", "A1"
    A2 = "A2", "A2"
    B1 = "B1", "B1"
    B2 = "B2", _("B2 or better")


class ResidenceStatus(models.TextChoices):
    ASYLUM_SEEKER = "asylum_seeker", _("asylum seeker (Aufenthaltsgestattung)")
    TEMPORARY_PROTECTION = "temporary_protection", _("temporary protection (§ 24 AufenthG)")
    RECOGNISED = "recognised", _("recognised refugee / protection status")
    TOLERATED = "tolerated", _("toleration (Duldung)")
    EU_CITIZEN = "eu_citizen", _("EU citizen")
    OTHER_PERMIT = "other_permit", _("other residence permit")
    UNKNOWN = "unknown", _("unknown / not yet clarified")


class ArchiveStatus(models.TextChoices):
    NONE = "", _("not due")
    OFFERED = "offered", _("offered to the archive")
    DECLINED = "declined", _("archive declined")
    TAKEN = "taken", _("taken over by the archive")


# --- field lists, declared once ----------------------------------------------------------

# The case's data as the intake and edit form show it and ``case_update`` takes it.
EDITABLE_FIELDS = (
    "target_type", "wanted_group", "district", "waiting_since",
    "given_name", "family_name", "birth_date", "gender", "nationality", "languages",
    "interpreter_needed", "interpreter_language", "address", "arrival_germany",
    "arrival_city", "residence_status", "school_years", "last_grade",
    "literate_own_script", "german_level", "health_notes", "support_needed",
    "support_notes", "measles_proof", "school_health_check", "notes",
)  # fmt: skip
# The plain (not encrypted) columns of the case, in reading order: the right-of-access record
# and the (read-only) admin show these. The personal ones are ``encrypted_fields(Case)``.
PLAIN_FIELDS = (
    "reference", "state", "team", "coordinator", "target_type", "wanted_group", "district",
    "birth_year", "waiting_since", "placed_on", "closed_on", "close_reason", "created_at",
    "updated_at", "state_changed_at", "archive_status", "erased_at",
)  # fmt: skip
# The columns ``Case.refresh_blind_indexes`` sets (saved with every change of the names or
# the birth date).
DERIVED_FIELDS = (*KEY_COLUMNS, "birth_year", "identity_version")


# --- transition guards (django-fsm-2 ``permission=`` and ``conditions=``) -----------------


def refuses_with(message: Any) -> Any:
    """Attach the message a user reads when this transition condition is not met."""

    def attach(condition: Any) -> Any:
        condition.refusal = message
        return condition

    return attach


def may_work_case(instance: Case, user: Any) -> bool:
    """A coordinator of the owning team, or one the case was shared with."""
    if not is_coordinator(user):
        return False
    if instance.team_id is not None and instance.team_id == getattr(user, "team_id", None):
        return True
    return user.has_perm("cases.work_case", instance)


@refuses_with(
    _(
        "A case can only look for a place once target, birth date, district and wanted "
        "grade or age group are recorded."
    )
)
def has_placement_data(instance: Case) -> bool:
    return bool(
        instance.target_type
        and instance.birth_date
        and instance.district_id
        and instance.wanted_group
    )


@refuses_with(_("Withdraw the open referral first."))
def has_no_open_referral(instance: Case) -> bool:
    checker = getattr(instance, "has_open_referral", None)
    return not (checker() if callable(checker) else False)


@refuses_with(_("The personal data of this case has been erased; it cannot be reopened."))
def within_retention(instance: Case) -> bool:
    return instance.erased_at is None


class Family(models.Model):
    """Siblings share a family: one contact person, placed together where possible."""

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("family")
        verbose_name_plural = _("families")

    def __str__(self) -> str:
        return f"{_('Family')} {self.pk}"


class Case(ConcurrentTransitionMixin, models.Model):
    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    team = models.ForeignKey(
        "coordination.Team", verbose_name=_("team"), on_delete=models.PROTECT,
        related_name="cases",
    )  # fmt: skip
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("coordinator"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="assigned_cases",
    )  # fmt: skip
    family = models.ForeignKey(
        Family, verbose_name=_("family"), on_delete=models.PROTECT, related_name="children"
    )
    state = FSMField(
        _("state"), default=State.INTAKE, choices=State.choices, protected=True, db_index=True
    )
    held_from = models.CharField(max_length=20, blank=True, editable=False)

    # Plain, coarse fields for routing and statistics (no decryption needed).
    target_type = models.CharField(
        _("target"), max_length=12, choices=TargetType.choices, db_index=True
    )
    wanted_group = models.CharField(
        _("wanted grade or age group"), max_length=8, choices=Group.choices, blank=True
    )
    district = models.ForeignKey(
        "coordination.District", verbose_name=_("district"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="cases",
    )  # fmt: skip
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    waiting_since = models.DateField(
        _("without a place since"), help_text=_("Arrival in the city, or the intake date.")
    )
    placed_on = models.DateField(_("placed on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    close_reason = models.CharField(
        _("close reason"), max_length=20, choices=CloseReason.choices, blank=True
    )
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last change"), auto_now=True)
    state_changed_at = models.DateTimeField(_("state since"), default=timezone.now)
    archive_status = models.CharField(
        _("archive"), max_length=10, choices=ArchiveStatus.choices, blank=True
    )
    erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)
    # The version of the case's data as the edit form shows it: raised by every change of an
    # editable field, so a save over someone else's newer change is refused (lost update).
    # State changes that touch no editable field leave it alone: an edit and a transition
    # at the same time both survive (each saves only its own columns).
    version = models.PositiveIntegerField(_("data version"), default=1, editable=False)

    # Personal fields: encrypted (AES-256-GCM, see coordination/fields.py).
    given_name = EncryptedCharField(_("given name(s)"), max_length=100)
    family_name = EncryptedCharField(_("family name"), max_length=100)
    birth_date = EncryptedDateField(_("birth date"))
    gender = EncryptedCharField(_("gender"), max_length=1, choices=Gender.choices)
    nationality = EncryptedCharField(_("nationality"), max_length=60)
    languages = EncryptedJSONField(_("languages spoken"), default=list)
    interpreter_needed = EncryptedBooleanField(_("interpreter needed"))
    interpreter_language = EncryptedCharField(_("interpreter language"), max_length=60)
    address = EncryptedTextField(_("address"))
    arrival_germany = EncryptedDateField(_("arrival in Germany"))
    arrival_city = EncryptedDateField(_("arrival in the city"))
    residence_status = EncryptedCharField(
        _("residence status"), max_length=30, choices=ResidenceStatus.choices
    )
    school_years = EncryptedIntegerField(_("years of previous schooling"))
    last_grade = EncryptedCharField(_("last grade attended"), max_length=40)
    literate_own_script = EncryptedBooleanField(_("reads and writes own script"))
    german_level = EncryptedCharField(_("German level"), max_length=4, choices=GermanLevel.choices)
    health_notes = EncryptedTextField(_("health notes"))
    support_needed = EncryptedBooleanField(_("support needed"))
    support_notes = EncryptedTextField(_("special needs / support"))
    measles_proof = EncryptedBooleanField(_("measles immunisation proof"))
    school_health_check = EncryptedBooleanField(_("school-entry health check done"))
    notes = EncryptedTextField(_("notes"))

    # Blind indexes (HMAC-SHA-256 of normalised values) for exact search and duplicates; the
    # formulas are in cases/identity.py (``case_keys``), the one place for them.
    bidx_name = BlindIndexField()  # given + family name
    bidx_family = BlindIndexField()  # family name
    bidx_birth = BlindIndexField()  # birth date
    bidx_identity = BlindIndexField()  # given + family + birth date
    bidx_phonetic = BlindIndexField()  # Kölner Phonetik of given + family + birth date
    bidx_family_phonetic = BlindIndexField()  # Kölner Phonetik of family name (siblings)
    bidx_family_skeleton = BlindIndexField()  # folded family name (siblings)
    bidx_id_ordered = BlindIndexField()  # folded given | folded family | birth date
    bidx_id_sorted = BlindIndexField()  # folded names in either order | birth date
    bidx_id_swapped = BlindIndexField()  # the same with day and month swapped
    bidx_id_year = BlindIndexField()  # folded names in either order | birth year
    bidx_id_vague = BlindIndexField()  # the same, only for a placeholder date (01.01.)
    # The version of the key formulas the row's keys were made with (IDENTITY_VERSION);
    # ``manage.py refresh_identity_keys`` brings older rows up to date.
    identity_version = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at"]
        permissions = [("work_case", _("Can work this case"))]
        indexes = [
            models.Index(fields=["team", "state", "waiting_since"], name="case_team_state_wait"),
            models.Index(fields=["state", "waiting_since"], name="case_state_wait"),
            models.Index(fields=["coordinator", "state"], name="case_coord_state"),
            models.Index(fields=["team", "-created_at"], name="case_team_created"),
            models.Index(fields=["state", "state_changed_at"], name="case_state_changed"),
            models.Index(fields=["district", "target_type"], name="case_district_target"),
            models.Index(fields=["closed_on"], name="case_closed_on"),
            # The case list's age-band filter (birth year is the plain, coarse column).
            models.Index(fields=["birth_year"], name="case_birth_year"),
        ]

    def __str__(self) -> str:
        return self.reference

    # --- derived values --------------------------------------------------------------

    def refresh_blind_indexes(self) -> None:
        """Recompute every blind index from the current (decrypted) values."""
        keys = case_keys(self.given_name or "", self.family_name or "", self.birth_date)
        for column, key in keys.items():
            setattr(self, column, key)
        self.birth_year = self.birth_date.year if self.birth_date else None
        self.identity_version = IDENTITY_VERSION

    def has_open_referral(self) -> bool:
        """Something open above the case (a referral) that blocks closing or holding it."""
        return case_has_open_work(self)

    def days_without_place(self, today: dt.date | None = None) -> int | None:
        if self.state in (State.PLACED, State.CLOSED):
            return None
        today = today or timezone.localdate()
        return max((today - self.waiting_since).days, 0)

    @property
    def display_name(self) -> str:
        if self.erased_at:
            return str(_("(erased)"))
        return f"{self.given_name} {self.family_name}".strip()

    # --- transitions (called only from cases/services.py) -----------------------------

    @transition(
        field=state, source=State.INTAKE, target=State.CLARIFICATION, permission=may_work_case
    )
    def start_clarification(self) -> None:
        """Intake done: clarify age, schooling, German level, health check."""

    @transition(
        field=state,
        source=State.CLARIFICATION,
        target=State.READY,
        permission=may_work_case,
        conditions=[has_placement_data],
    )
    def mark_ready(self) -> None:
        """Clarified: target, birth date, district and wanted group are known."""

    @transition(
        field=state, source=State.READY, target=State.CLARIFICATION, permission=may_work_case
    )
    def back_to_clarification(self) -> None:
        """Something must be clarified again before a place can be proposed."""

    @transition(field=state, source=State.READY, target=State.REFERRED)
    def refer(self) -> None:
        """A referral to an institution was made (driven by the referrals app)."""

    @transition(field=state, source=State.REFERRED, target=State.READY)
    def referral_ended(self) -> None:
        """The referral was declined, expired, withdrawn or a no-show: search again."""

    @transition(field=state, source=State.REFERRED, target=State.PLACED)
    def place(self, on: dt.date | None = None) -> None:
        """The institution confirmed the first day attended (``on``; today if not given)."""
        self.placed_on = on or timezone.localdate()

    @transition(
        field=state,
        source=HOLDABLE_STATES,
        target=State.ON_HOLD,
        permission=may_work_case,
        conditions=[has_no_open_referral],
    )
    def hold(self) -> None:
        self.held_from = self.state

    @transition(
        field=state,
        source=State.ON_HOLD,
        target=RETURN_VALUE(*HOLDABLE_STATES),
        permission=may_work_case,
    )
    def resume(self) -> str:
        back = self.held_from or State.CLARIFICATION
        self.held_from = ""
        return back

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.CLOSED,
        permission=may_work_case,
        conditions=[has_no_open_referral],
    )
    def close(self, reason: str = CloseReason.OTHER) -> None:
        """Closed for a coded reason (``CloseReason``), today."""
        self.close_reason = reason
        self.closed_on = timezone.localdate()

    @transition(
        field=state,
        source=State.CLOSED,
        target=State.CLARIFICATION,
        permission=may_work_case,
        conditions=[within_retention],
    )
    def reopen(self) -> None:
        self.close_reason = ""
        self.closed_on = None
        self.archive_status = ArchiveStatus.NONE
        if self.placed_on is None:
            return
        # A reopened case looks for a place again from today.
        self.placed_on = None
        self.waiting_since = timezone.localdate()


# The columns each transition sets besides ``state`` (the methods above): the services save
# these, ``state`` and ``state_changed_at``, and nothing else of the row.
FIELDS_SET_BY: dict[str, tuple[str, ...]] = {
    "start_clarification": (),
    "mark_ready": (),
    "back_to_clarification": (),
    "refer": (),
    "referral_ended": (),
    "place": ("placed_on",),
    "hold": ("held_from",),
    "resume": ("held_from",),
    "close": ("close_reason", "closed_on"),
    "reopen": ("close_reason", "closed_on", "archive_status", "placed_on", "waiting_since"),
}


def transition_refusal(case: Case, transition: str) -> Any:
    """Why ``transition`` cannot be taken: the message of its first unmet condition (in any
    of its source states), else that the state does not allow it."""
    meta = getattr(getattr(Case, transition, None), "_django_fsm", None)
    seen: list[Any] = []
    for step in meta.transitions.values() if meta is not None else ():
        seen += [c for c in step.conditions if c not in seen]
    for condition in seen:
        if not condition(case):
            return getattr(condition, "refusal", NOT_NOW)
    return NOT_NOW


NOT_NOW = _("This step is not possible in the current state.")


class Guardian(models.Model):
    """A family contact (parent or guardian); shared by all siblings of the family."""

    class Relation(models.TextChoices):
        MOTHER = "mother", _("mother")
        FATHER = "father", _("father")
        GUARDIAN = "guardian", _("legal guardian")
        RELATIVE = "relative", _("relative")
        OTHER = "other", _("other")

    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="guardians")
    relation = models.CharField(_("relation"), max_length=10, choices=Relation.choices)
    name = EncryptedCharField(_("name"), max_length=120)
    phone = EncryptedCharField(_("phone"), max_length=40)
    email = EncryptedCharField(_("e-mail"), max_length=254)
    preferred_language = EncryptedCharField(_("preferred language"), max_length=60)
    is_contact_person = models.BooleanField(_("main contact"), default=False)

    class Meta:
        verbose_name = _("family contact")
        verbose_name_plural = _("family contacts")
        ordering = ["-is_contact_person", "id"]

    def __str__(self) -> str:
        return str(self.get_relation_display())


class CaseEvent(models.Model):
    """One line of a case's history: transitions and other changes (who, when, from, to, why)."""

    class Kind(models.TextChoices):
        CREATED = "created", _("registered")
        TRANSITION = "transition", _("state changed")
        EDITED = "edited", _("data changed")
        ASSIGNED = "assigned", _("assigned")
        TRANSFERRED = "transferred", _("transferred to another team")
        SHARED = "shared", _("shared")
        UNSHARED = "unshared", _("sharing ended")
        SIBLING = "sibling", _("sibling linked")
        REFERRAL = "referral", _("referral")
        OFFER = "offer", _("education offer")
        REMINDER = "reminder", _("reminder")
        ERASED = "erased", _("personal data erased")
        MERGED = "merged", _("duplicate merged")
        FOLLOWUP = "followup", _("follow-up")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    transition = models.CharField(_("transition"), max_length=40, blank=True)
    from_state = models.CharField(_("from"), max_length=20, blank=True, choices=State.choices)
    to_state = models.CharField(_("to"), max_length=20, blank=True, choices=State.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    comment = EncryptedTextField(_("comment"))
    fields = models.JSONField(_("fields changed"), default=list, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case history")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="caseevent_case_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.from_state}->{self.to_state}"


class CaseUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key table for guardian: a case shared with a coordinator."""

    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class CaseReferenceCounter(models.Model):
    """One row per year; incremented under lock so references are never reused."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(last__gte=0), name="refcounter_nonneg")]

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


# --- the working day: follow-ups, the case journal, work-queue items marked seen ------------
# (issue 17; see docs/working-day.md)


class FollowUp(models.Model):
    """A follow-up (Wiedervorlage): look at the case again on a date, for a person or a team.

    Written only by ``followup_*`` services. A postponed follow-up stays as it was (state
    "postponed") and points at the new one that replaces it, so the history shows each date.
    """

    class State(models.TextChoices):
        OPEN = "open", _("open")
        DONE = "done", _("done")
        POSTPONED = "postponed", _("postponed")
        CANCELLED = "cancelled", _("cancelled")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="followups")
    due_on = models.DateField(_("due on"))
    reason = EncryptedCharField(_("reason"), max_length=200)
    for_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("for"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="followups",
    )  # fmt: skip
    for_team = models.ForeignKey(
        "coordination.Team", verbose_name=_("for the team"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="followups",
    )  # fmt: skip
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("set by"), null=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("set at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("closed by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    replaced_by = models.OneToOneField(
        "self", verbose_name=_("postponed to"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="replaces",
    )  # fmt: skip

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["state", "due_on"], name="followup_state_due"),
            models.Index(fields=["case", "state"], name="followup_case_state"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(for_user__isnull=False) | Q(for_team__isnull=False) | ~Q(state="open"),
                name="followup_open_has_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.due_on} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class JournalEntry(models.Model):
    """One contact recorded on a case (a call, a meeting, a letter ...). Append-only: a
    mistake is corrected by a further entry, so the journal never changes behind a reader."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("phone call")
        MEETING = "meeting", _("meeting")
        HOME_VISIT = "home_visit", _("home visit")
        LETTER = "letter", _("letter")
        EMAIL = "email", _("e-mail")
        INTERPRETED = "interpreted", _("conversation with an interpreter")

    class WithWhom(models.TextChoices):
        FAMILY = "family", _("family")
        SCHOOL = "school", _("school")
        KITA = "kita", _("Kita")
        YOUTH_OFFICE = "youth_office", _("youth office")
        OTHER = "other", _("other")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="journal")
    at = models.DateTimeField(_("date and time"), db_index=True)
    kind = models.CharField(_("kind of contact"), max_length=12, choices=Kind.choices)
    with_whom = models.CharField(_("with whom"), max_length=12, choices=WithWhom.choices)
    interpreter = models.BooleanField(_("an interpreter took part"), default=False)
    interpreter_language = EncryptedCharField(_("interpreter language"), max_length=60)
    text = EncryptedTextField(_("notes"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("case journal")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["case", "at"], name="journal_case_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.at:%Y-%m-%d}"


class WorkItemSeen(models.Model):
    """A coordinator marked a work-queue item of a case as seen (it leaves their queue).

    ``key`` names the item (e.g. ``followup:12``, ``answer:7:accepted``); the key ``looked``
    records when the coordinator last opened the case page ("new since I last looked").
    """

    LOOKED = "looked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=60)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "case", "key"], name="workitem_seen_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.case_id} {self.key}"
