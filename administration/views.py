"""The administrators' start page (``/verwaltung/``) and the unlock of a locked account."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from administration import selectors
from administration.services import account_unlock
from coordination.roles import ROLE_LABELS, ROLES, is_administrator

# (label, URL name or names tried in turn, query string): apps built in parallel (offers,
# imports) appear once their URL exists.
Link = tuple[Any, tuple[str, ...], str]
SECTIONS: list[tuple[Any, Any, list[Link]]] = [
    (
        _("Users and roles"),
        _("Accounts, their roles (groups), teams and second-factor devices."),
        [
            (_("Users"), ("admin:coordination_user_changelist",), ""),
            (_("Roles (groups)"), ("admin:auth_group_changelist",), ""),
            (_("Teams"), ("admin:coordination_team_changelist",), ""),
            (_("Second-factor devices"), ("admin:otp_totp_totpdevice_changelist",), ""),
            (_("Failed logins"), ("admin:axes_accessfailurelog_changelist",), ""),
        ],
    ),
    (
        _("Places and offers"),
        _("Districts, schools and Kitas, education offers."),
        [
            (_("Districts"), ("admin:coordination_district_changelist",), ""),
            (_("Institutions"), ("admin:referrals_institution_changelist",), ""),
            (_("Offers"), ("admin:offers_offer_changelist",), ""),
        ],
    ),
    (
        _("Office settings"),
        _("Deadlines, reminders, retention periods, the second factor per role."),
        [(_("Office settings"), ("admin:coordination_officesettings_changelist",), "")],
    ),
    (
        _("Data protection"),
        _("Who saw or changed what; what is deleted when; children registered twice."),
        [
            (_("Audit log"), ("audit_search",), ""),
            (_("Retention and archive"), ("cases:retention",), ""),
            (_("Duplicate report"), ("cases:duplicates",), ""),
        ],
    ),
    (
        _("Imports"),
        _("Taking over cases from lists of other offices."),
        [(_("Imports"), ("transfer:start", "transfer:index", "transfer:import"), "")],
    ),
    (
        _("Outgoing e-mails"),
        _("Every e-mail is stored before it is sent; failed ones can be sent again."),
        [
            (
                _("Failed e-mails"),
                ("admin:coordination_outboxmessage_changelist",),
                "?state__exact=failed",
            ),
            (_("All e-mails"), ("admin:coordination_outboxmessage_changelist",), ""),
        ],
    ),
]


def _url(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def sections() -> list[dict[str, Any]]:
    """The page's sections with the links whose pages exist."""
    built = []
    for title, text, links in SECTIONS:
        items = [
            {"label": label, "url": url + query}
            for label, names, query in links
            if (url := _url(names)) is not None
        ]
        if items:
            built.append({"title": title, "text": text, "links": items})
    return built


class UnlockForm(forms.Form):
    username = forms.CharField(max_length=150)


def _administrator_only(request: HttpRequest) -> None:
    if not is_administrator(request.user):
        raise PermissionDenied


@login_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    _administrator_only(request)
    counts = selectors.counts()
    return render(
        request,
        "administration/start.html",
        {
            "sections": sections(),
            "locked": selectors.locked_accounts(),
            "counts": counts,
            "roles": [(ROLE_LABELS[r], counts.users_by_role[r]) for r in ROLES],
            "health": selectors.system_health(),
            "failure_limit": selectors.failure_limit(),
        },
    )


@login_required
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    _administrator_only(request)
    form = UnlockForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("No user name was given: nothing was unlocked."))
        return redirect("administration:start")
    username = form.cleaned_data["username"]
    removed = account_unlock(by=request.user, username=username)
    if removed:
        messages.success(
            request,
            ngettext(
                "%(name)s can log in again (%(count)d failed attempt removed).",
                "%(name)s can log in again (%(count)d failed attempts removed).",
                removed,
            )
            % {"name": username, "count": removed},
        )
    else:
        messages.info(request, _("%(name)s was not locked.") % {"name": username})
    return redirect("administration:start")
