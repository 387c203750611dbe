"""The public offers page (``/angebote/``) and its printable flyer per district.

No login, no session, no personal data, nothing about cases: only active offers and whom to
contact. Anonymous answers carry ``Cache-Control: public`` and set no cookie (the public
templates use no CSRF token and no messages; the views read neither ``request.session`` nor
``request.user``). The language is ``?lang=`` (German unless another of
``settings.LANGUAGES`` is named): the rest of the app ignores the browser's Accept-Language,
and so does this page, so a shared cache keyed by the URL always holds the right language.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.http import require_GET

from coordination.models import District
from offers.forms import PublicFilterForm
from offers.models import OfferKind
from offers.selectors import PublicFilters, public_districts, public_languages, public_offers

PUBLIC_MAX_AGE = 300  # seconds a browser or proxy may keep the page


def public_language(request: HttpRequest) -> str:
    """The page's language from ``?lang=`` (any of settings.LANGUAGES), else German."""
    wanted = request.GET.get("lang", "")
    codes = [code for code, _name in settings.LANGUAGES]
    return wanted if wanted in codes else settings.LANGUAGE_CODE


def _public(
    request: HttpRequest, template: str, context: dict[str, Any], lang: str
) -> HttpResponse:
    with translation.override(lang):
        response = render(request, template, {**context, "lang": lang,
                                              "languages": settings.LANGUAGES})  # fmt: skip
    response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    response["Content-Language"] = lang
    return response


@require_GET
def public_list(request: HttpRequest) -> HttpResponse:
    """The current offers, filterable by kind, age, district, language and cost."""
    lang = public_language(request)
    with translation.override(lang):
        districts = public_districts()
        form = PublicFilterForm(request.GET, districts=districts, languages=public_languages())
        data = form.cleaned_data if form.is_valid() else {}
        filters = PublicFilters(
            kind=data.get("kind") or "",
            age=data.get("age"),
            district=data.get("district"),
            language=data.get("language") or "",
            free_only=bool(data.get("free")),
        )
        offers = public_offers(filters)
    return _public(
        request,
        "offers/public/list.html",
        {"form": form, "offers": offers, "districts": districts, "kinds": OfferKind.choices},
        lang,
    )


@require_GET
def public_flyer(request: HttpRequest, district_pk: int) -> HttpResponse:
    """One printable page of a district's offers (grouped by kind)."""
    lang = public_language(request)
    try:
        district = District.objects.get(pk=district_pk)
    except District.DoesNotExist as exc:
        raise Http404 from exc
    offers = public_offers(PublicFilters(district=district.pk))
    groups = []
    for kind, label in OfferKind.choices:
        found = [o for o in offers if o.kind == kind]
        if found:
            groups.append((label, found))
    return _public(
        request,
        "offers/public/flyer.html",
        {"district": district, "groups": groups, "today": timezone.localdate()},
        lang,
    )
