"""What every app shares: users, teams, the audit log and the office's settings."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    """A coordination team; it owns its cases."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    lead = models.ForeignKey(
        "coordination.User",
        verbose_name=_("team lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    mailbox = models.EmailField(_("shared mailbox"), blank=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    language = models.CharField(
        _("language"),
        max_length=5,
        choices=[("de", _("German")), ("en", _("English"))],
        default="de",
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")  # type: ignore[assignment]
        verbose_name_plural = _("users")  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class AuditEntryQuerySet(models.QuerySet):
    """Refuses bulk changes: the log has no update or delete path in the app.

    The one exception, pruning entries past the log's own retention period, goes through
    ``coordination.audit.audit_prune`` (which records the prune as an entry of its own and
    calls the database function ``ankommen_audit_prune``).
    """

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("Audit entries are append-only.")

    def delete(self):  # type: ignore[no-untyped-def]
        raise PermissionError("Audit entries are append-only.")


class AuditEntry(models.Model):
    """One append-only row of the access and change log (see coordination/audit.py)."""

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, verbose_name=_("user"), null=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+",
    )  # fmt: skip
    actor_name = models.CharField(_("user name"), max_length=150, blank=True)
    roles = models.CharField(_("roles"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=60, db_index=True)
    object_type = models.CharField(_("object type"), max_length=60, blank=True)
    object_id = models.CharField(_("object id"), max_length=60, blank=True)
    case_reference = models.CharField(_("case reference"), max_length=30, blank=True, db_index=True)
    fields = models.JSONField(_("fields"), default=list, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    # Id of the AUDIT_KEY entry whose HMAC is ``hash``; empty for entries written before the
    # chain was keyed (plain SHA-256, verified as an "unkeyed prefix", docs/audit-log.md).
    key_id = models.CharField(max_length=16, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            # The Art. 15 report: what was logged about one case or one of its referrals.
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            # The audit search by user name (case-insensitive), newest first (migration 0010).
            models.Index(Upper("actor_name"), "at", name="audit_actor_name_upper_at"),
            # ... and by client address.
            models.Index(fields=["ip", "at"], name="audit_ip_at"),
        ]
        # On PostgreSQL also a GIN index on detail -> 'references' (the cases a list page
        # showed), made by migration 0004 outside the model state: SQLite has no GIN.

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.case_reference}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("Audit entries are append-only.")


def default_otp_required_roles() -> list[str]:
    """Who must use a second factor in a new installation: the administrators."""
    return ["administrator"]


class OfficeSettings(models.Model):
    """The office's tunable rules; one row, edited by an administrator in the admin."""

    reminder_1_days = models.PositiveSmallIntegerField(
        _("first reminder after (working days)"), default=5, validators=[MinValueValidator(1)]
    )
    reminder_2_days = models.PositiveSmallIntegerField(
        _("second reminder and coordinator notice after (working days)"), default=10
    )
    escalation_days = models.PositiveSmallIntegerField(
        _("escalation to team lead after (working days)"), default=15
    )
    expiry_days = models.PositiveSmallIntegerField(
        _("referral expires after (working days)"), default=20
    )
    enrolment_reminder_days = models.PositiveSmallIntegerField(
        _("accepted but not enrolled: reminder after start date (working days)"), default=3
    )
    enrolment_notice_days = models.PositiveSmallIntegerField(
        _("accepted but not enrolled: coordinator notice after start date (working days)"),
        default=8,
    )
    waiting_limit_days = models.PositiveSmallIntegerField(
        _("legal limit without a place (days after arrival)"), default=90
    )
    waiting_target_days = models.PositiveSmallIntegerField(
        _("service target without a place (days)"), default=42
    )
    stuck_target_days = models.PositiveSmallIntegerField(
        _("a case is stuck after this many days in one state"), default=21
    )
    places_stale_days = models.PositiveSmallIntegerField(
        _("free-place figures are stale after (days)"), default=14
    )
    closed_referral_visible_days = models.PositiveSmallIntegerField(
        _("institutions see the child's details of an unsuccessful referral for (days)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_(
            "After a referral was withdrawn, declined, expired or the child did not start, "
            "the school or Kita sees only its reference, outcome and dates once this period "
            "has passed."
        ),
    )
    retention_months = models.PositiveSmallIntegerField(
        _("keep closed cases for (months)"), default=24, validators=[MinValueValidator(1)]
    )
    audit_retention_months = models.PositiveSmallIntegerField(
        _("keep the audit log for (months)"), default=36, validators=[MinValueValidator(12)]
    )
    suppression_threshold = models.PositiveSmallIntegerField(
        _("suppress counts below"),
        default=3,
        validators=[MinValueValidator(3), MaxValueValidator(50)],
    )
    sensitive_suppression_threshold = models.PositiveSmallIntegerField(
        _("suppress counts below (origin, language, residence status)"),
        default=5,
        validators=[MinValueValidator(3), MaxValueValidator(50)],
    )
    # Administrators by default (docs/second-factor.md); an office may untick it, which is
    # discouraged: an administrator's password alone would then open every case.
    otp_required_roles = models.JSONField(
        _("roles that must use a second factor"), default=default_otp_required_roles, blank=True
    )
    dpo_email = models.EmailField(
        _("data-protection officer's e-mail"),
        blank=True,
        help_text=_(
            "Receives the audit log's head (entry number and check value) every night, so that "
            "a later change to the log can be proven. No personal data is sent."
        ),
    )

    class Meta:
        verbose_name = _("office settings")
        verbose_name_plural = _("office settings")

    def __str__(self) -> str:
        return str(_("Office settings"))

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.pk = 1
        super().save(*args, **kwargs)
        from django.core.cache import cache

        cache.delete("office-settings")

    def clean(self) -> None:
        """The reminder levels must come one after the other (see referrals/reminders.py)."""
        import itertools

        from django.core.exceptions import ValidationError

        steps = ["reminder_1_days", "reminder_2_days", "escalation_days", "expiry_days"]
        errors = {
            later: _("Must be more than the step before it.")
            for earlier, later in itertools.pairwise(steps)
            if getattr(self, later) <= getattr(self, earlier)
        }
        if self.enrolment_notice_days <= self.enrolment_reminder_days:
            errors["enrolment_notice_days"] = _("Must be more than the enrolment reminder.")
        if self.waiting_target_days > self.waiting_limit_days:
            errors["waiting_target_days"] = _("Must not be more than the legal limit.")
        if errors:
            raise ValidationError(errors)

    @classmethod
    def current(cls) -> OfficeSettings:
        """The single settings row (created with defaults on first use), cached briefly."""
        from django.core.cache import cache

        obj = cache.get("office-settings")
        if obj is None:
            obj, _created = cls.objects.get_or_create(pk=1)
            cache.set("office-settings", obj, 60)
        return obj


class District(models.Model):
    """A city district (Stadtteil); cases and institutions are routed by it."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    neighbours = models.ManyToManyField(
        "self", verbose_name=_("neighbouring districts"), blank=True, symmetrical=True
    )

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OutboxMessage(models.Model):
    """One outgoing e-mail to one address, written in the transaction of the change that
    causes it and sent by the worker (``coordination/outbox.py``, ``docs/outbox.md``)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    to = models.CharField(_("recipient"), max_length=254)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("text"))
    # Generated once at creation: a resend after a crash carries the same Message-ID, so the
    # recipient's mail program shows (or drops) it as the same message.
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # When the flush last gave the row to the broker (the hand-over on commit is not
    # recorded); it hands a due row over again only when this is missing or old.
    handed_over_at = models.DateTimeField(_("handed to the worker at"), null=True, blank=True)
    sending_since = models.DateTimeField(_("sending since"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    case_reference = models.CharField(_("case reference"), max_length=30, blank=True)
    object_type = models.CharField(_("object type"), max_length=60, blank=True)
    object_id = models.CharField(_("object id"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The flush: queued rows that are due, and sending rows left behind by a crash.
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due"),
            # The case page's list of e-mails.
            models.Index(fields=["case_reference", "created_at"], name="outbox_case"),
            models.Index(fields=["object_type", "object_id"], name="outbox_object"),
            # The administration's list (newest first) and the nightly pruning (oldest first).
            models.Index(fields=["created_at", "id"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.state}"


class EnrolmentCode(models.Model):
    """A one-time code an administrator issues so that a user whose role requires a second
    factor can set up their first device; only a hash of the code is stored."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="enrolment_codes"
    )
    code_hash = models.CharField(_("code (hash)"), max_length=128)
    issued_by = models.ForeignKey(
        User,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)

    class Meta:
        verbose_name = _("enrolment code")
        verbose_name_plural = _("enrolment codes")

    def __str__(self) -> str:
        return str(_("Enrolment code"))


class Heartbeat(models.Model):
    """When a background job last ran to its end (``coordination/heartbeat.py``): the worker,
    the reminder sweep, the figures computation. One row per job, overwritten each time."""

    name = models.CharField(_("job"), max_length=40, primary_key=True)
    at = models.DateTimeField(_("last run"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M}"
