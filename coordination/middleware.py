"""Request-wide context: the user's language, and the client address for the audit log."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from coordination.audit import reset_request_ip, set_request_ip


class UserLanguageMiddleware:
    """A logged-in user's chosen language wins over the browser's (German by default)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", None) if user and user.is_authenticated else None
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        response = self.get_response(request)
        if language:
            response.headers.setdefault("Content-Language", language)
        return response


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_request_ip(request.META.get("REMOTE_ADDR"))
        try:
            return self.get_response(request)
        finally:
            reset_request_ip(token)
