"""Administration of offer providers and their staff; the catalogue itself is kept on the
offers pages (coordinators, provider staff), so the admin lists offers read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from coordination.audit import audit_log
from coordination.roles import INSTITUTION_STAFF
from offers.models import Offer, Provider, ProviderUserObjectPermission


def _staff_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="offers", codename="staff_provider")


class ProviderStaffForm(forms.ModelForm):
    """Give a user the guardian permission ``offers.staff_provider`` on the provider."""

    class Meta:
        model = ProviderUserObjectPermission
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


class ProviderStaffInline(admin.TabularInline):
    model = ProviderUserObjectPermission
    form = ProviderStaffForm
    fk_name = "content_object"
    extra = 1
    verbose_name = _("staff member")
    verbose_name_plural = _("staff (may answer registrations and keep the provider's offers)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProviderUserObjectPermission]:
        return (
            super()
            .get_queryset(request)
            .filter(permission__codename="staff_provider")
            .select_related("user")
        )


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "district", "email", "is_active")
    list_filter = ("kind", "district", "is_active")
    search_fields = ("name", "email")
    inlines = (ProviderStaffInline,)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is ProviderUserObjectPermission and (
            formset.new_objects or formset.deleted_objects
        ):
            audit_log(
                actor=request.user,
                action="provider.staff_change",
                obj=form.instance,
                detail={
                    "added": [o.user.username for o in formset.new_objects],
                    "removed": [o.user.username for o in formset.deleted_objects],
                },
            )


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Read-only: offers are kept on the offers pages, through ``offers.services``."""

    list_display = ("title", "kind", "provider", "district", "free_places", "is_active")
    list_filter = ("kind", "district", "is_active")
    search_fields = ("title", "provider__name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
