"""Retention of closed cases: offer to the archive (§ 7 LArchG RLP), then erase personal data.

A closed case keeps its personal data for ``OfficeSettings.retention_months`` after
``closed_on``. Then it is *due*: an administrator offers it to the public archive (which
produces the hand-over file) and records the archive's decision; once decided (taken or
declined) the daily task erases every personal field, the family contacts no other case
needs, every free text and the blind indexes. The plain statistical fields and the history
of state changes stay, so erased cases still count in the figures.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.access import case_full_record
from cases.extensions import coded_reasons, extensions
from cases.models import ArchiveStatus, Case, CaseEvent, CloseReason, Guardian, State
from cases.services import case_record_event
from coordination.audit import (
    AuditPruneRefused,
    audit_cutoff,
    audit_log,
    audit_prune,
    csv_cell,
)
from coordination.exceptions import DomainError, NotAllowed
from coordination.fields import encrypted_fields
from coordination.models import OfficeSettings, User
from coordination.outbox import outbox_prune
from coordination.roles import is_administrator

log = logging.getLogger(__name__)

DECIDED = (ArchiveStatus.DECLINED, ArchiveStatus.TAKEN)
UNDECIDED = (ArchiveStatus.NONE, ArchiveStatus.OFFERED)
HANDOVER_VERSION = 1
# Only what the due-list needs: nothing encrypted is loaded (or decrypted) for it. Deliberately
# a short list of its own, not ``PLAIN_FIELDS`` (cases/models.py).
_LIST_FIELDS = (
    "id",
    "reference",
    "state",
    "closed_on",
    "archive_status",
    "erased_at",
    "team",
    "family",
    "target_type",
    "district",
)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (clamped to the month's end)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def retention_cutoff(*, today: dt.date | None = None) -> dt.date:
    """Cases closed on or before this day are due."""
    today = today or timezone.localdate()
    return months_before(today, OfficeSettings.current().retention_months)


def cases_due_for_retention(*, today: dt.date | None = None) -> QuerySet[Case]:
    """Closed cases past the retention period whose personal data is not yet erased."""
    return (
        Case.objects.filter(
            state=State.CLOSED,
            closed_on__lte=retention_cutoff(today=today),
            erased_at__isnull=True,
        )
        .only(*_LIST_FIELDS)
        .order_by("closed_on", "id")
    )


def _require_administrator(by: User) -> None:
    if not is_administrator(by):
        raise NotAllowed(_("Only an administrator decides on retention and the archive."))


def _lock(case_ids: Iterable[int]) -> list[Case]:
    return list(
        Case.objects.select_for_update().filter(pk__in=list(case_ids)).order_by("closed_on", "id")
    )


# --- the archive's hand-over file -------------------------------------------------------

# The statistical columns the archive receives: deliberately fewer than ``PLAIN_FIELDS``.
CSV_COLUMNS = (
    "reference",
    "team",
    "target_type",
    "wanted_group",
    "district",
    "birth_year",
    "created_at",
    "waiting_since",
    "placed_on",
    "closed_on",
    "close_reason",
    "state",
)


@dataclass
class ArchiveHandOver:
    """The hand-over file of one offer: a JSON document or a CSV table (one row per case)."""

    records: list[dict[str, Any]]
    created_at: dt.datetime = field(default_factory=timezone.now)

    @property
    def stem(self) -> str:
        return f"archiv-angebot-{timezone.localtime(self.created_at):%Y%m%d-%H%M%S}"

    def meta(self) -> dict[str, Any]:
        return {
            "format": "ankommen-archive-handover",
            "version": HANDOVER_VERSION,
            "legal_basis": "§ 7 Landesarchivgesetz Rheinland-Pfalz (LArchG)",
            "producer": settings.OFFICE_MAILBOX,
            "created_at": timezone.localtime(self.created_at).isoformat(),
            "count": len(self.records),
        }

    def as_json(self) -> bytes:
        document = {"meta": self.meta(), "records": self.records}
        return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")

    def as_csv(self) -> bytes:
        personal = [f.name for f in encrypted_fields(Case)]
        sections = [ext.name for ext in extensions() if ext.record is not None]
        header = [*CSV_COLUMNS, *personal, "family_contacts", "siblings", "history", *sections]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        for record in self.records:
            case, data = record["case"], record["personal_data"]
            writer.writerow(
                [csv_cell(case.get(c)) for c in CSV_COLUMNS]
                + [csv_cell(data.get(p)) for p in personal]
                + [
                    csv_cell(record["family_contacts"]),
                    csv_cell("; ".join(record["siblings"])),
                    csv_cell(record["history"]),
                ]
                + [csv_cell(record.get(name, [])) for name in sections]
            )
        # With a BOM, spreadsheet programs open the German text correctly.
        return ("\ufeff" + out.getvalue()).encode("utf-8")


def _handover_record(case: Case) -> dict[str, Any]:
    full = case_full_record(case=case)
    history = [
        {
            k: e[k]
            for k in (
                "at",
                "kind",
                "transition",
                "from_state",
                "to_state",
                "reason",
                "comment",
                "fields",
            )
        }
        for e in full["history"]
    ]
    sections = {
        ext.name: [{k: v for k, v in item.items() if k != "rows"} for item in full[ext.name]]
        for ext in extensions()
        if ext.record is not None
    }
    return {
        "case": full["case"],
        "personal_data": full["personal_data"],
        "family_contacts": full["family_contacts"],
        "siblings": full["siblings"],
        "history": history,
        **sections,
    }


@transaction.atomic
def case_offer_to_archive(*, cases: Iterable[Case], by: User) -> ArchiveHandOver:
    """Mark due cases "offered to the archive" and return their hand-over file.

    Offering again (e.g. to download the file once more) is allowed until the archive has
    decided; every hand-over is logged as an export of the personal data.
    """
    _require_administrator(by)
    wanted = [c.pk for c in cases]
    locked = _lock(wanted)
    if len(locked) != len(set(wanted)):
        raise DomainError(_("Some of the selected cases no longer exist."))
    cutoff = retention_cutoff()
    for case in locked:
        if case.erased_at is not None or case.state != State.CLOSED:
            raise DomainError(
                _("%(reference)s is not a closed case with personal data.")
                % {"reference": case.reference}
            )
        if case.closed_on is None or case.closed_on > cutoff:
            raise DomainError(
                _("%(reference)s is still within its retention period.")
                % {"reference": case.reference}
            )
        if case.archive_status not in UNDECIDED:
            raise DomainError(
                _("The archive has already decided on %(reference)s.")
                % {"reference": case.reference}
            )
    fields = [f.name for f in encrypted_fields(Case)] + ["guardians", "history", "referrals"]
    records = []
    for case in locked:
        first = case.archive_status != ArchiveStatus.OFFERED
        if first:
            Case.objects.filter(pk=case.pk).update(archive_status=ArchiveStatus.OFFERED)
            case.archive_status = ArchiveStatus.OFFERED
            case_record_event(
                case=case, by=by, kind=CaseEvent.Kind.EDITED, fields=["archive_status"]
            )
        records.append(_handover_record(case))
        audit_log(
            actor=by,
            action="case.archive_offer",
            obj=case,
            fields=fields,
            detail={"first_offer": first},
        )
    return ArchiveHandOver(records=records)


@transaction.atomic
def case_archive_decision(*, case: Case, by: User, taken: bool) -> Case:
    """Record the archive's answer: it takes the record over, or declines it."""
    _require_administrator(by)
    found = _lock([case.pk])
    if not found:
        raise DomainError(_("This case no longer exists."))
    locked = found[0]
    if locked.erased_at is not None:
        raise DomainError(_("The personal data of this case has been erased."))
    if locked.archive_status != ArchiveStatus.OFFERED:
        raise DomainError(
            _("%(reference)s has to be offered to the archive first.")
            % {"reference": locked.reference}
        )
    status = ArchiveStatus.TAKEN if taken else ArchiveStatus.DECLINED
    Case.objects.filter(pk=locked.pk).update(archive_status=status)
    locked.archive_status = status
    case_record_event(case=locked, by=by, kind=CaseEvent.Kind.EDITED, fields=["archive_status"])
    audit_log(actor=by, action="case.archive_decision", obj=locked, detail={"taken": taken})
    return locked


