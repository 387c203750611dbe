"""Duplicates: the administrators' report across the installation, and merging two cases of
one team (the survivor's page; a confirmation step before anything moves)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from cases.forms import MergeForm
from cases.selectors import (
    case_duplicate_pairs,
    case_get_for_user,
    case_likely_duplicates,
    cases_merge_candidates,
)
from cases.services import case_merge
from cases.views import _audit_listed, _audit_view, case_object_view
from coordination.exceptions import DomainError
from coordination.http import AuthenticatedRequest
from coordination.roles import is_administrator

REPORT_LIMIT = 500
MERGE_SHOWN = ("given_name", "family_name", "birth_date")


@never_cache
@login_required
@require_GET
def duplicates_report(request: AuthenticatedRequest) -> HttpResponse:
    """Likely duplicate pairs (references, teams, kind of match): for the teams to merge."""
    if not is_administrator(request.user):
        raise PermissionDenied
    pairs, total = case_duplicate_pairs(limit=REPORT_LIMIT)
    return render(
        request, "cases/duplicates.html", {"pairs": pairs, "total": total, "limit": REPORT_LIMIT}
    )


@case_object_view
@require_http_methods(["GET", "POST"])
def merge(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Merge another case of the team into this one: choose, confirm, merge."""
    user = request.user
    survivor = case_get_for_user(user=user, pk=pk)
    if survivor.team_id != getattr(user, "team_id", None):
        raise PermissionDenied  # shared with the user, but owned by another team
    candidates = cases_merge_candidates(user=user, case=survivor)
    suggestions = case_likely_duplicates(user=user, case=survivor)
    _audit_listed(request, suggestions, MERGE_SHOWN, "merge-suggestions")
    form = MergeForm(request.POST or None, candidates=candidates)
    context = {"case": survivor, "form": form, "suggestions": suggestions}
    if request.method != "POST" or not form.is_valid():
        return render(request, "cases/merge.html", context)
    duplicate = form.cleaned_data["duplicate"]
    if not form.cleaned_data["confirm"]:
        for case in (survivor, duplicate):
            _audit_view(request, case, MERGE_SHOWN, "merge-confirm")
        return render(request, "cases/merge_confirm.html", {**context, "duplicate": duplicate})
    try:
        case_merge(survivor=survivor, duplicate=duplicate, by=user)
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "cases/merge.html", context)
    messages.success(
        request,
        _("%(duplicate)s was merged into this case and closed as a duplicate.")
        % {"duplicate": duplicate.reference},
    )
    return redirect("cases:detail", pk=survivor.pk)
