"""Template tags that show referral information inside case pages.

The cases app must not import referrals (layering); its templates load this library at
render time instead: ``{% load referrals_extras %}{% case_referral_panel case request.user %}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone

from cases.models import State, may_work_case
from coordination.models import OfficeSettings
from referrals.calendars import Calendars
from referrals.models import ReferralState
from referrals.selectors import (
    latest_referral_for_case,
    referral_deadline,
    referrals_for_case_panel,
)

register = template.Library()


@register.inclusion_tag("referrals/_case_panel.html", takes_context=True)
def case_referral_panel(context: dict[str, Any], case: Any, user: Any) -> dict[str, Any]:
    """The case's referrals: state, deadline, answers, reminders; Refer and Withdraw.

    A constant number of queries however many referrals the case has.
    """
    may_work = may_work_case(case, user)
    referrals = referrals_for_case_panel(case)
    expiry_days = OfficeSettings.current().expiry_days
    calendars = Calendars.load()
    rows = [
        {
            "referral": referral,
            "deadline": referral_deadline(referral, expiry_days=expiry_days, calendars=calendars),
            "reminders": list(referral.reminders.all()),
            "may_withdraw": may_work and referral.is_open,
        }
        for referral in referrals
    ]
    return {
        "case": case,
        "rows": rows,
        "may_refer": may_work and case.state == State.READY,
        "has_open": any(r.is_open for r in referrals),
        "request": context.get("request"),
    }


@register.filter
def days_since(value: dt.datetime | dt.date | None) -> int | None:
    """Whole days from a date or time until today (local time)."""
    if value is None:
        return None
    day = timezone.localdate(value) if isinstance(value, dt.datetime) else value
    return max((timezone.localdate() - day).days, 0)


@register.filter
def declined_mark(reason: str | None) -> str:
    """ "already declined: <reason>" for a coded decline reason ("" for none)."""
    from referrals.forms import declined_label

    return declined_label(reason) if reason else ""


@register.inclusion_tag("referrals/_case_next_step.html", takes_context=True)
def case_referral_next_step(context: dict[str, Any], case: Any, user: Any) -> dict[str, Any]:
    """The referral part of the case page's "next step": in "ready" the primary button to
    refer (with a banner when the last referral was declined, expired or not started), in
    "referred" whom the case waits for and until when. One or two queries."""
    may_work = may_work_case(case, user)
    last = None
    deadline = None
    if case.state in (State.READY, State.REFERRED):
        last = latest_referral_for_case(case)
    if last is not None and last.state == ReferralState.PENDING:
        deadline = referral_deadline(last, expiry_days=OfficeSettings.current().expiry_days)
    return {
        "case": case,
        "may_refer": may_work and case.state == State.READY,
        "last": last,
        "ended": last is not None
        and case.state == State.READY
        and last.state in (ReferralState.DECLINED, ReferralState.EXPIRED, ReferralState.NO_SHOW),
        "deadline": deadline,
        "request": context.get("request"),
    }
