"""The import pages (upload → columns → check report, duplicates, confirmation → progress →
result) and the export page. Thin: authorise through ``selectors``, call one service.

Every step that writes is a POST with CSRF; no personal value is ever in a URL (pages are
addressed by the import's id). Pages that show values of the file (first values per column,
the preview) write an audit entry.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.models import Case
from cases.selectors import cases_visible_ids
from coordination.audit import audit_log
from coordination.exceptions import DomainError
from coordination.http import AuthenticatedRequest
from coordination.roles import is_administrator
from transfer import services
from transfer.exporting import export_file_name, export_teams_for, export_write, may_export
from transfer.forms import ExportForm, MappingForm, UploadForm
from transfer.models import ImportBatch, ImportedRow, ImportKind
from transfer.selectors import import_get_for_user, imports_visible_to, may_use_imports
from transfer.values import text

State = ImportBatch.State
View = Callable[..., HttpResponse]
# ``ImportedRow.message`` of a skipped row (a code) as the result page says it.
SKIP_REASONS = {
    "imported before": gettext_lazy("imported before"),
    "problems in the row": gettext_lazy("problems in the row (see the check's report)"),
    "likely duplicate": gettext_lazy("likely duplicate without a decision"),
    "likely duplicate: skipped": gettext_lazy("likely duplicate: skipped as decided"),
}


def importer_required(view: View) -> View:
    @wraps(view)
    @login_required
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_use_imports(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _index(request: AuthenticatedRequest, form: UploadForm) -> HttpResponse:
    batches = imports_visible_to(request.user).select_related("team", "created_by")[:20]
    return render(request, "transfer/index.html", {
        "form": form, "batches": batches, "may_export": may_export(request.user),
    })  # fmt: skip


@importer_required
@require_GET
def index(request: AuthenticatedRequest) -> HttpResponse:
    return _index(request, UploadForm(admin=is_administrator(request.user)))


@importer_required
@require_POST
def upload(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    admin = is_administrator(user)
    form = UploadForm(request.POST, request.FILES, admin=admin)
    if not form.is_valid():
        return _index(request, form)
    kind = form.cleaned_data["kind"] if admin else ImportKind.CASES
    team = form.cleaned_data.get("team") if admin else user.team  # type: ignore[union-attr]
    upload = form.cleaned_data["file"]
    try:
        batch = services.import_upload(
            by=user, kind=kind, team=team, file_name=upload.name, content=upload.read()
        )
    except DomainError as exc:
        form.add_error("file", str(exc.message))
        return _index(request, form)
    return redirect("transfer:mapping", pk=batch.pk)


def _samples(batch: ImportBatch) -> dict[int, str]:
    try:
        table = services.batch_table(batch)
    except DomainError:
        return {}
    samples: dict[int, str] = {}
    for _line, cells in table.rows[:20]:
        for index, cell in enumerate(cells):
            if index not in samples and text(cell):
                samples[index] = text(cell)[:40]
    return samples


@importer_required
@require_http_methods(["GET", "POST"])
def mapping(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    batch = import_get_for_user(user=request.user, pk=pk)
    if batch.state not in (State.UPLOADED, State.CHECKED):
        return redirect("transfer:detail", pk=batch.pk)
    columns = services.KINDS[batch.kind].COLUMNS
    samples = _samples(batch)
    initial = {f"col_{i}": f for i, f in batch.mapping.items()}
    form = MappingForm(request.POST or None, headers=batch.headers, columns=columns,
                       samples=samples, initial=initial)  # fmt: skip
    if request.method == "POST" and form.is_valid():
        try:
            services.import_set_mapping(batch=batch, by=request.user, mapping=form.mapping())
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            return redirect("transfer:detail", pk=batch.pk)
    if samples:
        audit_log(actor=request.user, action="import.preview", obj=batch,
                  detail={"view": "mapping"})  # fmt: skip
    return render(request, "transfer/mapping.html", {"batch": batch, "form": form})


def _duplicates(request: AuthenticatedRequest, batch: ImportBatch) -> list[dict[str, Any]]:
    rows = [r for r in batch.report.get("rows", []) if r["status"] == "duplicate"]
    ids = {pk for r in rows for pk in r["matches"]}
    visible = cases_visible_ids(user=request.user, ids=ids)
    cases = {
        c.pk: c
        for c in Case.objects.filter(pk__in=ids)
        .select_related("team")
        .only("id", "reference", "state", "team__name", "erased_at")
    }
    named = {
        c.pk: c
        # "state" too: django-fsm's ConcurrentTransitionMixin reads it on every load (one
        # query per row without it).
        for c in Case.objects.filter(pk__in=visible).only(
            "id", "state", "given_name", "family_name", "birth_date"
        )
    }
    out = []
    for row in rows:
        attach = set(services.attach_choices(batch, row["matches"]))
        matches = [
            {"case": cases[pk], "named": named.get(pk), "attach": pk in attach}
            for pk in row["matches"]
            if pk in cases
        ]
        chosen = batch.decisions.get(str(row["line"]), "skip")
        out.append({"line": row["line"], "matches": matches, "chosen": chosen})
    return out


@importer_required
@require_GET
def detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The import as it stands: progress, the check's report and the decisions, the result."""
    batch = import_get_for_user(user=request.user, pk=pk)
    running = batch.state in (State.CHECKING, State.IMPORTING)
    if request.headers.get("HX-Request"):
        if running:
            return render(request, "transfer/_progress.html", {"batch": batch})
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    context: dict[str, Any] = {"batch": batch, "running": running}
    if batch.state == State.CHECKED:
        report = batch.report
        context["preview"] = report.get("preview", [])
        context["problems"] = [r for r in report.get("rows", []) if r.get("errors")]
        context["notes"] = [r for r in report.get("rows", []) if r.get("warnings")]
        context["already"] = [r["line"] for r in report.get("rows", [])
                              if r["status"] == "already"]  # fmt: skip
        context["duplicates"] = _duplicates(request, batch)
        context["importable"] = batch.counts.get("ok", 0) + len(context["duplicates"])
        if context["preview"] or context["duplicates"]:
            audit_log(actor=request.user, action="import.preview", obj=batch,
                      detail={"view": "report"})  # fmt: skip
    if batch.state == State.DONE:
        context["outcomes"] = batch.counts.get("outcomes", {})
        context["left_out"] = list(
            batch.rows.exclude(outcome__in=[ImportedRow.Outcome.CREATED,
                                            ImportedRow.Outcome.ATTACHED,
                                            ImportedRow.Outcome.UPDATED])
            .order_by("line")
            .values("line", "outcome", "message")[:500]
        )  # fmt: skip
        for row in context["left_out"]:
            row["reason"] = SKIP_REASONS.get(row["message"], row["message"])
    return render(request, "transfer/detail.html", context)


