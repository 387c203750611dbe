"""The referrals' part of a case's full record, Art. 15 copy and erasure (see cases/extensions.py).

Registered in ``ReferralsConfig.ready()``, so ``cases`` never imports this app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from cases.access import display, jsonable, record_rows, record_values
from cases.extensions import CaseExtension, TimelineEntry, WorkItem
from cases.models import Case, CaseEvent, State
from referrals.models import (
    OPEN_REFERRAL_STATES,
    DeclineReason,
    Referral,
    ReferralState,
    ReminderLog,
)

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


# --- the work queue (cases/selectors.py ``work_queue``) ---------------------------------------

# An answer counts as "new" when it came after the coordinator last opened the case page,
# and at most this many days ago (so that a first look at the queue is not flooded with
# answers from long ago).
ANSWER_WINDOW_DAYS = 30
ENDED_SEARCH_AGAIN = (ReferralState.DECLINED, ReferralState.EXPIRED, ReferralState.NO_SHOW)


def _date(value: dt.date | None) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else ""


def _answer_time(referral: Referral) -> dt.datetime | None:
    if referral.state in (ReferralState.ACCEPTED, ReferralState.DECLINED):
        return referral.answered_at
    return referral.closed_at


def _ended_text(referral: Referral) -> str:
    name = referral.institution.name
    if referral.state == ReferralState.DECLINED:
        return _("%(institution)s declined the referral (%(reason)s). Look for another place.") % {
            "institution": name,
            "reason": referral.get_decline_reason_display(),
        }
    if referral.state == ReferralState.NO_SHOW:
        return _("The child did not start at %(institution)s. Look for another place.") % {
            "institution": name
        }
    return _(
        "The referral to %(institution)s expired without an answer. Look for another place."
    ) % {"institution": name}


def _answer_text(ref: Referral) -> str:
    name = ref.institution.name
    if ref.state == ReferralState.ACCEPTED:
        if ref.start_date:
            return _("%(institution)s accepted the referral, start %(date)s.") % {
                "institution": name,
                "date": _date(ref.start_date),
            }
        return _("%(institution)s accepted the referral.") % {"institution": name}
    if ref.state == ReferralState.ENROLLED:
        return _("%(institution)s confirmed the first day attended: %(date)s.") % {
            "institution": name,
            "date": _date(ref.enrolled_on),
        }
    return _ended_text(ref)


def _enrolment_item(ref: Referral) -> WorkItem:
    assert ref.start_date is not None
    return WorkItem(
        ref.case_id, "enrolment",
        _("Start on %(date)s at %(institution)s, but the first day is not confirmed.")
        % {"date": _date(ref.start_date), "institution": ref.institution.name},
        _("Ask the institution"), reverse("referrals:detail", args=[ref.pk]),
        timezone.make_aware(dt.datetime.combine(ref.start_date, dt.time.min)),
        f"enrolment:{ref.pk}",
    )  # fmt: skip


def _work_items(
    cases: QuerySet[Case], user: Any, since: Mapping[int, dt.datetime]
) -> list[WorkItem]:
    """New answers, referrals that ended without a place (refer again), and accepted
    referrals whose start date passed without a confirmed first day. Two queries."""
    now = timezone.now()
    today = timezone.localdate()
    window = now - dt.timedelta(days=ANSWER_WINDOW_DAYS)
    items: list[WorkItem] = []
    columns = (
        "id", "case_id", "state", "answered_at", "closed_at", "start_date", "enrolled_on",
        "decline_reason", "institution__name",
    )  # fmt: skip
    # Refer again: a case looking for a place whose latest referral ended without one.
    latest = Referral.objects.filter(case=OuterRef("pk")).order_by("-created_at", "-id")
    ended_ids = (
        cases.filter(state=State.READY)
        .annotate(last_id=Subquery(latest.values("id")[:1]))
        .values("last_id")
    )
    refer_again: set[int] = set()
    for ref in (
        Referral.objects.filter(pk__in=ended_ids, state__in=ENDED_SEARCH_AGAIN)
        .select_related("institution")
        .only(*columns)
    ):
        refer_again.add(ref.pk)
        items.append(WorkItem(
            ref.case_id, "refer_again", _ended_text(ref), _("New referral"),
            reverse("referrals:create", args=[ref.case_id]),
            _answer_time(ref) or ref.closed_at or now, f"refer_again:{ref.pk}",
        ))  # fmt: skip
    answered = Q(
        state__in=[ReferralState.ACCEPTED, ReferralState.DECLINED], answered_at__gte=window
    ) | Q(state__in=[ReferralState.ENROLLED, ReferralState.NO_SHOW], closed_at__gte=window)
    overdue = Q(state=ReferralState.ACCEPTED, start_date__lt=today)
    for ref in (
        Referral.objects.filter(answered | overdue, case__in=cases)
        .select_related("institution")
        .only(*columns)
    ):
        if ref.state == ReferralState.ACCEPTED and ref.start_date and ref.start_date < today:
            items.append(_enrolment_item(ref))
        at = _answer_time(ref)
        looked = since.get(ref.case_id)
        if at is None or at < window or ref.pk in refer_again:
            continue
        if looked is not None and at <= looked:
            continue
        items.append(WorkItem(
            ref.case_id, "answer", _answer_text(ref), _("Open the case"),
            reverse("cases:detail", args=[ref.case_id]) + "#referrals-heading",
            at, f"answer:{ref.pk}:{ref.state}",
        ))  # fmt: skip
    return items


# --- the timeline (cases/timeline.py) -----------------------------------------------------------

DRIVEN = {"refer": "created", "place": "enrolled", "referral_ended": "ended"}
ENDINGS = {"declined", "expired", "withdrawn", "no_show"}


def _timeline_title(what: str, referral: Referral) -> str:
    name = referral.institution.name
    if what == "created":
        return _("Referred to %(institution)s (%(group)s)") % {
            "institution": name,
            "group": referral.get_group_display(),
        }
    if what == "accepted":
        if referral.start_date:
            return _("%(institution)s accepted the referral, start %(date)s") % {
                "institution": name,
                "date": _date(referral.start_date),
            }
        return _("%(institution)s accepted the referral") % {"institution": name}
    if what == "declined":
        return _("%(institution)s declined the referral: %(reason)s") % {
            "institution": name,
            "reason": referral.get_decline_reason_display() or _("no reason given"),
        }
    if what == "enrolled":
        return _("%(institution)s confirmed the first day attended: %(date)s") % {
            "institution": name,
            "date": _date(referral.enrolled_on),
        }
    if what == "no_show":
        return _("%(institution)s reports that the child did not start") % {"institution": name}
    if what == "withdrawn":
        return _("Referral to %(institution)s withdrawn") % {"institution": name}
    if what == "expired":
        return _("Referral to %(institution)s expired without an answer") % {"institution": name}
    return _("Referral to %(institution)s: %(state)s") % {
        "institution": name,
        "state": referral.get_state_display(),
    }


def _timeline(case: Case, events: Sequence[CaseEvent]) -> list[TimelineEntry]:
    """The referral lines of the history, told with the institution, outcome and start date.

    A history row does not name its referral; a case has at most one open referral at a
    time, so the referral of a row is the latest one made before it. One query.
    """
    referrals = list(
        Referral.objects.filter(case_id=case.pk)
        .select_related("institution")
        .only(
            "id", "created_at", "group", "state", "start_date", "enrolled_on",
            "decline_reason", "answer_comment", "institution__name",
        )
        .order_by("created_at", "id")
    )  # fmt: skip
    if not referrals:
        return []

    def referral_at(at: dt.datetime) -> Referral:
        found = referrals[0]
        for referral in referrals:
            if referral.created_at <= at:
                found = referral
        return found

    entries: dict[tuple[int, str], TimelineEntry] = {}
    driven: list[CaseEvent] = []
    for event in events:
        if event.kind == CaseEvent.Kind.TRANSITION and event.transition in DRIVEN:
            driven.append(event)
            continue
        if event.kind != CaseEvent.Kind.REFERRAL:
            continue
        referral = referral_at(event.at)
        what = event.transition
        text = event.comment or ""
        if what == "declined" and not text:
            text = referral.answer_comment or ""
        actor = ""
        if event.actor is not None:
            actor = event.actor.get_full_name() or event.actor.username
        entries[(referral.pk, what)] = TimelineEntry(
            at=event.at, kind="referral", title=_timeline_title(what, referral), actor=actor,
            text=text, replaces=[event.pk],
        )  # fmt: skip
    for event in driven:
        referral = referral_at(event.at)
        want = DRIVEN[event.transition or ""]
        whats = ENDINGS if want == "ended" else {want}
        for what in whats:
            entry = entries.get((referral.pk, what))
            if entry is not None:
                entry.replaces = [*entry.replaces, event.pk]
                entry.details = [
                    *entry.details,
                    _("The case is now: %(state)s") % {"state": State(event.to_state).label},
                ]
                break
    return list(entries.values())


REFERRALS_EXTENSION = CaseExtension(
    name="referrals",
    has_open=_has_open,
    record=_record,
    access_details=_reminders,
    recipients=_recipients,
    coded_reasons=lambda: {str(v) for v in DeclineReason.values},
    work_items=_work_items,
    timeline=_timeline,
)
