"""Role-aware home page, the health check, and the language switch."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from coordination import roles
from coordination.health import health
from coordination.http import AuthenticatedRequest
from coordination.services import user_set_language

START_PAGES = [
    (roles.is_coordinator, "cases:dashboard"),
    (roles.is_institution_staff, "referrals:inbox"),
    (roles.is_management, "figures"),
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
