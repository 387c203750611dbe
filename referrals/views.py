"""Referral views: the coordinator's referral and withdrawal, the institution's inbox, the
referral page with its answers, and the free places.

Thin: parse, authorise through a selector (a referral or case the user may not see is a
404), call one service, render. Domain errors become form errors, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_fsm import has_transition_perm

from cases.models import State, may_work_case
from cases.selectors import case_get_for_user
from coordination.audit import audit_log
from coordination.exceptions import DomainError
from coordination.http import AuthenticatedRequest
from coordination.models import OfficeSettings
from coordination.roles import is_coordinator, is_institution_staff
from referrals import services
from referrals.forms import (
    AcceptForm,
    DeclineForm,
    EnrolForm,
    NoShowForm,
    PlacesForm,
    ReferralCreateForm,
    WithdrawForm,
)
from referrals.models import Referral
from referrals.selectors import (
    inbox_counts,
    inbox_rows,
    institution_get_for_staff,
    institutions_for_referral,
    institutions_of,
    institutions_suggested_for,
    places_rows_for,
    referral_deadline,
    referral_get_for_page,
    referral_page_fields,
    referrals_inbox,
)

INBOX_PAGE_SIZE = 25


def _staff_only(request: AuthenticatedRequest) -> None:
    if not is_institution_staff(request.user):
        raise PermissionDenied


# --- coordinator ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def create(request: AuthenticatedRequest, case_pk: int) -> HttpResponse:
    """Refer a case that is looking for a place; suggestions first, waiting list on confirm."""
    case = case_get_for_user(user=request.user, pk=case_pk)
    if not may_work_case(case, request.user):
        raise Http404
    if case.state != State.READY:
        messages.warning(request, _("Only a case that is looking for a place can be referred."))
        return redirect("cases:detail", pk=case.pk)
    choices = institutions_for_referral(case)
    needs_confirmation = False
    if request.method == "POST":
        form = ReferralCreateForm(request.POST, institutions=choices)
        if form.is_valid():
            try:
                services.referral_create(
                    case=case,
                    institution=form.cleaned_data["institution"],
                    by=request.user,
                    message=form.cleaned_data["message"],
                    confirm_waitlist=form.cleaned_data["confirm_waitlist"],
                )
            except services.WaitlistConfirmationNeeded as exc:
                needs_confirmation = True
                form.add_error("confirm_waitlist", str(exc.message))
            except DomainError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("The referral has been sent."))
                return redirect("cases:detail", pk=case.pk)
    else:
        form = ReferralCreateForm(
            initial={"institution": request.GET.get("institution")}, institutions=choices
        )
    return render(
        request,
        "referrals/create.html",
        {
            "case": case,
            "form": form,
            "suggestions": institutions_suggested_for(case),
            "needs_confirmation": needs_confirmation or bool(form["confirm_waitlist"].value()),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The coordinator withdraws an open referral, with a reason."""
    if not is_coordinator(request.user):
        raise Http404
    referral = referral_get_for_page(user=request.user, pk=pk)
    if not referral.is_open:
        messages.info(request, _("This referral is no longer open."))
        return redirect("cases:detail", pk=referral.case_id)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.referral_withdraw(
                referral=referral, by=request.user, comment=form.cleaned_data["comment"]
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("The referral has been withdrawn."))
            return redirect("cases:detail", pk=referral.case_id)
    return render(request, "referrals/withdraw.html", {"referral": referral, "form": form})


# --- institution --------------------------------------------------------------------------


