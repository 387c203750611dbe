"""Request-wide concerns: the health answer, the user's language, the audit context, the second
factor, admin access logging and private responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from coordination.audit import (
    audit_log,
    client_ip,
    reset_request_ip,
    reset_request_user,
    set_request_ip,
    set_request_user,
)

HEALTHZ_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answer ``GET /healthz`` first, before the host check and the HTTPS redirect.

    Docker's health check asks ``http://127.0.0.1:8000/healthz`` inside the container: that
    is neither an allowed host nor HTTPS, so Django would answer 400 or 301 instead of the
    health. The answer names component states only (no host, no data) and reads no session.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTHZ_PATH and request.method == "GET":
            from coordination.views import healthz

            return healthz(request)
        return self.get_response(request)


class UserLanguageMiddleware:
    """German first: every request is German unless the logged-in user chose English.

    The browser's Accept-Language is ignored on purpose (no LocaleMiddleware).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", None) if user and user.is_authenticated else None
        language = chosen if chosen in {"de", "en"} else settings.LANGUAGE_CODE
        # Activated on every request (like Django's LocaleMiddleware), so the language of
        # one request never carries over to the next one of the same thread.
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class AuditContextMiddleware:
    """Make the client address and the user known to ``audit_log`` for this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_request_ip(client_ip(request))
        user_token = set_request_user(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            reset_request_user(user_token)
            reset_request_ip(token)


# Pages a user who still owes the second factor may open (everything else redirects).
SECOND_FACTOR_EXEMPT = {
    "otp_enrol",
    "otp_setup",
    "otp_verify",
    "login",
    "logout",
    "healthz",
    "set_language",
    "admin:logout",
    "angebote:list",  # the public offers page and its flyer: public, whoever asks
    "angebote:flyer",
}


class SecondFactorMiddleware:
    """Send users who must use a second factor (by role, or by their own choice) to the TOTP
    setup or verify page until this session is verified (django-otp's ``is_verified``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        from coordination.otp_views import second_factor_redirect

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.view_name in SECOND_FACTOR_EXEMPT:
            return None
        return second_factor_redirect(request)


_ADMIN_VIEWS = ("_changelist", "_change")


class AdminAccessAuditMiddleware:
    """Log every Django admin page that shows an encrypted field in clear (a change form or a
    list column), so an administrator cannot read personal data there unlogged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if (
            match is not None
            and match.namespace == "admin"
            and request.method == "GET"
            and response.status_code == 200
            and match.url_name
            and match.url_name.endswith(_ADMIN_VIEWS)
            and getattr(request, "user", None) is not None
            and request.user.is_authenticated
        ):
            _audit_admin_view(request, match.url_name, match.kwargs)
        return response


def _audit_admin_view(
    request: HttpRequest, url_name: str, kwargs: dict[str, Any], site: Any = None
) -> None:
    from django.contrib import admin

    from coordination.fields import encrypted_fields

    for model, model_admin in (site or admin.site)._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        if not url_name.startswith(prefix + "_"):
            continue
        kind = url_name.removeprefix(prefix + "_")
        if kind not in {"changelist", "change"}:
            continue
        secret = {f.name for f in encrypted_fields(model)}
        if not secret:
            return
        if kind == "change":
            shown = set(_flatten(model_admin.get_fields(request)))
        else:
            shown = {c for c in model_admin.get_list_display(request) if isinstance(c, str)}
        exposed = sorted(secret & shown)
        if exposed:
            audit_log(
                actor=request.user,
                action=f"admin.view_{kind}",
                object_type=model._meta.label_lower,
                object_id=str(kwargs.get("object_id", "")),
                fields=exposed,
            )
        return


def _flatten(items: Any) -> list[str]:
    out: list[str] = []
    for item in items or ():
        if isinstance(item, list | tuple):
            out.extend(_flatten(item))
        else:
            out.append(str(item))
    return out


class PrivateResponseMiddleware:
    """Pages shown to a logged-in user may hold personal data: no browser or proxy caches
    them. Also deny powerful browser features the product never uses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response.headers["Cache-Control"] = "no-store, private"
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response
