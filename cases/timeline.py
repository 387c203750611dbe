"""The case page's timeline: history, journal, follow-ups and what upper apps add, in plain words.

One list, newest first, of ``TimelineEntry`` (``cases/extensions.py``): the state history
(``CaseEvent``), the journal entries, the follow-ups, and the entries the upper apps
contribute (referrals: "Grundschule am Moselufer hat die Vermittlung angenommen, Beginn
07.12.2026"). An upper app's entry may replace history rows it tells better. A fixed number
of queries per case page, whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from cases.extensions import TimelineEntry, contributed_timeline
from cases.models import Case, CaseEvent, CloseReason, FollowUp, JournalEntry, State

# Fields of the journal and follow-ups the case page decrypts (named in its audit entry).
TIMELINE_FIELDS_SHOWN = ("journal.text", "journal.interpreter_language", "followup.reason")


def _name(user: Any) -> str:
    if user is None:
        return _("system")
    return user.get_full_name() or user.username


def _date(value: Any) -> str:
    return date_format(value, "SHORT_DATE_FORMAT")


def _event_entry(event: CaseEvent, field_labels: dict[str, str]) -> TimelineEntry:
    reasons = dict(CloseReason.choices)
    actor = _name(event.actor)
    kind = CaseEvent.Kind
    text = event.comment or ""
    details: list[str] = []
    if event.kind == kind.CREATED:
        title = _("Case registered")
    elif event.kind == kind.TRANSITION:
        before = State(event.from_state).label if event.from_state else ""
        after = State(event.to_state).label if event.to_state else ""
        title = (
            _("State changed from “%(from)s” to “%(to)s”") % {"from": before, "to": after}
            if before
            else _("State: “%(to)s”") % {"to": after}
        )
        if event.reason:
            details.append(str(reasons.get(event.reason, event.reason)))
    elif event.kind == kind.EDITED:
        title = _("Data changed: %(fields)s") % {
            "fields": ", ".join(str(field_labels.get(f, f)) for f in event.fields or [])
        }
    else:
        title = capfirst(str(event.get_kind_display()))
        if event.reason:
            details.append(event.reason)
    return TimelineEntry(
        at=event.at, kind=event.kind, title=str(title), actor=actor, text=text, details=details
    )


def _journal_entry(entry: JournalEntry) -> TimelineEntry:
    details = []
    if entry.interpreter:
        details.append(
            _("with an interpreter (%(language)s)") % {"language": entry.interpreter_language}
            if entry.interpreter_language
            else _("with an interpreter")
        )
    title = _("%(kind)s with: %(whom)s") % {
        "kind": capfirst(str(entry.get_kind_display())),
        "whom": entry.get_with_whom_display(),
    }
    return TimelineEntry(
        at=entry.at,
        kind="journal",
        title=title,
        actor=_name(entry.created_by),
        text=entry.text or "",
        details=details,
    )


def _followup_entries(followups: Sequence[FollowUp]) -> list[TimelineEntry]:
    postponed_from = {f.replaced_by_id: f for f in followups if f.replaced_by_id}
    out = []
    for f in followups:
        whom = (
            _("for the team") if f.for_team_id else _("for %(name)s") % {"name": _name(f.for_user)}
        )
        old = postponed_from.get(f.pk)
        if old is not None:
            title = _("Follow-up postponed from %(old)s to %(new)s (%(whom)s)") % {
                "old": _date(old.due_on),
                "new": _date(f.due_on),
                "whom": whom,
            }
        else:
            title = _("Follow-up set for %(date)s (%(whom)s)") % {
                "date": _date(f.due_on),
                "whom": whom,
            }
        out.append(
            TimelineEntry(
                at=f.created_at,
                kind="followup",
                title=title,
                actor=_name(f.created_by),
                text=f.reason or "",
            )
        )
        if f.closed_at is not None and f.state != FollowUp.State.POSTPONED:
            closed = (
                _("Follow-up of %(date)s done")
                if f.state == FollowUp.State.DONE
                else _("Follow-up of %(date)s cancelled")
            )
            out.append(
                TimelineEntry(
                    at=f.closed_at,
                    kind="followup",
                    title=closed % {"date": _date(f.due_on)},
                    actor=_name(f.closed_by),
                )
            )
    return out


def case_timeline(*, case: Case) -> list[TimelineEntry]:
    """Everything that happened on the case, newest first, in plain words."""
    events = list(case.events.select_related("actor").order_by("at", "id"))
    contributed = contributed_timeline(case, events)
    replaced = {pk for entry in contributed for pk in entry.replaces}
    field_labels = {f.name: str(capfirst(f.verbose_name)) for f in Case._meta.concrete_fields}
    field_labels["guardians"] = _("family contacts")
    entries = [
        _event_entry(e, field_labels)
        for e in events
        # Follow-up lines are told from the follow-ups themselves (with their dates).
        if e.pk not in replaced and e.kind != CaseEvent.Kind.FOLLOWUP
    ]
    entries += [
        _journal_entry(j)
        for j in JournalEntry.objects.filter(case=case).select_related("created_by")
    ]
    entries += _followup_entries(
        list(
            FollowUp.objects.filter(case=case).select_related("created_by", "closed_by", "for_user")
        )
    )
    entries += contributed
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries
