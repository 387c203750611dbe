"""Administration of institutions, their places and staff; referrals are read-only here.

The referral admin never shows encrypted fields (the coordinator's message, the answer
comment) nor loads the case: administrators must not read personal data unlogged.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from coordination.audit import audit_log
from coordination.roles import INSTITUTION_STAFF
from referrals.models import (
    ClosingPeriod,
    Institution,
    InstitutionUserObjectPermission,
    Places,
    Referral,
    ReminderLog,
)


def _staff_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="referrals", codename="staff_institution")


class PlacesInline(admin.TabularInline):
    model = Places
    extra = 0
    fields = ("group", "free", "reserved", "updated_at", "updated_by")
    readonly_fields = ("reserved", "updated_at", "updated_by")


class StaffAssignmentForm(forms.ModelForm):
    """Give a user the guardian permission ``referrals.staff_institution`` on the institution."""

    class Meta:
        model = InstitutionUserObjectPermission
        fields = ("user",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.permission_id:
            self.instance.permission = _staff_permission()
        from coordination.models import User

        self.fields["user"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            groups__name=INSTITUTION_STAFF, is_active=True
        ).order_by("username")
        self.fields["user"].help_text = _("Only users with the role “School or Kita staff”.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user = data.get("user")
        institution = self.instance.content_object_id if self.instance.pk else None
        institution = institution or getattr(self, "_institution_id", None)
        if user is not None and institution is not None:
            taken = InstitutionUserObjectPermission.objects.filter(
                user=user, content_object_id=institution, permission=self.instance.permission
            ).exclude(pk=self.instance.pk)
            if taken.exists():
                raise forms.ValidationError(_("This user already works for this institution."))
        return data


class StaffInline(admin.TabularInline):
    model = InstitutionUserObjectPermission
    form = StaffAssignmentForm
    fk_name = "content_object"
    extra = 1
    verbose_name = _("staff member")
    verbose_name_plural = _("staff (may answer referrals and update free places)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstitutionUserObjectPermission]:
        return (
            super()
            .get_queryset(request)
            .filter(permission__codename="staff_institution")
            .select_related("user")
        )

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        institution_id = obj.pk if obj is not None else None

        class Form(formset.form):  # type: ignore[name-defined,misc]
            _institution_id = institution_id

        formset.form = Form
        return formset


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "district", "email", "has_intensive_course", "is_active")
    list_filter = ("kind", "district", "is_active", "has_intensive_course", "has_bvj")
    search_fields = ("name", "email")
    inlines = (PlacesInline, StaffInline)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is InstitutionUserObjectPermission and (
            formset.new_objects or formset.deleted_objects
        ):
            audit_log(
                actor=request.user,
                action="institution.staff_change",
                obj=form.instance,
                detail={
                    "added": [o.user.username for o in formset.new_objects],
                    "removed": [o.user.username for o in formset.deleted_objects],
                },
            )


class ReminderInline(admin.TabularInline):
    model = ReminderLog
    extra = 0
    can_delete = False
    fields = ("level", "outcome", "created_at", "sent_at", "attempts", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    """Read-only: referrals change only through their services (and are audited there)."""

    list_display = ("pk", "case_reference", "institution", "group", "state", "created_at")
    list_filter = ("state", "institution__kind", "waitlist")
    search_fields = ("case__reference",)
    date_hierarchy = "created_at"
    fields = (
        "case_reference", "institution", "group", "state", "waitlist", "created_at",
        "created_by", "answered_at", "answered_by", "decline_reason", "start_date",
        "enrolled_on", "closed_at", "place_reserved",
    )  # fmt: skip
    readonly_fields = fields
    inlines = (ReminderInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Referral]:
        # The case is not joined: its encrypted fields would be decrypted for nothing.
        return (
            super()
            .get_queryset(request)
            .select_related("institution", "created_by", "answered_by")
            .defer("message", "answer_comment")
            .annotate(case_reference=F("case__reference"))
        )

    @admin.display(description=_("case"), ordering="case__reference")
    def case_reference(self, obj: Referral) -> str:
        return getattr(obj, "case_reference", "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ClosingPeriod)
class ClosingPeriodAdmin(admin.ModelAdmin):
    """School holidays and closing days: reminder deadlines stand still on these days
    (docs/reminders.md). Add next school year's holidays here, or with
    ``manage.py import_school_holidays``."""

    list_display = ("name", "start", "end", "applies_to", "institution")
    list_filter = ("applies_to",)
    search_fields = ("name", "institution__name")
    date_hierarchy = "start"
    autocomplete_fields = ("institution",)