# --- erasure -------------------------------------------------------------------------------


def _coded_reasons() -> set[str]:
    """Reasons from a closed list (kept); any other reason is free text (erased)."""
    return set(CloseReason.values) | coded_reasons()


def _erase_related(model: Any, **lookup: Any) -> int:
    """Null every encrypted field of the rows of ``model`` matching ``lookup``."""
    names = [f.name for f in encrypted_fields(model)]
    if not names:
        return 0
    return int(model.objects.filter(**lookup).update(**dict.fromkeys(names)))


@transaction.atomic
def case_erase(*, case: Case, by: User | None = None) -> Case:
    """Erase the personal data of a closed case on which the archive has decided.

    Erases every encrypted field and blind index of the case, the free texts of its history
    and referrals (and of any other record that points at them), and the family contacts
    when no other case of the family still has personal data. Keeps the plain statistical
    fields and the history of state changes. ``by`` is None for the daily task.
    """
    if by is not None:
        _require_administrator(by)
    found = _lock([case.pk])
    if not found:
        raise DomainError(_("This case no longer exists."))
    locked = found[0]
    if locked.erased_at is not None:
        return locked
    if locked.state != State.CLOSED:
        raise DomainError(_("Only closed cases are erased."))
    if locked.archive_status not in DECIDED:
        raise DomainError(
            _("%(reference)s can only be erased after the archive has decided on it.")
            % {"reference": locked.reference}
        )
    now = timezone.now()
    personal = [f.name for f in encrypted_fields(Case)]
    blind = [f.name for f in Case._meta.concrete_fields if f.name.startswith("bidx_")]
    Case.objects.filter(pk=locked.pk).update(
        **dict.fromkeys(personal), **dict.fromkeys(blind), erased_at=now, updated_at=now
    )
    # History: free comments go, coded reasons stay (a hold reason may be free text).
    events = CaseEvent.objects.filter(case_id=locked.pk)
    _erase_related(CaseEvent, case_id=locked.pk)
    events.exclude(reason__in=_coded_reasons()).exclude(reason="").update(reason="")
    counts: dict[str, int] = {}
    # Any other model pointing at the case (referrals) or at those (reminders) with
    # encrypted fields: message, answer comment, and whatever is added later.
    for rel in Case._meta.related_objects:
        model = rel.related_model
        if model in (CaseEvent,) or not rel.field.concrete:
            continue
        counts[model._meta.label_lower] = _erase_related(model, **{rel.field.name: locked.pk})
        ids = list(model.objects.filter(**{rel.field.name: locked.pk}).values_list("pk", flat=True))
        for sub in model._meta.related_objects:
            if sub.field.concrete and ids:
                _erase_related(sub.related_model, **{f"{sub.field.name}__in": ids})
    family_still_needed = (
        Case.objects.filter(family_id=locked.family_id, erased_at__isnull=True)
        .exclude(pk=locked.pk)
        .exists()
    )
    guardians = 0
    if not family_still_needed:
        guardians, _detail = Guardian.objects.filter(family_id=locked.family_id).delete()
    case_record_event(case=locked, by=by, kind=CaseEvent.Kind.ERASED)
    audit_log(
        actor=by,
        action="case.erase",
        obj=locked,
        fields=[*personal, *blind, "guardians", "comments"],
        detail={"guardians_deleted": guardians, "archive": locked.archive_status},
    )
    locked.refresh_from_db()
    return locked


