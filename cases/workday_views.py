"""The working day (issue 17): marking work-queue items seen, follow-ups, the case journal.

Thin views like ``cases/views.py``: parse, authorise through a selector, call one service,
redirect back to the case page (or the dashboard) with a message. Every form works without
JavaScript; "mark seen" answers an htmx request with an empty fragment (the item disappears
in place).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cases.forms import (
    FollowUpCloseForm,
    FollowUpForm,
    FollowUpPostponeForm,
    JournalForm,
    WorkItemSeenForm,
)
from cases.selectors import case_get_for_user, followup_get_for_user
from cases.services import (
    followup_cancel,
    followup_complete,
    followup_create,
    followup_postpone,
    journal_add,
    work_item_mark_seen,
)
from cases.views import _form_errors, _next_or, case_object_view, render_detail
from coordination.exceptions import DomainError
from coordination.http import AuthenticatedRequest


def _back(pk: int, anchor: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("cases:detail", args=[pk]) + anchor)


@case_object_view
@require_POST
def work_item_seen(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Take one item out of the user's work queue."""
    case = case_get_for_user(user=request.user, pk=pk)
    form = WorkItemSeenForm(request.POST)
    ok = form.is_valid()
    if ok:
        try:
            work_item_mark_seen(case=case, by=request.user, key=form.cleaned_data["key"])
        except DomainError as exc:
            ok = False
            messages.error(request, str(exc.message))
    else:
        messages.error(request, _("This item cannot be marked as seen."))
    if getattr(request, "htmx", False) and ok:
        return HttpResponse("")  # hx-swap="outerHTML" removes the item
    if ok:
        messages.success(request, _("Marked as seen: %(reference)s.") % {"reference": case})
    return HttpResponseRedirect(_next_or(request, reverse("cases:dashboard")))


@case_object_view
@require_POST
def followup_add(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    form = FollowUpForm(request.POST, prefix="followup")
    if not form.is_valid():
        # Shown again on the case page with the input kept and the errors at the fields.
        return render_detail(request, case, followup_form=form)
    data = form.cleaned_data
    try:
        followup = followup_create(
            case=case,
            by=request.user,
            due_on=data["due_on"],
            reason=data["reason"],
            for_team=data["for_whom"] == FollowUpForm.FOR_TEAM,
        )
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return render_detail(request, case, followup_form=form)
    else:
        messages.success(
            request,
            _("Follow-up set for %(date)s.") % {"date": followup.due_on.strftime("%d.%m.%Y")},
        )
    return _back(case.pk, "#followups")


@case_object_view
@require_POST
def followup_close(request: AuthenticatedRequest, pk: int, followup_pk: int) -> HttpResponse:
    """Done or cancelled (the button's value says which)."""
    case = case_get_for_user(user=request.user, pk=pk)
    followup = followup_get_for_user(user=request.user, pk=followup_pk)
    if followup.case_id != case.pk:
        return redirect("cases:detail", pk=case.pk)
    form = FollowUpCloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(case.pk, "#followups")
    done = form.cleaned_data["action"] == "done"
    try:
        if done:
            followup_complete(followup=followup, by=request.user)
        else:
            followup_cancel(followup=followup, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request, _("The follow-up is done.") if done else _("The follow-up was cancelled.")
        )
    return HttpResponseRedirect(_next_or(request, reverse("cases:detail", args=[case.pk])))


@case_object_view
@require_POST
def followup_move(request: AuthenticatedRequest, pk: int, followup_pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    followup = followup_get_for_user(user=request.user, pk=followup_pk)
    if followup.case_id != case.pk:
        return redirect("cases:detail", pk=case.pk)
    form = FollowUpPostponeForm(request.POST, prefix=f"postpone-{followup.pk}")
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(case.pk, "#followups")
    try:
        new = followup_postpone(
            followup=followup, by=request.user, due_on=form.cleaned_data["due_on"]
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("The follow-up was postponed to %(date)s.")
            % {"date": new.due_on.strftime("%d.%m.%Y")},
        )
    return _back(case.pk, "#followups")


@case_object_view
@require_POST
def journal_new(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = case_get_for_user(user=request.user, pk=pk)
    form = JournalForm(request.POST, prefix="journal")
    if not form.is_valid():
        return render_detail(request, case, journal_form=form)
    data = form.cleaned_data
    try:
        journal_add(
            case=case,
            by=request.user,
            at=data["at"],
            kind=data["kind"],
            with_whom=data["with_whom"],
            text=data["text"],
            interpreter=data["interpreter"],
            interpreter_language=data.get("interpreter_language") or "",
        )
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return render_detail(request, case, journal_form=form)
    messages.success(request, _("The contact was recorded."))
    return _back(case.pk, "#timeline-heading")
