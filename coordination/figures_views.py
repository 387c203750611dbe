"""Management pages: the anonymised figures, their exports and a print view.

Thin views: they authorise (management, coordinators, administrators), read the filters and
hand over to ``coordination/summaries.py``, which computes and protects every figure.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from coordination import roles, summaries

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _page(request: HttpRequest) -> summaries.FiguresPage:
    if not roles.may_see_figures(request.user):
        raise PermissionDenied
    return summaries.figures_page(summaries.parse_filters(request.GET))


def _context(page: summaries.FiguresPage, *, print_view: bool) -> dict[str, object]:
    return {"page": page, "query": urlencode(page.filters.as_params()), "print_view": print_view}


@login_required
@require_GET
def figures(request: HttpRequest) -> HttpResponse:
    """The figures page with its filters (period, district, target type)."""
    page = _page(request)
    return render(request, "coordination/figures.html", _context(page, print_view=False))


@login_required
@require_GET
def figures_print(request: HttpRequest) -> HttpResponse:
    """The same figures laid out for printing (logged like an export)."""
    page = _page(request)
    summaries.log_export(actor=request.user, fmt="print", filters=page.filters, via="web")
    return render(request, "coordination/figures_print.html", _context(page, print_view=True))


@login_required
@require_GET
def figures_export(request: HttpRequest) -> HttpResponse:
    """Exactly the page's tables as CSV (default) or XLSX; every export is logged."""
    fmt = request.GET.get("format", "csv")
    if fmt not in EXPORT_TYPES:
        raise Http404
    page = _page(request)
    summaries.log_export(actor=request.user, fmt=fmt, filters=page.filters, via="web")
    if fmt == "csv":
        # A byte-order mark, so spreadsheet programs read the file as UTF-8 (•, umlauts).
        body: str | bytes = "\ufeff" + summaries.page_csv(page)
    else:
        body = summaries.page_xlsx(page)
    response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
    name = f"ankommen-figures-{page.as_of.isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
