from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from coordination.models import AuditEntry, District, OfficeSettings, Team, User


@admin.register(User)
class AnkommenUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Ankommen", {"fields": ("team", "phone", "language")}))  # type: ignore[operator]
    list_display = ("username", "first_name", "last_name", "team", "is_active")
    list_filter = ("groups", "team", "is_active")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "lead", "mailbox")


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    search_fields = ("name",)
    filter_horizontal = ("neighbours",)


@admin.register(OfficeSettings)
class OfficeSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return not OfficeSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "case_reference", "object_type", "ip")
    list_filter = ("action",)
    search_fields = ("actor_name", "case_reference")
    date_hierarchy = "at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
