"""Management pages: the anonymised figures, their exports and a print view.

Thin views: they authorise (management, coordinators, administrators), read the filters and
hand over to ``monitoring`` (``pages``, ``refresh``, ``exports``), which computes and protects
every figure. The page
object is only built when the cached HTML fragment is missing (it is large in a big city). The
page never computes the figures itself: while none are cached, it says they are being prepared
and reloads itself (the worker computes them); exports and the print view compute them.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from coordination import roles
from coordination.http import AuthenticatedRequest
from monitoring import exports, pages, refresh
from monitoring.dimensions import parse_filters
from monitoring.tables import FiguresHeader

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _header(request: AuthenticatedRequest) -> FiguresHeader:
    """The header for the request's filters with every district (exports, print view)."""
    if not roles.may_see_figures(request.user):
        raise PermissionDenied
    return pages.figures_header(parse_filters(request.GET))


def _context(header: FiguresHeader, *, print_view: bool) -> dict[str, object]:
    return {
        "header": header,
        "page": SimpleLazyObject(lambda: pages.page_for(header)),
        "query": urlencode(header.filters.as_params()),
        "print_view": print_view,
    }


@login_required
@require_GET
def figures(request: AuthenticatedRequest) -> HttpResponse:
    """The figures page with its filters (period, district, target type), a page of
    districts at a time."""
    if not roles.may_see_figures(request.user):
        raise PermissionDenied
    raw = str(request.GET.get("page") or "1")[:6]
    params = request.GET.copy()
    # With thousands of districts the filter takes a name (a district's name is no personal
    # value); one that matches no district shows every district and says so.
    typed = str(params.get("district_name") or "").strip()[:100]
    not_found = ""
    if "district_name" in params:
        found = pages.district_named(typed) if typed else None
        params["district"] = str(found) if found is not None else ""
        not_found = typed if typed and found is None else ""
    header = refresh.figures_header_kept_fresh(
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        parse_filters(params),
        district_page=int(raw) if raw.isdecimal() else 1,
    )
    context = _context(header, print_view=False)
    context["district_not_found"] = not_found
    context["district_by_name"] = len(header.district_choices) > pages.DISTRICT_LIST_LIMIT
    chosen = header.filters.district
    context["district_label"] = dict(header.district_choices).get(chosen, "") if chosen else ""
    if header.computed_at or header.compute_here:
        return render(request, "monitoring/figures.html", context)
    # None computed yet (first use, a new day, the cache emptied): the worker is on it. A
    # filter sent by htmx swaps #figures-content, which this page lacks: swap all of main.
    response = render(request, "monitoring/figures_wait.html", context)
    if request.headers.get("HX-Request"):
        response["HX-Retarget"] = response["HX-Reselect"] = "#main"
        response["HX-Reswap"] = "outerHTML"
    return response


@login_required
@require_GET
def figures_print(request: AuthenticatedRequest) -> HttpResponse:
    """The same figures laid out for printing (logged like an export)."""
    header = _header(request)
    exports.log_export(actor=request.user, fmt="print", filters=header.filters, via="web")
    return render(request, "monitoring/figures_print.html", _context(header, print_view=True))


def export_stem() -> str:
    """The download's name in the interface's language (file names are not translated
    through the catalog: a translator must not put a space or a slash into one)."""
    return "ankommen-kennzahlen" if get_language() == "de" else "ankommen-figures"


@login_required
@require_GET
def figures_export(request: AuthenticatedRequest) -> HttpResponse:
    """Exactly the page's tables as CSV (default) or XLSX; every export is logged."""
    fmt = request.GET.get("format", "csv")
    if fmt not in EXPORT_TYPES:
        raise Http404
    header = _header(request)
    exports.log_export(actor=request.user, fmt=fmt, filters=header.filters, via="web")
    body = exports.export(header.filters, fmt)
    if isinstance(body, str):
        # A byte-order mark, so spreadsheet programs read the file as UTF-8 (•, umlauts).
        body = "\ufeff" + body
    response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
    name = f"{export_stem()}-{header.as_of.isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
