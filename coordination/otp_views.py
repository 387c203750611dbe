"""The optional second factor (TOTP, django-otp): set-up, verification, and who must use it.

An administrator requires it per role (``OfficeSettings.otp_required_roles``, administrators
by default); anyone may set it up for themselves, and from then on their logins need it too.
``SecondFactorMiddleware`` sends a user who owes the second factor here until the session is
verified. A user whose role requires it sets up the first device only after entering a
one-time enrolment code from an administrator: the password alone never reaches the secret
(docs/second-factor.md).
"""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import match_token, user_has_device

from coordination.audit import audit_log
from coordination.forms import KernForm
from coordination.http import AuthenticatedRequest
from coordination.models import OfficeSettings
from coordination.roles import ADMINISTRATOR, role_names
from coordination.services import (
    enrolment_code_redeem,
    otp_device_confirm,
    otp_device_for_setup,
)

_HAS_DEVICE = "_ankommen_otp_has_device"
# The id of the user who entered a valid enrolment code in this session.
_ENROLMENT_OK = "_ankommen_otp_enrolment_ok"


class TokenForm(KernForm):
    token = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=8,
        min_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip().replace(" ", "")
        if not token.isdigit():
            raise forms.ValidationError(_("The code consists of digits only."), "digits")
        return token


class EnrolmentCodeForm(KernForm):
    code = forms.CharField(
        label=_("Enrolment code from your administrator"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


def roles_requiring_second_factor() -> set[str]:
    return {str(r) for r in (OfficeSettings.current().otp_required_roles or [])}


def second_factor_required(user: Any) -> bool:
    """True when this user's role requires the second factor (administrators include
    superusers)."""
    roles = set(role_names(user))
    if getattr(user, "is_superuser", False):
        roles.add(ADMINISTRATOR)
    return bool(roles & roles_requiring_second_factor())


def _has_device(request: HttpRequest) -> bool:
    # Remembered for the session: a device set up elsewhere counts from the next login.
    known = request.session.get(_HAS_DEVICE)
    if known is None:
        known = user_has_device(request.user, confirmed=True)
        request.session[_HAS_DEVICE] = known
    return bool(known)


def second_factor_redirect(request: HttpRequest) -> HttpResponse | None:
    """Where an unverified user who owes the second factor must go first (or None)."""
    user = request.user
    if user.is_verified():  # type: ignore[union-attr]
        return None
    has_device = _has_device(request)
    if not (has_device or second_factor_required(user)):
        return None
    if has_device:
        target = reverse("otp_verify")
    else:
        target = reverse("otp_setup" if _may_set_up(request) else "otp_enrol")
    return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


def _with_next(view_name: str, request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse(view_name)}?{urlencode({'next': _next_url(request)})}")


def _may_set_up(request: HttpRequest) -> bool:
    """A required user sets up the first device only after a valid enrolment code; whoever
    sets it up voluntarily needs the password only."""
    return request.session.get(_ENROLMENT_OK) == request.user.pk or not second_factor_required(
        request.user
    )


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
def otp_setup(request: AuthenticatedRequest) -> HttpResponse:
    """Create the user's TOTP device and confirm it with a first code."""
    user = request.user
    if user_has_device(user, confirmed=True):
        # Never a second device without the first: that would bypass the factor.
        return _with_next("otp_verify", request)
    if not _may_set_up(request):
        return _with_next("otp_enrol", request)
    device = otp_device_for_setup(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if otp_device_confirm(user=user, device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            request.session[_HAS_DEVICE] = True
            return redirect(_next_url(request))
        form.add_error("token", _("This code is not valid. Check your device's clock."))
    secret = base64.b32encode(device.bin_key).decode("ascii")
    return render(
        request,
        "coordination/otp_setup.html",
        {
            "form": form,
            "secret": _grouped(secret),
            "config_url": device.config_url,
            "next": _next_url(request),
            "required": second_factor_required(user),
        },
    )


@never_cache
@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Ask for the current code of the user's device."""
    user = request.user
    if not user_has_device(user, confirmed=True):
        return _with_next("otp_setup", request)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            audit_log(actor=user, action="auth.otp_verified", obj=user)
            return redirect(_next_url(request))
        audit_log(actor=user, action="auth.otp_failed", obj=user, detail={"step": "verify"})
        form.add_error("token", _("This code is not valid. Wait for the next code and try again."))
    return render(
        request, "coordination/otp_verify.html", {"form": form, "next": _next_url(request)}
    )


@never_cache
@login_required
def otp_enrol(request: HttpRequest) -> HttpResponse:
    """Ask a user whose role requires the second factor for their one-time enrolment code."""
    user = request.user
    if user_has_device(user, confirmed=True) or _may_set_up(request):
        return _with_next("otp_setup", request)
    form = EnrolmentCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if enrolment_code_redeem(user=user, code=form.cleaned_data["code"]):
            request.session[_ENROLMENT_OK] = user.pk
            return _with_next("otp_setup", request)
        form.add_error(
            "code",
            _(
                "This code is not valid. A code can be used once and only for a few days; "
                "ask an administrator for a new one."
            ),
        )
    return render(
        request, "coordination/otp_enrol.html", {"form": form, "next": _next_url(request)}
    )
