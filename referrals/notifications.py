"""E-mails about referrals. E-mail is not an encrypted channel: case reference and link only."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from referrals.models import Referral


def _recipients(kind: str, referral: Referral) -> list[str]:
    if kind == "created" or kind == "withdrawn":
        return [referral.institution.email] if referral.institution.email else []
    coordinator = referral.case.coordinator
    if coordinator is not None and coordinator.email:
        return [coordinator.email]
    team = referral.case.team
    return [team.mailbox] if team.mailbox else [settings.OFFICE_MAILBOX]


def send_referral_mail(*, kind: str, referral_id: int) -> str:
    referral = Referral.objects.select_related("case__coordinator", "case__team", "institution").get(
        pk=referral_id
    )
    recipients = _recipients(kind, referral)
    if not recipients:
        return "no recipient"
    to_institution = kind in {"created", "withdrawn"}
    path = (
        reverse("referrals:detail", args=[referral.pk])
        if to_institution
        else reverse("cases:detail", args=[referral.case_id])
    )
    context = {
        "kind": kind,
        "reference": referral.case.reference,
        "institution": referral.institution.name,
        "link": settings.SITE_URL.rstrip("/") + path,
    }
    with translation.override("de"):
        subject = render_to_string("referrals/email/subject.txt", context).strip()
        body = render_to_string("referrals/email/body.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return "sent"
