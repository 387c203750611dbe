"""E-mails about referrals. E-mail is not an encrypted channel: case reference and link only.

A referral (and its withdrawal) is announced to the institution's contact address; every
answer (accepted, declined, enrolled, did not start) goes to the case's coordinator, or the
team's shared mailbox, or the office's mailbox. Mails are written in German.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from referrals.models import Referral

# Kinds the institution is told about; every other kind goes to the coordinator's side.
TO_INSTITUTION = frozenset({"created", "withdrawn"})
KINDS = frozenset({"created", "withdrawn", "accepted", "declined", "enrolled", "no_show"})


def _recipients(kind: str, referral: Referral) -> list[str]:
    if kind in TO_INSTITUTION:
        return [referral.institution.email] if referral.institution.email else []
    coordinator = referral.case.coordinator
    if coordinator is not None and coordinator.is_active and coordinator.email:
        return [coordinator.email]
    team = referral.case.team
    return [team.mailbox] if team.mailbox else [settings.OFFICE_MAILBOX]


def send_referral_mail(*, kind: str, referral_id: int) -> str:
    """Send one notification; returns what happened (for the task's result and logs)."""
    if kind not in KINDS:
        return "unknown kind"
    # Only the reference and the addresses are read: no personal field is decrypted.
    referral = (
        Referral.objects.select_related("case", "case__coordinator", "case__team", "institution")
        .only(
            "pk",
            "state",
            "case",
            "institution",
            "case__coordinator",
            "case__team",
            "case__reference",
            "case__state",
            "case__coordinator__email",
            "case__coordinator__is_active",
            "case__team__mailbox",
            "institution__name",
            "institution__email",
        )
        .filter(pk=referral_id)
        .first()
    )
    if referral is None:
        return "referral gone"
    recipients = _recipients(kind, referral)
    if not recipients:
        return "no recipient"
    path = (
        reverse("referrals:detail", args=[referral.pk])
        if kind in TO_INSTITUTION
        else reverse("cases:detail", args=[referral.case_id])
    )
    context = {
        "kind": kind,
        "reference": referral.case.reference,
        "institution": referral.institution.name,
        "link": settings.SITE_URL.rstrip("/") + path,
    }
    with translation.override("de"):
        subject = " ".join(render_to_string("referrals/email/subject.txt", context).split())
        body = render_to_string("referrals/email/body.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return "sent"
