"""Admin for cases: references and routing data only, never an encrypted field.

Administrators manage the system; they do not read children's personal data here (that
would bypass the access log). Cases and their history are read-only: every change goes
through the services, i.e. the coordinator's workspace.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.models import PLAIN_FIELDS, Case, CaseEvent

# Every plain column (the same list the right-of-access record shows); never an encrypted one.
CASE_FIELDS = PLAIN_FIELDS
EVENT_FIELDS = (
    "case",
    "at",
    "actor",
    "kind",
    "transition",
    "from_state",
    "to_state",
    "reason",
    "fields",
)


def _user_name(relation: str) -> tuple[str, ...]:
    return tuple(f"{relation}__{f}" for f in ("username", "first_name", "last_name"))


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ("reference", "state", "team", "target_type", "district")
    list_filter = ("state", "team", "target_type", "district")
    search_fields = ("reference",)
    fields = CASE_FIELDS
    readonly_fields = CASE_FIELDS
    list_select_related = ("team", "district")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        # Load no encrypted column at all: nothing is decrypted on admin pages.
        return (
            super()
            .get_queryset(request)
            .only(*CASE_FIELDS, *_user_name("coordinator"), "team__name", "district__name")
        )


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ("case", "at", "actor", "kind", "from_state", "to_state", "reason")
    list_filter = ("kind",)
    search_fields = ("case__reference",)
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    list_select_related = ("case", "actor")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CaseEvent]:
        # The comment is encrypted free text and the case's columns are mostly encrypted:
        # load neither (the case is shown by its reference).
        return (
            super()
            .get_queryset(request)
            .select_related("case", "actor")
            .only(*EVENT_FIELDS, "case__reference", *_user_name("actor"))
        )
