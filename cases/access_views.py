"""Right of access (Art. 15 GDPR): the complete copy of one case, as a printable page and JSON.

Only a coordinator who may work the case produces it; producing it is logged with every
personal field it discloses.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cases.access import case_access_report
from cases.models import Case
from cases.selectors import case_get_for_user
from coordination.audit import audit_log
from coordination.fields import encrypted_fields
from coordination.http import AuthenticatedRequest
from coordination.roles import is_coordinator


def _case_for_report(request: AuthenticatedRequest, pk: int) -> Case:
    # Like every case URL: a 404 for anyone who may not see the case, whatever the role,
    # so that the answer never reveals whether it exists.
    if not is_coordinator(request.user):
        raise Http404
    return case_get_for_user(user=request.user, pk=pk)


def _log(request: AuthenticatedRequest, case: Case, fmt: str) -> None:
    audit_log(
        actor=request.user,
        action="case.access_report",
        obj=case,
        fields=[f.name for f in encrypted_fields(Case)]
        + [
            "guardians",
            "history",
            "referrals",
            "followup.reason",
            "journal.text",
            "journal.interpreter_language",
        ],
        detail={"format": fmt},
    )


@never_cache
@login_required
@require_GET
def access_report(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The printable page (German first; the browser prints it with print.css)."""
    case = _case_for_report(request, pk)
    report = case_access_report(case=case)
    _log(request, case, "html")
    return render(request, "cases/access_report.html", {"case": case, "report": report})


@never_cache
@login_required
@require_GET
def access_report_json(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The same copy as a JSON download (machine-readable, Art. 15 (3) / Art. 20)."""
    case = _case_for_report(request, pk)
    report = case_access_report(case=case)
    for key in ("case_rows", "personal_rows", "family_contact_rows"):
        report.pop(key, None)
    for referral in report["referrals"]:
        referral.pop("rows", None)
    _log(request, case, "json")
    body = json.dumps(report, ensure_ascii=False, indent=2, sort_keys=False, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="auskunft-{case.reference}.json"'
    return response
