"""The audit log search for administrators: by user, case reference, action and period.

Reading the log is itself logged (``audit.search``, ``audit.export``), so the log also shows
who looked into it.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from coordination.audit import audit_log, csv_cell
from coordination.audit_text import describe
from coordination.forms import KernForm, database_ids
from coordination.roles import is_administrator
from coordination.selectors import audit_entries_matching, audit_search_page

EXPORT_LIMIT = 100_000


class AuditSearchForm(KernForm):
    user = forms.CharField(label=_("User name"), max_length=150, required=False)
    case_reference = forms.CharField(label=_("Case reference"), max_length=30, required=False)
    action = forms.CharField(
        label=_("Action"),
        max_length=60,
        required=False,
        help_text=_(
            "The code of the action (the beginning is enough); each entry shows its codes "
            "under “Codes”."
        ),
    )
    ip = forms.GenericIPAddressField(label=_("Address"), required=False)
    date_from = forms.DateField(label=_("From"), required=False)
    date_to = forms.DateField(label=_("Until"), required=False)

    # The log cannot hold entries outside these years; far-off dates (year 1, 9999) would
    # overflow the time zone conversion, so they are refused with a message instead.
    EARLIEST = dt.date(2000, 1, 1)
    LATEST = dt.date(2999, 12, 31)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        for name in ("date_from", "date_to"):
            day = data.get(name)
            if day is not None and not self.EARLIEST <= day <= self.LATEST:
                self.add_error(name, _("Enter a date between the years 2000 and 2999."))
                start = end = None
        if start and end and start > end:
            self.add_error("date_to", _("The end of the period lies before its beginning."))
        return data


def _filters(data: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in data.items() if v not in (None, "")}


def _administrator_only(request: HttpRequest) -> None:
    if not is_administrator(request.user):
        raise PermissionDenied


def _entry_id(value: str | None) -> int | None:
    """A cursor that could be an entry id (one no row can have, e.g. 30 digits, is none)."""
    return next(iter(database_ids([value])), None) if value and value.isascii() else None


@login_required
@require_GET
def audit_search(request: HttpRequest) -> HttpResponse:
    """Newest first, a page of 50 by keyset (``before`` / ``after`` an entry id): no count of
    the whole log and no OFFSET, so it stays fast with tens of millions of entries."""
    _administrator_only(request)
    params = request.GET.copy()
    before = _entry_id(params.pop("before", [None])[-1])
    after = _entry_id(params.pop("after", [None])[-1])
    params.pop("page", None)
    form = AuditSearchForm(params or None)
    page = None
    if form.is_bound and form.is_valid():
        page = audit_search_page(form.cleaned_data, before=before, after=after)
        audit_log(actor=request.user, action="audit.search", detail=_filters(form.cleaned_data))
    elif not form.is_bound:
        page = audit_search_page({}, before=before, after=after)
        audit_log(actor=request.user, action="audit.search", detail={})
    rows = [(entry, describe(entry)) for entry in page.entries] if page is not None else []
    return render(
        request,
        "coordination/audit_search.html",
        {"form": form, "page": page, "rows": rows, "query": params.urlencode()},
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_name",
    "roles",
    "ip",
    "action",
    "object_type",
    "object_id",
    "case_reference",
    "fields",
    "detail",
    "prev_hash",
    "hash",
)


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The matching entries as CSV (with their hashes, so a copy can be verified)."""
    _administrator_only(request)
    form = AuditSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request, "coordination/audit_search.html", {"form": form, "page": None}, status=400
        )
    entries = audit_entries_matching(form.cleaned_data)[:EXPORT_LIMIT]
    audit_log(actor=request.user, action="audit.export", detail=_filters(form.cleaned_data))
    writer = csv.writer(_Echo())

    def rows() -> Any:
        yield writer.writerow(EXPORT_COLUMNS)
        for entry in entries.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    csv_cell(getattr(entry, c)) if c != "at" else entry.at.isoformat()
                    for c in EXPORT_COLUMNS
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
