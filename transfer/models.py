"""An import in progress or done (``ImportBatch``), what each of its rows became
(``ImportedRow``), and the column mapping an office chose last time (``ImportMapping``).

The uploaded file is kept only encrypted (``content``, AES-256-GCM under the field keys, the
column as associated data) and only until the import is done, discarded or a day old
(``transfer.tasks.sweep_imports``). The batch row itself stays: it is the record of what was
imported, and its rows' keys make a second import of the same rows import nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from coordination.fields import EncryptedCharField, EncryptedJSONField


class ImportKind(models.TextChoices):
    CASES = "cases", _("cases")
    INSTITUTIONS = "institutions", _("institutions, free places and districts")


class ImportBatch(models.Model):
    class State(models.TextChoices):
        UPLOADED = "uploaded", _("uploaded: choose the columns")
        CHECKING = "checking", _("being checked")
        CHECKED = "checked", _("checked: waiting for your confirmation")
        IMPORTING = "importing", _("being imported")
        DONE = "done", _("imported")
        FAILED = "failed", _("failed")
        DISCARDED = "discarded", _("discarded")

    kind = models.CharField(_("kind"), max_length=12, choices=ImportKind.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.UPLOADED, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    team = models.ForeignKey(
        "coordination.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    # A file name can name a child ("Anmeldung Amina H.xlsx"): encrypted like a personal field.
    file_name = EncryptedCharField(_("file name"), max_length=255)
    # HMAC (blind-index key) of the file's bytes: "this exact file was imported before".
    file_key = models.CharField(max_length=64, db_index=True)
    content = models.BinaryField(null=True, editable=False)
    headers: Any = EncryptedJSONField(_("column headers"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    report: Any = EncryptedJSONField(_("check report"), default=dict)
    decisions = models.JSONField(_("decisions on likely duplicates"), default=dict, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    updated_at = models.DateTimeField(_("last change"), auto_now=True)
    expires_at = models.DateTimeField(_("file deleted at the latest"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "updated_at"], name="import_state_updated")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class ImportedRow(models.Model):
    """What one row of an import became. ``row_key`` (HMAC of the row's mapped values) is
    unique among rows that created or were attached to a case: the same row in any later
    file is recognised and imported nothing twice."""

    class Outcome(models.TextChoices):
        CREATED = "created", _("created")
        ATTACHED = "attached", _("attached to an existing case")
        UPDATED = "updated", _("updated")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(_("line"))
    row_key = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_id = models.CharField(_("object"), max_length=60, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("imported row")
        verbose_name_plural = _("imported rows")
        ordering = ["batch", "line"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "line"], name="imported_row_once"),
            models.UniqueConstraint(
                fields=["row_key"],
                condition=Q(outcome__in=["created", "attached"]),
                name="imported_row_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line} {self.outcome}"


class ImportMapping(models.Model):
    """The columns a team (or, for institutions, the office) mapped last time, by header."""

    kind = models.CharField(_("kind"), max_length=12, choices=ImportKind.choices)
    team = models.ForeignKey(
        "coordination.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    mapping = models.JSONField(default=dict)  # {normalised header: field}
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("saved column mapping")
        verbose_name_plural = _("saved column mappings")

    def __str__(self) -> str:
        return f"{self.kind} {self.team_id}"
