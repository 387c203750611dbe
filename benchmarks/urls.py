"""The bench's URLs: the product's, plus a floor page that exists only here.

The floor page goes through the whole middleware stack as a logged-in user (session, auth,
second factor, audit context, CSP, ...) and renders a trivial template with the request's
context processors, but runs no query of its own: what any page costs before its view does
anything. The load test serves it next to the case list (benchmarks/load.py). It is not in
``coordination.urls``: ``benchmarks.settings`` sets ``ROOT_URLCONF`` to this module.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from coordination.urls import urlpatterns as product_urlpatterns

FLOOR_PATH = "/bench/floor/"

_TEMPLATE = engines["django"].from_string(
    '<!doctype html><html lang="{{ LANGUAGE_CODE }}"><title>floor</title>'
    "<p>{{ user.get_username }}</p><form method=post>{% csrf_token %}</form></html>"
)


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_TEMPLATE.render({}, request))


urlpatterns = [path(FLOOR_PATH.strip("/") + "/", floor, name="bench_floor"), *product_urlpatterns]
