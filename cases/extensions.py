"""What the apps above ``cases`` add to a case, without ``cases`` importing them.

``cases`` sits below ``referrals`` (and later ``offers``): it must not import them, and it
must not dodge that with ``apps.get_model``. Where a case-level feature needs their data (the
Art. 15 copy, the archive hand-over, erasure, "has an open referral"), the upper app registers
a :class:`CaseExtension` in its ``AppConfig.ready()``; the case code asks the registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from cases.models import Case, CaseEvent


@dataclass
class WorkItem:
    """One entry of a coordinator's work queue: a case that needs an action, and which.

    - ``kind``: what it is about (``answer``, ``refer_again``, ``enrolment``, ``followup``,
      ``over_limit``, ``over_target``, ``stuck``, ``duplicate``), for sorting and styling.
    - ``text``: one plain sentence (translated); no personal value beyond what the queue
      shows anyway (reference and name are added by the page).
    - ``action_label`` / ``action_url``: the one next step (a link).
    - ``since``: since when the item is due (the queue is sorted oldest first).
    - ``key``: names the item per case for "mark seen" (``[a-z0-9_:.-]``, at most 60).
    """

    case_id: int
    kind: str
    text: str
    action_label: str
    action_url: str
    since: dt.datetime
    key: str
    case: Case | None = None


@dataclass
class TimelineEntry:
    """One line of a case's timeline, in plain words.

    ``title`` is the sentence ("Grundschule am Moselufer hat die Vermittlung angenommen,
    Beginn 07.12.2026"); ``text`` an optional free text under it (decrypted); ``replaces``
    the ids of history rows (``CaseEvent``) this entry tells better, which the timeline then
    leaves out.
    """

    at: dt.datetime
    kind: str
    title: str
    actor: str = ""
    text: str = ""
    details: Sequence[str] = ()
    replaces: Sequence[int] = ()


@dataclass(frozen=True)
class CaseExtension:
    """One upper app's contribution to a case.

    - ``name``: the key of its section in the full record (e.g. ``"referrals"``).
    - ``has_open``: True while the case has something open there that blocks closing or
      holding the case (an open referral).
    - ``record``: its rows for the full record, a list of dicts each with ``id``, ``rows``
      (label/value/display triples) and the plain values.
    - ``access_details``: adds Art. 15 details to the record's items in place (reminders).
    - ``recipients``: for the record's items, the organisation each audited object was
      disclosed to: ``{(object_type, object_id): organisation}``.
    - ``coded_reasons``: reasons from a closed list in the case history (kept on erasure).
    - ``work_items``: ``(cases, user, since) -> [WorkItem]`` for the work queue, where
      ``cases`` is the queryset of the queue's cases (use it as a subquery: a fixed number of
      queries however many cases) and ``since`` maps a case id to when the user last opened
      the case page (absent: never).
    - ``timeline``: ``(case, events) -> [TimelineEntry]`` for the case page; ``events`` are
      the case's history rows already loaded (an entry may replace some of them).
    """

    name: str
    has_open: Callable[[Case], bool] | None = None
    record: Callable[[Case], list[dict[str, Any]]] | None = None
    access_details: Callable[[list[dict[str, Any]]], None] | None = None
    recipients: Callable[[list[dict[str, Any]]], Mapping[tuple[str, str], str]] | None = None
    coded_reasons: Callable[[], set[str]] = field(default=set)
    work_items: (
        Callable[[QuerySet[Case], Any, Mapping[int, dt.datetime]], list[WorkItem]] | None
    ) = None
    timeline: Callable[[Case, Sequence[CaseEvent]], list[TimelineEntry]] | None = None


_REGISTRY: dict[str, CaseExtension] = {}


def register(extension: CaseExtension) -> None:
    """Register (or replace, on a second ``ready()``) an upper app's contribution."""
    _REGISTRY[extension.name] = extension


def extensions() -> tuple[CaseExtension, ...]:
    """The registered contributions, in the order of registration (INSTALLED_APPS)."""
    return tuple(_REGISTRY.values())


def case_has_open_work(case: Case) -> bool:
    """True while any upper app holds something open for the case (e.g. a referral)."""
    return any(ext.has_open(case) for ext in extensions() if ext.has_open is not None)


def coded_reasons() -> set[str]:
    """Every coded reason the upper apps write into a case's history."""
    out: set[str] = set()
    for ext in extensions():
        out |= ext.coded_reasons()
    return out


def contributed_work_items(
    cases: QuerySet[Case], user: Any, since: Mapping[int, dt.datetime]
) -> list[WorkItem]:
    """The work-queue items the upper apps add for these cases."""
    out: list[WorkItem] = []
    for ext in extensions():
        if ext.work_items is not None:
            out.extend(ext.work_items(cases, user, since))
    return out


def contributed_timeline(case: Case, events: Sequence[CaseEvent]) -> list[TimelineEntry]:
    """The timeline entries the upper apps add for one case."""
    out: list[TimelineEntry] = []
    for ext in extensions():
        if ext.timeline is not None:
            out.extend(ext.timeline(case, events))
    return out