# --- the daily run -----------------------------------------------------------------------


@dataclass
class RetentionReport:
    dry_run: bool
    awaiting_offer: list[str] = field(default_factory=list)
    awaiting_decision: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    would_erase: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    audit_pruned: int = 0
    outbox_pruned: int = 0
    notified: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def retention_run(*, dry_run: bool = False, today: dt.date | None = None) -> RetentionReport:
    """List due cases (and tell the administrators), erase the decided ones, prune the
    audit log past its own retention period. ``dry_run`` changes nothing."""
    report = RetentionReport(dry_run=dry_run)
    # A list first (plain fields only): erasing while a cursor reads the same table is not
    # safe on SQLite.
    for case in list(cases_due_for_retention(today=today)):
        if case.archive_status == ArchiveStatus.NONE:
            report.awaiting_offer.append(case.reference)
        elif case.archive_status == ArchiveStatus.OFFERED:
            report.awaiting_decision.append(case.reference)
        elif dry_run:
            report.would_erase.append(case.reference)
        else:
            try:
                case_erase(case=case)
            except DomainError:  # reopened or changed meanwhile: next run looks again
                log.warning("retention: %s not erased (changed meanwhile)", case.reference)
                report.failed.append(case.reference)
            else:
                report.erased.append(case.reference)
    now = timezone.now()
    if today is not None:
        now = timezone.make_aware(dt.datetime.combine(today, dt.time(12)))
    cutoff = audit_cutoff(months=OfficeSettings.current().audit_retention_months, now=now)
    try:
        report.audit_pruned = audit_prune(before=cutoff, dry_run=dry_run)
    except AuditPruneRefused as exc:
        # The app role may lack EXECUTE on the prune function (the office's choice,
        # docs/audit-log.md): then the database owner prunes; the rest of the run goes on.
        log.warning("retention: the audit log was not pruned: %s", exc)
    report.outbox_pruned = outbox_prune(now=now, dry_run=dry_run)
    if not dry_run and (report.awaiting_offer or report.awaiting_decision):
        report.notified = notify_administrators(report)
    if not dry_run:
        audit_log(
            actor=None,
            action="retention.run",
            detail={
                "erased": len(report.erased),
                "pruned": report.audit_pruned,
                "outbox_pruned": report.outbox_pruned,
                "awaiting": len(report.awaiting_offer) + len(report.awaiting_decision),
            },
        )
    return report


