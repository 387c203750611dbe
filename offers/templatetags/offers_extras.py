"""Template tags that show offers inside case pages and the coordinator's dashboard.

The cases app must not import offers (layering); its templates load this library at render
time instead: ``{% load offers_extras %}{% case_offers_panel case request.user %}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone

from cases.models import may_work_case
from offers.selectors import (
    offers_suggested_for,
    registrations_for_case_panel,
    registrations_work_queue,
)

register = template.Library()


@register.inclusion_tag("offers/_case_panel.html", takes_context=True)
def case_offers_panel(context: dict[str, Any], case: Any, user: Any) -> dict[str, Any]:
    """The case's offer registrations and the offers that fit the child (with the reason).

    Shown in every state of an open case, waiting for a place included; never part of the
    placement.
    """
    may_work = may_work_case(case, user) and case.erased_at is None and case.state != "closed"
    return {
        "case": case,
        "registrations": registrations_for_case_panel(case),
        "suggestions": offers_suggested_for(case) if may_work else [],
        "may_register": may_work,
        "request": context.get("request"),
    }


@register.inclusion_tag("offers/_dashboard_panel.html")
def dashboard_offers_panel(user: Any) -> dict[str, Any]:
    """The coordinator's work queue of offer registrations waiting for an answer."""
    return registrations_work_queue(user=user)


@register.filter
def days_since(value: dt.datetime | dt.date | None) -> int | None:
    """Whole days from a date or time until today (local time)."""
    if value is None:
        return None
    day = timezone.localdate(value) if isinstance(value, dt.datetime) else value
    return max((timezone.localdate() - day).days, 0)
