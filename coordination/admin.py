from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp import user_has_device

from coordination import outbox
from coordination.audit import audit_log
from coordination.models import AuditEntry, District, OfficeSettings, OutboxMessage, Team, User
from coordination.roles import ROLE_LABELS, ROLES
from coordination.services import enrolment_code_issue


@admin.register(User)
class AnkommenUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Ankommen", {"fields": ("team", "phone", "language")}))  # type: ignore[operator,misc]
    list_display = ("username", "first_name", "last_name", "team", "is_active")
    list_filter = ("groups", "team", "is_active")
    actions = ("issue_enrolment_code",)

    @admin.action(description=_("Issue enrolment code"), permissions=["change"])
    def issue_enrolment_code(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        """One-time codes to set up a second factor, shown once on the page this returns."""
        issued, skipped = [], []
        for user in queryset.order_by("username"):
            if user_has_device(user, confirmed=True):
                skipped.append(user.username)
                continue
            code, valid_until = enrolment_code_issue(user=user, by=request.user)
            issued.append({"user": user, "code": code, "valid_until": valid_until})
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(names)s already has a second factor; no code was issued. If the device "
                    "was lost, delete it under TOTP devices first.",
                    "%(names)s already have a second factor; no code was issued. If a device "
                    "was lost, delete it under TOTP devices first.",
                    len(skipped),
                )
                % {"names": ", ".join(skipped)},
                messages.WARNING,
            )
        if not issued:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Enrolment codes"),
            "issued": issued,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/coordination/user/enrolment_codes.html", context)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "lead", "mailbox")


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    search_fields = ("name",)
    filter_horizontal = ("neighbours",)


class OfficeSettingsForm(forms.ModelForm):
    otp_required_roles = forms.MultipleChoiceField(
        label=_("roles that must use a second factor"),
        choices=[(r, ROLE_LABELS[r]) for r in ROLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "Users of these roles must set up and use a TOTP authenticator app at every login."
        ),
    )

    class Meta:
        model = OfficeSettings
        exclude: tuple[str, ...] = ()


@admin.register(OfficeSettings)
class OfficeSettingsAdmin(admin.ModelAdmin):
    form = OfficeSettingsForm

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return not OfficeSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class RoleFilter(admin.SimpleListFilter):
    title = _("role")
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(r, ROLE_LABELS[r]) for r in ROLES]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() in ROLES:
            return queryset.filter(roles__contains=self.value())
        return queryset


class ActionGroupFilter(admin.SimpleListFilter):
    """The first part of the action name: auth, case, referral, admin, audit, ..."""

    title = _("kind of action")
    parameter_name = "kind"
    KINDS = ("auth", "case", "referral", "places", "admin", "user", "permission", "audit", "outbox")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(k, k) for k in self.KINDS]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() in self.KINDS:
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only. A fuller search (user, case, period, CSV export) is at /audit/."""

    list_display = (
        "at",
        "actor_name",
        "roles",
        "action",
        "case_reference",
        "object_type",
        "object_id",
        "ip",
    )
    list_filter = (ActionGroupFilter, RoleFilter, "action")
    search_fields = ("=actor_name", "=case_reference", "=object_id", "=ip")
    search_help_text = _("Exact user name, case reference, object id or address.")
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if getattr(response, "status_code", 200) == 200:
            audit_log(
                actor=request.user,
                action="audit.search",
                detail={k: v[:100] for k, v in request.GET.items()},
            )
        return response


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only; the two actions go through the outbox's services."""

    list_display = (
        "created_at", "kind", "to", "case_reference", "state", "attempts", "next_attempt_at",
        "sent_at", "last_error",
    )  # fmt: skip
    list_filter = ("state", "kind")
    search_fields = ("=case_reference", "=to", "=message_id")
    search_help_text = _("Exact case reference, address or Message-ID.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("requeue", "cancel")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def _perm(self, request: HttpRequest) -> bool:
        # The actions change rows although the page is read-only: the model's change right.
        return request.user.has_perm("coordination.change_outboxmessage")

    has_requeue_permission = _perm
    has_cancel_permission = _perm

    @admin.action(
        description=_("Send again (failed or cancelled e-mails)"), permissions=["requeue"]
    )
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        done = sum(outbox.outbox_requeue(message=message) for message in queryset)
        self._report(request, queryset, done, "outbox.requeue")

    @admin.action(description=_("Cancel (queued e-mails)"), permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        done = sum(outbox.outbox_cancel(message=message) for message in queryset)
        self._report(request, queryset, done, "outbox.cancel")

    def _report(
        self, request: HttpRequest, queryset: QuerySet[OutboxMessage], done: int, action: str
    ) -> None:
        skipped = queryset.count() - done
        audit_log(actor=request.user, action=action, detail={"changed": done, "skipped": skipped})
        self.message_user(
            request,
            _("%(done)d e-mail(s) changed, %(skipped)d left as they were (wrong state).")
            % {"done": done, "skipped": skipped},
            messages.SUCCESS if done else messages.WARNING,
        )