def notify_administrators(report: RetentionReport) -> int:
    """One e-mail per administrator, through the outbox: which cases wait for an archive
    offer or decision (case references only: e-mail is not an encrypted channel)."""
    from coordination.models import User
    from coordination.outbox import mail_enqueue
    from coordination.roles import ADMINISTRATOR

    recipients = sorted(
        set(
            User.objects.filter(is_active=True, groups__name=ADMINISTRATOR)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        log.warning("retention: cases are due but no administrator has an e-mail address")
        return 0
    lines = [
        str(_("Closed cases past their retention period are waiting for you:")),
        "",
        str(_("To offer to the archive (%(count)s): %(refs)s"))
        % {"count": len(report.awaiting_offer), "refs": ", ".join(report.awaiting_offer) or "-"},
        str(_("Offered, waiting for the archive's decision (%(count)s): %(refs)s"))
        % {
            "count": len(report.awaiting_decision),
            "refs": ", ".join(report.awaiting_decision) or "-",
        },
        "",
        f"{settings.SITE_URL.rstrip('/')}/cases/retention/",
    ]
    with transaction.atomic():
        for address in recipients:
            mail_enqueue(
                kind="retention.notice",
                to=address,
                subject=str(_("Ankommen: cases due for the archive and erasure")),
                body="\n".join(lines),
            )
    return len(recipients)
