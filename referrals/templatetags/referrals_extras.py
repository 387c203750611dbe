"""Template tags that show referral information inside case pages.

The cases app must not import referrals (layering); its templates load this library at
render time instead: ``{% load referrals_extras %}{% case_referral_panel case user %}``.
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("referrals/_case_panel.html", takes_context=True)
def case_referral_panel(context: dict[str, Any], case: Any, user: Any) -> dict[str, Any]:
    referrals = list(case.referrals.select_related("institution").order_by("-created_at"))
    return {"case": case, "referrals": referrals, "user": user, "request": context.get("request")}