@login_required
def inbox(request: AuthenticatedRequest) -> HttpResponse:
    """Referrals addressed to the user's institution(s) in three sections: to answer (by
    when), enrolments to confirm, done; each row says what is expected."""
    _staff_only(request)
    show = "all" if request.GET.get("show") == "all" else "open"
    page = Paginator(referrals_inbox(user=request.user, show=show), INBOX_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    institutions = list(institutions_of(request.user))
    return render(
        request,
        "referrals/inbox.html",
        {
            "page": page,
            "rows": inbox_rows(page.object_list),
            "counts": inbox_counts(user=request.user),
            "today": timezone.localdate(),
            "hidden_after_days": OfficeSettings.current().closed_referral_visible_days,
            "show": show,
            "institutions": institutions,
            "several_institutions": len(institutions) > 1,
        },
    )


def _answer_forms(referral: Referral, user: Any) -> dict[str, Form]:
    """The answer forms the user may use now (institution staff only)."""
    forms: dict[str, Form] = {}
    if has_transition_perm(referral.accept, user):
        forms["accept"] = AcceptForm(prefix="accept")
    if has_transition_perm(referral.decline, user):
        forms["decline"] = DeclineForm(prefix="decline")
    if has_transition_perm(referral.enrol, user):
        forms["enrol"] = EnrolForm(prefix="enrol")
    if has_transition_perm(referral.report_no_show, user):
        forms["no_show"] = NoShowForm(prefix="no_show")
    return forms


def _render_detail(
    request: AuthenticatedRequest, referral: Referral, bound: dict[str, Form] | None = None
) -> HttpResponse:
    hidden = getattr(referral, "details_hidden", False)
    fields = referral_page_fields(details_hidden=hidden)
    audit_log(
        actor=request.user,
        action="referral.view",
        obj=referral,
        case_reference=referral.case.reference,
        fields=fields,
    )
    forms = _answer_forms(referral, request.user)
    forms.update({k: v for k, v in (bound or {}).items() if k in forms})
    staff = is_institution_staff(request.user)
    return render(
        request,
        "referrals/detail.html",
        {
            "referral": referral,
            "case": referral.case,
            "details_hidden": hidden,
            "hidden_after_days": OfficeSettings.current().closed_referral_visible_days,
            "coordinator": None if hidden else referral.case.coordinator,
            "deadline": referral_deadline(referral),
            "forms": forms,
            "is_staff_view": staff,
            "may_withdraw": not staff
            and referral.is_open
            and has_transition_perm(referral.withdraw, request.user),
        },
    )


@login_required
def detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The referral with only what the institution needs; every view is logged."""
    referral = referral_get_for_page(user=request.user, pk=pk)
    return _render_detail(request, referral)


def _answer(
    request: AuthenticatedRequest, pk: int, name: str, form_class: type[Form], call: Any, done: str
) -> HttpResponse:
    _staff_only(request)
    referral = referral_get_for_page(user=request.user, pk=pk)
    form = form_class(request.POST, prefix=name)
    if form.is_valid():
        try:
            call(referral, form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, done)
            return redirect("referrals:detail", pk=referral.pk)
    # Show the page again with the errors (state as it is now, after any concurrent change).
    referral = referral_get_for_page(user=request.user, pk=pk)
    if name not in _answer_forms(referral, request.user):
        for error in form.non_field_errors():
            messages.error(request, str(error))
        if not form.non_field_errors():
            messages.error(request, _("This step is not possible in the current state."))
        return redirect("referrals:detail", pk=referral.pk)
    return _render_detail(request, referral, bound={name: form})


@login_required
@require_POST
def accept(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "accept", AcceptForm,
        lambda r, d: services.referral_accept(
            referral=r, by=request.user, start_date=d["start_date"]
        ),
        _("You accepted the referral. A place is reserved."),
    )  # fmt: skip


@login_required
@require_POST
def decline(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "decline", DeclineForm,
        lambda r, d: services.referral_decline(
            referral=r, by=request.user, reason=d["reason"], comment=d["comment"]
        ),
        _("You declined the referral. The coordinator has been told."),
    )  # fmt: skip


@login_required
@require_POST
def enrol(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "enrol", EnrolForm,
        lambda r, d: services.referral_enrol(referral=r, by=request.user, first_day=d["first_day"]),
        _("The first day attended is confirmed."),
    )  # fmt: skip


@login_required
@require_POST
def no_show(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "no_show", NoShowForm,
        lambda r, d: services.referral_no_show(referral=r, by=request.user, comment=d["comment"]),
        _("You reported that the child did not start. The place is free again."),
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def places(request: AuthenticatedRequest) -> HttpResponse:
    """Free places per grade or age group of each of the user's institutions."""
    _staff_only(request)
    institutions = list(institutions_of(request.user).prefetch_related("places"))
    bound: PlacesForm | None = None
    if request.method == "POST":
        institution = institution_get_for_staff(
            user=request.user, pk=request.POST.get("institution", "")
        )
        groups = [row.group for row in places_rows_for(institution)]
        bound = PlacesForm(request.POST, groups=groups, prefix=f"i{institution.pk}")
        if bound.is_valid():
            try:
                services.places_update(
                    institution=institution, by=request.user, counts=bound.counts()
                )
            except DomainError as exc:
                bound.add_error(None, str(exc.message))
            else:
                messages.success(
                    request,
                    _("The free places of %(name)s are saved.") % {"name": institution.name},
                )
                return redirect(reverse("referrals:places") + f"#institution-{institution.pk}")
    blocks = []
    for institution in institutions:
        rows = places_rows_for(institution)
        if bound is not None and bound.prefix == f"i{institution.pk}":
            form = bound
        else:
            form = PlacesForm(
                prefix=f"i{institution.pk}",
                groups=[row.group for row in rows],
                initial={f"free_{row.group}": row.free for row in rows},
            )
        blocks.append(
            {
                "institution": institution,
                "form": form,
                "rows": [(row, form[f"free_{row.group}"]) for row in rows],
            }
        )
    return render(
        request,
        "referrals/places.html",
        {"blocks": blocks, "stale_days": OfficeSettings.current().places_stale_days},
    )
