"""The referrals' part of a case's full record, Art. 15 copy and erasure (see cases/extensions.py).

Registered in ``ReferralsConfig.ready()``, so ``cases`` never imports this app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.access import display, jsonable, record_rows, record_values
from cases.extensions import CaseExtension
from cases.models import Case
from referrals.models import OPEN_REFERRAL_STATES, DeclineReason, Referral, ReminderLog

REFERRAL_FIELDS = (
    "institution",
    "group",
    "state",
    "created_at",
    "waitlist",
    "message",
    "answered_at",
    "decline_reason",
    "answer_comment",
    "start_date",
    "enrolled_on",
    "closed_at",
)


def _has_open(case: Case) -> bool:
    return Referral.objects.filter(case_id=case.pk, state__in=OPEN_REFERRAL_STATES).exists()


def _record(case: Case) -> list[dict[str, Any]]:
    items = []
    for referral in (
        Referral.objects.filter(case_id=case.pk)
        .select_related("institution")
        .order_by("created_at")
    ):
        rows = record_rows(referral, REFERRAL_FIELDS)
        items.append({"id": referral.pk, "rows": rows, **record_values(rows)})
    return items


def _reminders(items: list[dict[str, Any]]) -> None:
    """Attach the reminders sent about each referral (Art. 15: recipients and when)."""
    out: dict[int, list[dict[str, Any]]] = {}
    if items:
        for rem in ReminderLog.objects.filter(referral_id__in=[r["id"] for r in items]).order_by(
            "created_at"
        ):
            out.setdefault(rem.referral_id, []).append(
                {
                    "level": rem.level,
                    "level_display": rem.get_level_display(),
                    "due_at": jsonable(rem.created_at),
                    "sent_at": jsonable(rem.sent_at),
                    "sent_display": display(rem, "sent_at"),
                    "outcome": rem.outcome,
                    "outcome_display": rem.get_outcome_display(),
                }
            )
    for item in items:
        item["reminders"] = out.get(item["id"], [])


def _recipients(items: list[dict[str, Any]]) -> Mapping[tuple[str, str], str]:
    return {("referrals.referral", str(r["id"])): str(r.get("institution") or "") for r in items}


REFERRALS_EXTENSION = CaseExtension(
    name="referrals",
    has_open=_has_open,
    record=_record,
    access_details=_reminders,
    recipients=_recipients,
    coded_reasons=lambda: {str(v) for v in DeclineReason.values},
)
