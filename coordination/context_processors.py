"""The navigation a role sees (built here, so templates hold no logic)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from coordination import roles

# (role predicate, url name, label); unknown url names are skipped until their app lands.
NAVIGATION: list[tuple[Any, str, Any]] = [
    (roles.is_coordinator, "cases:dashboard", _("Dashboard")),
    (roles.is_coordinator, "cases:list", _("Cases")),
    (roles.is_coordinator, "cases:register", _("Register a child")),
    (roles.is_institution_staff, "referrals:inbox", _("Referrals")),
    (roles.is_institution_staff, "referrals:places", _("Free places")),
    (roles.is_institution_staff, "offers:inbox", _("Offer registrations")),
    (roles.is_coordinator, "offers:catalogue", _("Offers")),
    (roles.may_see_figures, "figures", _("Figures")),
    (roles.is_administrator, "audit_search", _("Audit log")),
    (roles.may_import, "transfer:index", _("Import")),
    (roles.is_administrator, "cases:retention", _("Retention")),
    (roles.is_administrator, "cases:duplicates", _("Duplicates")),
    (roles.is_administrator, "administration:start", _("Administration")),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for allowed, name, label in NAVIGATION:
        if not allowed(user):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": label, "active": False})
    # Only the longest matching entry is the current page (/cases/ and /cases/list/ both match).
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    role_labels = [roles.ROLE_LABELS[r] for r in roles.ROLES if r in roles.role_names(user)]
    return {"nav_items": items, "user_roles": role_labels}