@importer_required
@require_POST
def confirm(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    batch = import_get_for_user(user=request.user, pk=pk)
    decisions = {
        key.removeprefix("line_"): str(value)[:40]
        for key, value in request.POST.items()
        if key.startswith("line_")
    }
    try:
        services.import_confirm(batch=batch, by=request.user, decisions=decisions)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("transfer:detail", pk=batch.pk)


@importer_required
@require_POST
def discard(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    batch = import_get_for_user(user=request.user, pk=pk)
    try:
        services.import_discard(batch=batch, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("transfer:detail", pk=batch.pk)
    messages.success(request, _("The import was discarded and its file deleted."))
    return redirect("transfer:index")


@login_required
@require_http_methods(["GET", "POST"])
def export(request: AuthenticatedRequest) -> HttpResponse | FileResponse:
    """The export of everything (administrators) or of the own team (team leads)."""
    user = request.user
    if not may_export(user):
        raise PermissionDenied
    teams = export_teams_for(user)
    everything = teams is None
    form = ExportForm(
        request.POST or None,
        teams=teams if teams is not None else ExportForm.base_fields["team"].queryset,  # type: ignore[attr-defined]
        everything=everything,
    )
    if request.method == "POST" and form.is_valid():
        team = form.cleaned_data.get("team")
        # Built in a temporary file (kept in memory up to 50 MB), then streamed.
        spool = tempfile.SpooledTemporaryFile(max_size=50 * 1024 * 1024)  # noqa: SIM115
        export_write(by=user, team=team, out=spool)
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=export_file_name(team),
                            content_type="application/zip")  # fmt: skip
    return render(request, "transfer/export.html", {"form": form, "everything": everything})
