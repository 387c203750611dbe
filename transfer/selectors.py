"""Reads of imports that depend on who asks."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from coordination.roles import is_administrator, is_coordinator
from coordination.roles import may_import as may_use_imports
from transfer.models import ImportBatch, ImportKind

__all__ = ["import_get_for_user", "imports_visible_to", "may_use_imports"]


def imports_visible_to(user: Any) -> QuerySet[ImportBatch]:
    """Administrators see every import; a coordinator the case imports of their team."""
    if is_administrator(user):
        return ImportBatch.objects.all()
    if is_coordinator(user) and user.team_id is not None:
        return ImportBatch.objects.filter(kind=ImportKind.CASES, team_id=user.team_id)
    return ImportBatch.objects.none()


def import_get_for_user(*, user: Any, pk: int | str) -> ImportBatch:
    try:
        return imports_visible_to(user).select_related("team", "created_by").get(pk=int(pk))
    except (ImportBatch.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404 from exc
