"""The offer registrations' part of a case's full record and Art. 15 copy
(see cases/extensions.py).

Registered in ``OffersConfig.ready()``. There is no ``has_open`` on purpose: a registration
for an offer never blocks holding or closing the case, nor its placement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.access import record_rows, record_values
from cases.extensions import CaseExtension
from cases.models import Case
from offers.models import OfferRegistration, RegistrationDeclineReason

REGISTRATION_FIELDS = (
    "offer",
    "state",
    "created_at",
    "message",
    "answered_at",
    "decline_reason",
    "answer_comment",
    "started_on",
    "ended_on",
    "closed_at",
)


def _record(case: Case) -> list[dict[str, Any]]:
    items = []
    for registration in (
        OfferRegistration.objects.filter(case_id=case.pk)
        .select_related("offer", "offer__provider")
        .order_by("created_at", "pk")
    ):
        rows = record_rows(registration, REGISTRATION_FIELDS)
        item = {"id": registration.pk, "rows": rows, **record_values(rows)}
        # The organisation that received the child's data (the report's recipients list
        # reads "institution").
        item["provider"] = item["institution"] = registration.offer.provider.name
        items.append(item)
    return items


def _recipients(items: list[dict[str, Any]]) -> Mapping[tuple[str, str], str]:
    return {("offers.offerregistration", str(r["id"])): str(r.get("provider") or "") for r in items}


OFFERS_EXTENSION = CaseExtension(
    name="offers",
    has_open=None,
    record=_record,
    recipients=_recipients,
    coded_reasons=lambda: {str(v) for v in RegistrationDeclineReason.values},
)
