"""Role-aware home page, the health check, and the language switch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from coordination import roles
from coordination.forms import LoginForm
from coordination.health import health
from coordination.http import AuthenticatedRequest
from coordination.services import user_set_language

START_PAGES = [
    (roles.is_coordinator, "cases:dashboard"),
    (roles.is_institution_staff, "referrals:inbox"),
    (roles.is_management, "figures"),
    # The administrators' own start page (the top app ``administration``, by its URL name).
    (roles.is_administrator, "administration:start"),
    (roles.is_administrator, "admin:index"),
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its start page; a user without a role sees an explanation."""
    for allowed, name in START_PAGES:
        if allowed(request.user):
            try:
                return redirect(reverse(name))
            except NoReverseMatch:
                continue
    return render(request, "coordination/no_role.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Each component's state; 503 only when the app cannot serve (database down)."""
    report = health()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)


@login_required
@require_POST
def set_language(request: AuthenticatedRequest) -> HttpResponse:
    """Store the user's language (German or English) and return to the page."""
    user_set_language(user=request.user, language=request.POST.get("language", ""))
    target = request.POST.get("next") or "/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    return redirect(target)


class LoginView(auth_views.LoginView):
    """Django's login with plain messages (``coordination.forms.LoginForm``)."""

    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Django's logout; the login page it leads to then says "You are logged out"."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            # After the session was flushed: the message lives in the new one (or its cookie).
            # The login page it is shown on is in the office's language, as for anyone.
            with translation.override(settings.LANGUAGE_CODE):
                messages.success(request, _("You are logged out."))
        return response


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lock-out page (``AXES_LOCKOUT_CALLABLE``): how long, and whom to ask."""
    from axes.conf import settings as axes_settings
    from axes.helpers import get_cool_off, get_failure_limit

    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    context = {"failure_limit": get_failure_limit(request, credentials), "cooloff_minutes": minutes}
    return render(
        request,
        "registration/locked_out.html",
        context,
        status=axes_settings.AXES_HTTP_RESPONSE_CODE,
    )
