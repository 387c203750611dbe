"""Error pages in the product's layout, in the user's language (German first).

Django's own technical pages (the English debug 404 and 500) appear only with ``DEBUG`` on;
these handlers answer otherwise (tests/coordination/test_error_pages.py).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils import translation


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: the failure may be in them. The language the request was served
    # in (UserLanguageMiddleware), else the office's: the failure may have come before it.
    language = getattr(request, "LANGUAGE_CODE", None) or settings.LANGUAGE_CODE
    with translation.override(language):
        body = loader.get_template("500.html").render()
    response = HttpResponse(body, status=500)
    response.headers["Content-Language"] = language
    return response
