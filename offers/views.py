"""Offers views for logged-in users: the catalogue and its editing, the coordinator's
registration of a case, the provider inbox and the registration page with its answers.

Thin: parse, authorise through a selector (a registration or case the user may not see is a
404), call one service, render. Domain errors become form errors, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_fsm import has_transition_perm

from cases.models import may_work_case
from cases.selectors import case_get_for_user
from coordination.audit import audit_log
from coordination.exceptions import DomainError
from coordination.http import AuthenticatedRequest
from coordination.roles import is_coordinator, is_institution_staff
from offers import services
from offers.forms import (
    ConfirmForm,
    DayForm,
    DeclineForm,
    OfferForm,
    PlacesForm,
    RegistrationCreateForm,
    WithdrawForm,
)
from offers.models import OfferRegistration, provider_has_login
from offers.selectors import (
    offer_get_for_editor,
    offers_active,
    offers_editable_by,
    offers_suggested_for,
    providers_editable_by,
    providers_of,
    registration_get_for_page,
    registration_page_fields,
    registrations_inbox,
)

PAGE_SIZE = 50


def _editor_only(request: HttpRequest) -> None:
    user = request.user
    if not (services.may_edit_offers(user) or is_institution_staff(user)):
        raise PermissionDenied


# --- the catalogue -------------------------------------------------------------------------


@login_required
def catalogue(request: HttpRequest) -> HttpResponse:
    """The offers the user keeps: every offer for coordinators and administrators, the own
    providers' offers for provider staff."""
    _editor_only(request)
    page = Paginator(offers_editable_by(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "offers/catalogue.html",
        {"page": page, "may_create": providers_editable_by(request.user).exists()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create or change an offer."""
    _editor_only(request)
    offer = offer_get_for_editor(user=request.user, pk=pk) if pk is not None else None
    providers = providers_editable_by(request.user)
    if offer is None and not providers.exists():
        raise PermissionDenied
    form = OfferForm(request.POST or None, instance=offer, providers=providers)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.offer_save(by=request.user, data=form.cleaned_data, offer=offer)
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("The offer “%(title)s” is saved.") % {"title": saved.title})
            return redirect("offers:catalogue")
    return render(request, "offers/edit.html", {"form": form, "offer": offer})


@login_required
@require_POST
def places(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the free places of one offer (provider staff or an editor)."""
    _editor_only(request)
    offer = offer_get_for_editor(user=request.user, pk=pk)
    form = PlacesForm(request.POST)
    if form.is_valid():
        try:
            services.offer_places_update(
                offer=offer, by=request.user, free_places=form.cleaned_data["free_places"]
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("The free places of “%(title)s” are saved.")
                             % {"title": offer.title})  # fmt: skip
    else:
        messages.error(request, _("Free places must be a whole number between 0 and 9999."))
    return redirect("offers:catalogue")


# --- the coordinator ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def register(request: AuthenticatedRequest, case_pk: int) -> HttpResponse:
    """Register a case for an offer (any state of an open case); suggestions first."""
    if not is_coordinator(request.user):
        raise Http404
    case = case_get_for_user(user=request.user, pk=case_pk)
    if not may_work_case(case, request.user):
        raise Http404
    choices = offers_active().order_by("kind", "title", "pk")
    if request.method == "POST":
        form = RegistrationCreateForm(request.POST, offers=choices)
        if form.is_valid():
            try:
                services.registration_create(
                    case=case, offer=form.cleaned_data["offer"], by=request.user,
                    message=form.cleaned_data["message"],
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("The child is registered for the offer."))
                return redirect("cases:detail", pk=case.pk)
    else:
        form = RegistrationCreateForm(initial={"offer": request.GET.get("offer")}, offers=choices)
    return render(
        request,
        "offers/register.html",
        {"case": case, "form": form, "suggestions": offers_suggested_for(case)},
    )


# --- the provider --------------------------------------------------------------------------------


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """Registrations for the user's providers: requested first, with days waiting."""
    if not is_institution_staff(request.user):
        raise PermissionDenied
    show = "all" if request.GET.get("show") == "all" else "open"
    page = Paginator(registrations_inbox(user=request.user, show=show), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "offers/inbox.html",
        {"page": page, "show": show, "providers": list(providers_of(request.user))},
    )


def _answer_forms(registration: OfferRegistration, user: Any) -> dict[str, Form]:
    """The answer forms the user may use now."""
    forms: dict[str, Form] = {}
    if has_transition_perm(registration.confirm, user):
        forms["confirm"] = ConfirmForm(prefix="confirm")
    if has_transition_perm(registration.decline, user):
        forms["decline"] = DeclineForm(prefix="decline")
    if has_transition_perm(registration.start, user):
        forms["start"] = DayForm(prefix="start")
    if has_transition_perm(registration.end, user):
        forms["end"] = DayForm(prefix="end")
    if has_transition_perm(registration.drop_out, user):
        forms["drop_out"] = DayForm(prefix="drop_out")
    if has_transition_perm(registration.withdraw, user):
        forms["withdraw"] = WithdrawForm(prefix="withdraw")
    return forms


def _render_detail(
    request: HttpRequest, registration: OfferRegistration, bound: dict[str, Form] | None = None
) -> HttpResponse:
    audit_log(
        actor=request.user, action="offer_registration.view", obj=registration,
        case_reference=registration.case.reference, fields=registration_page_fields(),
    )  # fmt: skip
    forms = _answer_forms(registration, request.user)
    forms.update({k: v for k, v in (bound or {}).items() if k in forms})
    return render(
        request,
        "offers/registration.html",
        {
            "registration": registration,
            "case": registration.case,
            "offer": registration.offer,
            "coordinator": registration.case.coordinator,
            "forms": forms,
            "provider_has_login": provider_has_login(registration.offer.provider),
            "is_staff_view": is_institution_staff(request.user),
        },
    )


@login_required
def registration(request: HttpRequest, pk: int) -> HttpResponse:
    """The registration with only what the provider needs; every view is logged."""
    return _render_detail(request, registration_get_for_page(user=request.user, pk=pk))


def _answer(
    request: HttpRequest,
    pk: int,
    name: str,
    form_class: type[Form],
    call: Callable[[OfferRegistration, dict[str, Any]], Any],
    done: str,
) -> HttpResponse:
    if not (is_institution_staff(request.user) or is_coordinator(request.user)):
        raise PermissionDenied
    registration = registration_get_for_page(user=request.user, pk=pk)
    form = form_class(request.POST, prefix=name)
    if form.is_valid():
        try:
            call(registration, form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, done)
            return redirect("offers:registration", pk=registration.pk)
    registration = registration_get_for_page(user=request.user, pk=pk)
    if name not in _answer_forms(registration, request.user):
        for error in form.non_field_errors():
            messages.error(request, str(error))
        if not form.non_field_errors():
            messages.error(request, _("This step is not possible in the current state."))
        return redirect("offers:registration", pk=registration.pk)
    return _render_detail(request, registration, bound={name: form})


@login_required
@require_POST
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "confirm", ConfirmForm,
        lambda r, d: services.registration_confirm(
            registration=r, by=request.user, comment=d["comment"]
        ),
        _("The registration is confirmed."),
    )  # fmt: skip


@login_required
@require_POST
def decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "decline", DeclineForm,
        lambda r, d: services.registration_decline(
            registration=r, by=request.user, reason=d["reason"], comment=d["comment"]
        ),
        _("The registration is declined."),
    )  # fmt: skip


@login_required
@require_POST
def start(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "start", DayForm,
        lambda r, d: services.registration_start(registration=r, by=request.user,
                                                 first_day=d["day"]),
        _("The first day attended is recorded."),
    )  # fmt: skip


@login_required
@require_POST
def end(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "end", DayForm,
        lambda r, d: services.registration_end(registration=r, by=request.user, last_day=d["day"]),
        _("The end of the attendance is recorded."),
    )  # fmt: skip


@login_required
@require_POST
def drop_out(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "drop_out", DayForm,
        lambda r, d: services.registration_drop_out(registration=r, by=request.user,
                                                    last_day=d["day"]),
        _("The drop-out is recorded."),
    )  # fmt: skip


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request, pk, "withdraw", WithdrawForm,
        lambda r, d: services.registration_withdraw(registration=r, by=request.user,
                                                    comment=d["comment"]),
        _("The registration is withdrawn."),
    )  # fmt: skip
