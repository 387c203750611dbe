"""Every e-mail of the referrals app: who gets it, its text, and its outbox row.

One place for the recipients (``coordinator_contact`` and friends) and the rendering of the
referral notifications, the reminders and the weekly digest. Each function writes outbox rows
(``coordination.outbox.mail_enqueue``, one row per address) in the caller's transaction; the
worker sends them. E-mail is not an encrypted channel: mails carry the case reference, the
institution's name and a link, nothing about the child.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import Case
from coordination.models import OfficeSettings, OutboxMessage, Team, User
from coordination.outbox import MailDraft, mail_enqueue
from coordination.workdays import Calendar, working_days_between
from referrals.calendars import answer_deadline
from referrals.models import DigestLog, Referral, ReminderLog

Level = ReminderLog.Level
Recipient = ReminderLog.Recipient

# Notifications the institution is told about; every other kind goes to the coordinator's side.
TO_INSTITUTION = frozenset({"created", "withdrawn"})
KINDS = frozenset({"created", "withdrawn", "accepted", "declined", "enrolled", "no_show"})
ACCEPTED_LEVELS = (Level.ENROL_REMINDER, Level.ENROL_NOTICE)

REMINDER_TYPE = "referrals.reminderlog"
DIGEST_TYPE = "referrals.digestlog"


# --- who gets it -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    role: str  # a ReminderLog.Recipient value
    address: str
    language: str


def _team_contact(team: Team) -> Contact:
    if team.mailbox:
        return Contact(Recipient.TEAM_MAILBOX, team.mailbox, settings.LANGUAGE_CODE)
    return Contact(Recipient.OFFICE_MAILBOX, settings.OFFICE_MAILBOX, settings.LANGUAGE_CODE)


def user_contact(user: User | None, role: str) -> Contact | None:
    if user is not None and user.is_active and user.email:
        return Contact(role, user.email, user.language or settings.LANGUAGE_CODE)
    return None


def coordinator_contact(case: Case) -> Contact:
    """The case's coordinator; else the team's mailbox; else the office's."""
    return user_contact(case.coordinator, Recipient.COORDINATOR) or _team_contact(case.team)


def lead_contact(case: Case) -> Contact:
    """The team lead of the case's team; else the team's mailbox; else the office's."""
    return user_contact(case.team.lead, Recipient.TEAM_LEAD) or _team_contact(case.team)


def institution_contact(referral: Referral) -> Contact:
    return Contact(Recipient.INSTITUTION, referral.institution.email, settings.LANGUAGE_CODE)


def reminder_contacts(level: str, referral: Referral) -> list[tuple[str, Contact]]:
    """Who each level goes to, and which text they get ("audience" in the templates)."""
    case = referral.case
    if level in (Level.REMINDER_1, Level.ENROL_REMINDER):
        return [("institution", institution_contact(referral))]
    if level == Level.REMINDER_2:
        return [
            ("institution", institution_contact(referral)),
            ("coordinator", coordinator_contact(case)),
        ]
    if level == Level.ESCALATION:
        return [("lead", lead_contact(case))]
    return [("coordinator", coordinator_contact(case))]  # exp, e2


def link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _render(name: str, context: dict[str, object], language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = render_to_string(f"referrals/email/{name}subject.txt", context)
        body = render_to_string(f"referrals/email/{name}body.txt", context)
    return " ".join(subject.split()), body


# --- a referral made or answered -------------------------------------------------------------


def notification_enqueue(*, kind: str, referral_id: int) -> OutboxMessage | None:
    """Tell the other side that a referral was made or answered (in German, no personal data).

    Runs in the service's transaction: a rolled-back answer leaves no mail.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown referral notification {kind!r}")
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
            "case__coordinator__language",
            "case__team__mailbox",
            "institution__name",
            "institution__email",
        )
        .get(pk=referral_id)
    )
    if kind in TO_INSTITUTION:
        address = referral.institution.email
        path = reverse("referrals:detail", args=[referral.pk])
    else:
        address = coordinator_contact(referral.case).address
        path = reverse("cases:detail", args=[referral.case_id])
    context = {
        "kind": kind,
        "reference": referral.case.reference,
        "institution": referral.institution.name,
        "link": link(path),
    }
    subject, body = _render("", context, "de")
    return mail_enqueue(
        kind=f"referral.{kind}",
        to=address,
        subject=subject,
        body=body,
        case_reference=referral.case.reference,
        object_type="referrals.referral",
        object_id=str(referral.pk),
    )


# --- a reminder, escalation or expiry notice -------------------------------------------------


def reminder_drafts(
    *,
    level: str,
    referral: Referral,
    today: dt.date,
    office: OfficeSettings,
    calendar: Calendar,
) -> list[tuple[Contact, MailDraft]]:
    """The mails of one reminder (one per recipient), not yet written: the sweep writes the
    drafts of a whole batch with one ``mails_enqueue`` and sets ``object_id`` (the reminder
    row's id) on them then.

    ``referral`` comes with its case, team, lead, coordinator and institution; ``calendar`` is
    its institution's (``referrals.calendars``), so the mail's dates are the sweep's.
    """
    referred_on = timezone.localdate(referral.created_at)
    since = referral.start_date if level in ACCEPTED_LEVELS else referred_on
    expires_on = answer_deadline(referral, expiry_days=office.expiry_days, calendar=calendar)
    days = working_days_between(since or referred_on, today, calendar)
    drafts = []
    for audience, contact in reminder_contacts(level, referral):
        path = (
            reverse("referrals:detail", args=[referral.pk])
            if audience == "institution"
            else reverse("cases:detail", args=[referral.case_id])
        )
        context = {
            "level": level,
            "audience": audience,
            "reference": referral.case.reference,
            "institution": referral.institution.name,
            "referred_on": referred_on,
            "start_date": referral.start_date,
            "days": days,
            "expires_on": expires_on,
            "link": link(path),
        }
        subject, body = _render("reminder_", context, contact.language)
        drafts.append(
            (
                contact,
                MailDraft(
                    kind=f"reminder.{level}",
                    to=contact.address,
                    subject=subject,
                    body=body,
                    case_reference=referral.case.reference,
                    object_type=REMINDER_TYPE,
                ),
            )
        )
    return drafts


# --- the weekly waiting-time digest ----------------------------------------------------------


def digest_enqueue(
    *,
    digest: DigestLog,
    contact: Contact,
    over_limit: list[str],
    over_target: list[str],
    office: OfficeSettings,
    followups: Sequence[str] = (),
) -> OutboxMessage | None:
    """Write the outbox row of one coordinator's weekly digest (case references only: the
    cases over the target, and those with a follow-up due, never its reason)."""
    user = digest.user
    context = {
        "name": user.get_full_name() or user.username,
        "over_limit": over_limit,
        "over_target": over_target,
        "followups": list(followups),
        "followups_count": len(followups),
        "dashboard_link": link(reverse("cases:dashboard")),
        "count": len(over_limit) + len(over_target),
        "limit_days": office.waiting_limit_days,
        "target_days": min(office.waiting_target_days, office.waiting_limit_days),
        "link": link(reverse("cases:list") + "?waiting=over_target&mine=1"),
    }
    subject, body = _render("digest_", context, contact.language)
    return mail_enqueue(
        kind="digest.weekly",
        to=contact.address,
        subject=subject,
        body=body,
        object_type=DIGEST_TYPE,
        object_id=str(digest.pk),
    )
