"""Education offers beyond the school place: providers, the offers catalogue, and the
registrations of a case for an offer.

Writes go through ``offers/services.py``; reads that depend on the user go through
``offers/selectors.py``. A registration never counts as the school or Kita placement and
never blocks the case (docs/adr/0010-offers-app.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from guardian.models import UserObjectPermissionBase

from cases.models import Case
from coordination.fields import EncryptedTextField
from coordination.roles import is_coordinator, is_institution_staff


class ProviderKind(models.TextChoices):
    INSTITUTION = "institution", _("institution")
    ASSOCIATION = "association", _("association")


class Provider(models.Model):
    """Who runs offers: a school, the youth migration service, a sports club, an association."""

    name = models.CharField(_("name"), max_length=160, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ProviderKind.choices)
    email = models.EmailField(_("contact e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    district = models.ForeignKey(
        "coordination.District", verbose_name=_("district"), on_delete=models.PROTECT,
        related_name="offer_providers",
    )  # fmt: skip
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("offer provider")
        verbose_name_plural = _("offer providers")
        ordering = ["name"]
        permissions = [("staff_provider", _("Works for this offer provider"))]

    def __str__(self) -> str:
        return self.name


class ProviderUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key table for guardian: staff who keep a provider's offers."""

    content_object = models.ForeignKey(Provider, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class OfferKind(models.TextChoices):
    GERMAN_COURSE = "german", _("German course")
    HOMEWORK_HELP = "homework", _("homework help")
    HOLIDAY = "holiday", _("holiday programme")
    VOCATIONAL_ORIENTATION = "vocational", _("vocational orientation")
    COUNSELLING = "counselling", _("counselling")
    LEISURE = "leisure", _("leisure and sport")
    PARENTS_COURSE = "parents", _("parents' course")
    OTHER = "other", _("other offer")


class RegistrationWay(models.TextChoices):
    COORDINATOR = "coordinator", _("through the coordination office")
    DIRECT = "direct", _("directly with the provider")
    OPEN = "open", _("no registration: just come")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Offer(models.Model):
    """One offer of the catalogue. Nothing here is personal: the public page shows it."""

    provider = models.ForeignKey(
        Provider, verbose_name=_("provider"), on_delete=models.PROTECT, related_name="offers"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=OfferKind.choices, db_index=True)
    title = models.CharField(_("title"), max_length=160)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    languages = models.JSONField(_("languages spoken"), default=list, blank=True)
    min_age = models.PositiveSmallIntegerField(
        _("from age"), null=True, blank=True, validators=[MaxValueValidator(99)]
    )
    max_age = models.PositiveSmallIntegerField(
        _("up to age"), null=True, blank=True, validators=[MaxValueValidator(99)]
    )
    grades = models.CharField(_("grades"), max_length=60, blank=True)
    district = models.ForeignKey(
        "coordination.District", verbose_name=_("district"), on_delete=models.PROTECT,
        related_name="offers",
    )  # fmt: skip
    address = models.CharField(_("address"), max_length=200, blank=True)
    accessible = models.BooleanField(_("accessible without steps"), default=False)
    starts_on = models.DateField(_("first day"), null=True, blank=True)
    ends_on = models.DateField(_("last day"), null=True, blank=True)
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True)
    time_from = models.TimeField(_("from"), null=True, blank=True)
    time_to = models.TimeField(_("until"), null=True, blank=True)
    schedule_note = models.CharField(_("schedule note"), max_length=200, blank=True)
    is_free = models.BooleanField(_("free of charge"), default=True)
    fee = models.DecimalField(
        _("fee in euros"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    but_eligible = models.BooleanField(_("fee covered by Bildung und Teilhabe"), default=False)
    free_places = models.PositiveIntegerField(
        _("free places"), null=True, blank=True, help_text=_("Empty: no limit or not known.")
    )
    places_updated_at = models.DateTimeField(_("free places updated"), null=True, blank=True)
    registration_way = models.CharField(
        _("registration"), max_length=12, choices=RegistrationWay.choices,
        default=RegistrationWay.COORDINATOR,
    )  # fmt: skip
    registration_note = models.CharField(_("how to register"), max_length=300, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=40, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last change"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("education offer")
        verbose_name_plural = _("education offers")
        ordering = ["title", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_age__isnull=True)
                | Q(max_age__isnull=True)
                | Q(min_age__lte=models.F("max_age")),
                name="offer_age_range",
            ),
        ]
        indexes = [
            models.Index(fields=["is_active", "kind", "district"], name="offer_active_kind"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def email(self) -> str:
        """Where to write about the offer: its own contact, else the provider's."""
        return self.contact_email or self.provider.email

    @property
    def phone(self) -> str:
        return self.contact_phone or self.provider.phone

    def weekday_labels(self) -> list[str]:
        labels = dict(Weekday.choices)
        return [str(labels[d]) for d in sorted(self.weekdays or []) if d in labels]

    def fits_age(self, age: int | None) -> bool:
        if age is None:
            return False
        return (self.min_age is None or age >= self.min_age) and (
            self.max_age is None or age <= self.max_age
        )


class RegistrationState(models.TextChoices):
    REQUESTED = "requested", _("requested")
    CONFIRMED = "confirmed", _("confirmed")
    DECLINED = "declined", _("declined")
    WITHDRAWN = "withdrawn", _("withdrawn")
    STARTED = "started", _("attending")
    ENDED = "ended", _("ended")
    DROPPED_OUT = "dropped_out", _("dropped out")


OPEN_REGISTRATION_STATES = [
    RegistrationState.REQUESTED,
    RegistrationState.CONFIRMED,
    RegistrationState.STARTED,
]


class RegistrationDeclineReason(models.TextChoices):
    FULL = "offer_full", _("no free place")
    AGE = "offer_age", _("age does not fit")
    LANGUAGE = "offer_language", _("language support not possible")
    SCHEDULE = "offer_schedule", _("dates do not fit")
    OTHER = "offer_other", _("other reason")


def provider_has_login(provider: Provider) -> bool:
    """Whether anyone holds the staff permission for the provider (else the coordinator
    records its answers)."""
    return ProviderUserObjectPermission.objects.filter(
        content_object=provider, permission__codename="staff_provider"
    ).exists()


def is_provider_staff(user: Any, provider: Provider) -> bool:
    return is_institution_staff(user) and user.has_perm("offers.staff_provider", provider)


def may_manage(instance: OfferRegistration, user: Any) -> bool:
    """The coordinator(s) who may work the registration's case."""
    from cases.models import may_work_case

    return is_coordinator(user) and may_work_case(instance.case, user)


def may_answer(instance: OfferRegistration, user: Any) -> bool:
    """The provider's staff; the case's coordinator when the provider has no login."""
    provider = instance.offer.provider
    if is_provider_staff(user, provider):
        return True
    return may_manage(instance, user) and not provider_has_login(provider)


class OfferRegistration(ConcurrentTransitionMixin, models.Model):
    """A case registered for an offer. Never the placement, never blocking the case."""

    offer = models.ForeignKey(
        Offer, verbose_name=_("offer"), on_delete=models.PROTECT, related_name="registrations"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="offer_registrations")
    state = FSMField(
        _("state"), default=RegistrationState.REQUESTED, choices=RegistrationState.choices,
        protected=True, db_index=True,
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)
    message = EncryptedTextField(_("message to the provider"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    answer_recorded_by_coordinator = models.BooleanField(
        _("answer recorded by the coordinator"), default=False
    )
    decline_reason = models.CharField(
        _("decline reason"), max_length=16, choices=RegistrationDeclineReason.choices, blank=True
    )
    answer_comment = EncryptedTextField(_("comment"))
    place_taken = models.BooleanField(default=False, editable=False)
    started_on = models.DateField(_("first day attended"), null=True, blank=True)
    ended_on = models.DateField(_("last day attended"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("offer registration")
        verbose_name_plural = _("offer registrations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "offer"],
                condition=Q(state__in=["requested", "confirmed", "started"]),
                name="one_open_registration_per_offer",
            )
        ]
        indexes = [
            models.Index(fields=["offer", "state", "created_at"], name="offerreg_offer_state"),
            models.Index(fields=["state", "created_at"], name="offerreg_state_created"),
        ]

    def __str__(self) -> str:
        return f"{self.case} → {self.offer} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REGISTRATION_STATES

    # --- transitions (called only from offers/services.py) -----------------------------

    @transition(
        field=state, source=RegistrationState.REQUESTED, target=RegistrationState.CONFIRMED,
        permission=may_answer,
    )  # fmt: skip
    def confirm(self) -> None:
        self.answered_at = timezone.now()

    @transition(
        field=state, source=RegistrationState.REQUESTED, target=RegistrationState.DECLINED,
        permission=may_answer,
    )  # fmt: skip
    def decline(self) -> None:
        self.answered_at = self.closed_at = timezone.now()

    @transition(
        field=state,
        source=[RegistrationState.REQUESTED, RegistrationState.CONFIRMED],
        target=RegistrationState.WITHDRAWN,
        permission=may_manage,
    )  # fmt: skip
    def withdraw(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state, source=RegistrationState.CONFIRMED, target=RegistrationState.STARTED,
        permission=may_answer,
    )  # fmt: skip
    def start(self) -> None:
        """The child attended for the first time."""

    @transition(
        field=state, source=RegistrationState.STARTED, target=RegistrationState.ENDED,
        permission=may_answer,
    )  # fmt: skip
    def end(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state, source=RegistrationState.STARTED, target=RegistrationState.DROPPED_OUT,
        permission=may_answer,
    )  # fmt: skip
    def drop_out(self) -> None:
        self.closed_at = timezone.now()
