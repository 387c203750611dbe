"""The administrators' retention page: offer due cases to the archive (download the hand-over
file) and record the archive's decision. The daily task erases the decided ones."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from cases.models import ArchiveStatus, Case
from cases.retention import (
    case_archive_decision,
    case_offer_to_archive,
    cases_due_for_retention,
    retention_cutoff,
)
from coordination.exceptions import DomainError
from coordination.forms import database_ids
from coordination.http import AuthenticatedRequest
from coordination.models import OfficeSettings
from coordination.roles import is_administrator

MAX_SELECTION = 500


def _administrator_only(request: AuthenticatedRequest) -> None:
    if not is_administrator(request.user):
        raise PermissionDenied


def _selected(request: AuthenticatedRequest) -> list[Case]:
    ids = database_ids(request.POST.getlist("case")[:MAX_SELECTION])
    return list(cases_due_for_retention().filter(pk__in=ids))


@never_cache
@login_required
@require_GET
def retention_overview(request: AuthenticatedRequest) -> HttpResponse:
    _administrator_only(request)
    due = list(cases_due_for_retention().select_related("district")[:2000])
    groups = {
        "awaiting_offer": [c for c in due if c.archive_status == ArchiveStatus.NONE],
        "awaiting_decision": [c for c in due if c.archive_status == ArchiveStatus.OFFERED],
        "decided": [
            c for c in due if c.archive_status in (ArchiveStatus.DECLINED, ArchiveStatus.TAKEN)
        ],
    }
    return render(
        request,
        "cases/retention.html",
        {
            **groups,
            "cutoff": retention_cutoff(),
            "months": OfficeSettings.current().retention_months,
        },
    )


@never_cache
@login_required
@require_POST
def retention_offer(request: AuthenticatedRequest) -> HttpResponse:
    """Offer the selected cases and download the hand-over file (JSON or CSV)."""
    _administrator_only(request)
    cases = _selected(request)
    if not cases:
        messages.error(request, _("Select at least one case that is due."))
        return redirect("cases:retention")
    try:
        handover = case_offer_to_archive(cases=cases, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("cases:retention")
    if request.POST.get("format") == "csv":
        body, content_type, ext = handover.as_csv(), "text/csv; charset=utf-8", "csv"
    else:
        body, content_type, ext = handover.as_json(), "application/json; charset=utf-8", "json"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{handover.stem}.{ext}"'
    return response


@never_cache
@login_required
@require_POST
def retention_decision(request: AuthenticatedRequest) -> HttpResponse:
    """Record the archive's answer for the selected offered cases."""
    _administrator_only(request)
    decision = request.POST.get("decision")
    if decision not in {"taken", "declined"}:
        messages.error(request, _("Choose whether the archive takes the records or declines."))
        return redirect("cases:retention")
    cases = [c for c in _selected(request) if c.archive_status == ArchiveStatus.OFFERED]
    if not cases:
        messages.error(request, _("Select at least one case that was offered to the archive."))
        return redirect("cases:retention")
    done = 0
    for case in cases:
        try:
            case_archive_decision(case=case, by=request.user, taken=decision == "taken")
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            done += 1
    if done:
        messages.success(
            request,
            _(
                "Archive decision recorded for %(count)s case(s); the nightly run erases their "
                "personal data."
            )
            % {"count": done},
        )
    return redirect("cases:retention")
