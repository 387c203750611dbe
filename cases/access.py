"""The complete record of one case, for the right of access (Art. 15 GDPR) and the archive.

``case_full_record`` is everything stored about the child and the family (the archive's
hand-over file uses it too); ``case_access_report`` adds what Art. 15 asks for beyond the data
itself: recipients (which institutions received and opened it), who accessed it and when
(by role and organisation, not by the name of the employee), reminders sent, purposes and
storage period. Producing either is logged by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from cases.extensions import extensions
from cases.models import PLAIN_FIELDS, Case, CaseEvent, FollowUp, Guardian, JournalEntry
from coordination.audit_text import field_label
from coordination.fields import encrypted_fields
from coordination.models import AuditEntry, OfficeSettings
from coordination.roles import ROLE_LABELS

GUARDIAN_FIELDS = ("relation", "name", "phone", "email", "preferred_language", "is_contact_person")
FOLLOWUP_FIELDS = (
    "due_on", "reason", "for_user", "for_team", "state", "created_by", "created_at", "closed_at",
)  # fmt: skip
JOURNAL_FIELDS = (
    "at", "kind", "with_whom", "interpreter", "interpreter_language", "text", "created_by",
    "created_at",
)  # fmt: skip


def jsonable(value: Any) -> Any:
    """A stored value as JSON: dates as ISO text, related objects by their name."""
    if isinstance(value, dt.datetime):
        return (
            timezone.localtime(value).isoformat()
            if timezone.is_aware(value)
            else (value.isoformat())
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Model):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def display(obj: Model, name: str) -> str:
    """A stored value as a person reads it (choice labels, German dates, yes / no)."""
    field = obj._meta.get_field(name)
    value = getattr(obj, name)
    if value is None or value == "" or value == []:
        return ""
    if getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(value, value))  # type: ignore[union-attr]
    if isinstance(value, bool):
        return _g("yes") if value else _g("no")
    if isinstance(value, dt.datetime):
        return date_format(timezone.localtime(value), "d.m.Y H:i")
    if isinstance(value, dt.date):
        return date_format(value, "d.m.Y")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def record_rows(obj: Model, names: Iterable[str]) -> list[dict[str, Any]]:
    """Label, stored value and display text of each named field of ``obj``."""
    return [
        {
            "field": name,
            "label": str(getattr(obj._meta.get_field(name), "verbose_name", name)),
            "value": jsonable(getattr(obj, name)),
            "display": display(obj, name),
        }
        for name in names
    ]


def record_values(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plain values of ``record_rows``, by field name."""
    return {r["field"]: r["value"] for r in rows}


def case_full_record(*, case: Case) -> dict[str, Any]:
    """Everything stored about this child and the family, in a stable JSON-ready shape."""
    personal_names = [f.name for f in encrypted_fields(Case)]
    plain = record_rows(case, PLAIN_FIELDS)
    personal = record_rows(case, personal_names)
    guardians = [
        record_rows(g, GUARDIAN_FIELDS) for g in Guardian.objects.filter(family_id=case.family_id)
    ]
    siblings = list(
        Case.objects.filter(family_id=case.family_id)
        .exclude(pk=case.pk)
        .order_by("reference")
        .values_list("reference", flat=True)
    )
    history = [
        {
            "at": jsonable(e.at),
            "at_display": display(e, "at"),
            "kind": e.kind,
            "kind_display": e.get_kind_display(),
            "transition": e.transition,
            "from_state": e.from_state,
            "from_display": display(e, "from_state"),
            "to_state": e.to_state,
            "to_display": display(e, "to_state"),
            "reason": e.reason,
            "comment": e.comment,
            "fields": list(e.fields or []),
            "fields_display": _field_labels(e.fields),
        }
        for e in CaseEvent.objects.filter(case=case).order_by("at", "id")
    ]
    followups = [
        record_rows(f, FOLLOWUP_FIELDS)
        for f in FollowUp.objects.filter(case=case)
        .select_related("for_user", "for_team", "created_by")
        .order_by("created_at", "id")
    ]
    journal = [
        record_rows(j, JOURNAL_FIELDS)
        for j in JournalEntry.objects.filter(case=case)
        .select_related("created_by")
        .order_by("at", "id")
    ]
    sections = {ext.name: ext.record(case) for ext in extensions() if ext.record is not None}
    return {
        "case": record_values(plain),
        "case_rows": plain,
        "personal_data": record_values(personal),
        "personal_rows": personal,
        "family_contacts": [record_values(rows) for rows in guardians],
        "family_contact_rows": guardians,
        "siblings": siblings,
        "history": history,
        "followups": [record_values(rows) for rows in followups],
        "followup_rows": followups,
        "journal": [record_values(rows) for rows in journal],
        "journal_rows": journal,
        **sections,
    }


def _organisation(entry: AuditEntry, recipient_of: Mapping[tuple[str, str], str]) -> str:
    roles = [r for r in (entry.roles or "").split(",") if r]
    recipient = recipient_of.get((entry.object_type, entry.object_id))
    if "institution_staff" in roles and recipient is not None:
        return recipient
    if not roles:
        return _g("system (automatic)") if not entry.actor_id else _g("staff without a role")
    return ", ".join(str(ROLE_LABELS.get(r, r)) for r in roles)


def _listed_on_a_page(reference: str) -> Q:
    """Entries of pages that listed several cases, naming them in ``detail["references"]``.

    On PostgreSQL a JSON containment answered by the GIN index ``audit_listed_references``
    (every branch of the report's query is indexed, so it stays fast with millions of
    entries); other databases search the text.
    """
    if connection.vendor == "postgresql":
        return Q(detail__references__contains=[reference])
    return Q(case_reference="", detail__icontains=f'"{reference}"')


def _field_labels(codes: Any) -> str:
    """The changed or seen fields by their names for people (the JSON keeps the codes)."""
    return ", ".join(field_label(Case, code) for code in codes or [])


def case_audit_entries(
    *, case: Case, disclosed: Mapping[tuple[str, str], Any]
) -> QuerySet[AuditEntry]:
    """Every audit entry about ``case``: by its reference, on the case object, on an object
    disclosed for it (``disclosed``: {(object_type, object_id): …}, e.g. its referrals) and
    on pages that listed it. Oldest first. Each branch of the OR is indexed (case_reference,
    ``audit_object``, the GIN index), so PostgreSQL answers it with a BitmapOr however long
    the log is (plans: docs/performance.md, "Audit log")."""
    by_type: dict[str, list[str]] = {}
    for object_type, object_id in disclosed:
        by_type.setdefault(object_type, []).append(object_id)
    about = Q(case_reference=case.reference) | Q(object_type="cases.case", object_id=str(case.pk))
    for object_type, ids in by_type.items():
        about |= Q(object_type=object_type, object_id__in=ids)
    return AuditEntry.objects.filter(about | _listed_on_a_page(case.reference)).order_by("at", "id")


def case_access_report(*, case: Case) -> dict[str, Any]:
    """The Art. 15 copy: the full record plus recipients, accesses, reminders and the
    information the controller owes (purposes, storage period, rights, source)."""
    record = case_full_record(case=case)
    # What the upper apps disclosed to whom: {(object_type, object_id): organisation}.
    recipient_of: dict[tuple[str, str], str] = {}
    recipients: dict[str, dict[str, Any]] = {}
    for ext in extensions():
        items = record.get(ext.name, [])
        if ext.access_details is not None:
            ext.access_details(items)
        if ext.recipients is not None:
            recipient_of.update(ext.recipients(items))
        for item in items:
            name = str(item.get("institution") or "")
            if name and ext.recipients is not None:
                recipients.setdefault(
                    name,
                    {
                        "institution": name,
                        "referred_at": item.get("created_at"),
                        "views": 0,
                        "first_view": None,
                        "last_view": None,
                    },
                )
    entries = case_audit_entries(case=case, disclosed=recipient_of)
    accesses = []
    for entry in entries:
        organisation = _organisation(entry, recipient_of)
        accesses.append(
            {
                "at": jsonable(entry.at),
                "at_display": date_format(timezone.localtime(entry.at), "d.m.Y H:i"),
                "action": entry.action,
                "by": organisation,
                "fields": list(entry.fields or []),
                "fields_display": _field_labels(entry.fields),
            }
        )
        recipient = recipient_of.get((entry.object_type, entry.object_id))
        if "institution_staff" in (entry.roles or "") and recipient in recipients:
            seen = recipients[recipient]
            seen["views"] += 1
            seen["first_view"] = seen["first_view"] or jsonable(entry.at)
            seen["last_view"] = jsonable(entry.at)
    office = OfficeSettings.current()
    return {
        "generated_at": jsonable(timezone.now()),
        "legal_basis": "Art. 15 DSGVO / GDPR",
        "reference": case.reference,
        **record,
        "recipients": list(recipients.values()),
        "accesses": accesses,
        "information": {
            "purposes": str(PURPOSES),
            "legal_basis_processing": str(LEGAL_BASIS),
            "source": str(SOURCE),
            "storage_period": str(STORAGE) % {"months": office.retention_months},
            "rights": str(RIGHTS),
        },
    }


PURPOSES = _(
    "Finding a school or Kita place for the child and following the case until the child "
    "attends: consultation, clarification, referral to a school or Kita, reminders."
)
LEGAL_BASIS = _(
    "Art. 6 (1) (e) and Art. 9 (2) (g) GDPR in connection with the school and youth welfare "
    "laws of Rhineland-Palatinate (school attendance, right to a Kita place)."
)
SOURCE = _("The family (at the consultation) and the schools and Kitas the case was referred to.")
STORAGE = _(
    "Personal data is kept until the case is closed and then for %(months)s months; it is "
    "then offered to the public archive (§ 7 LArchG RLP) and erased. Anonymous statistical "
    "fields are kept."
)
RIGHTS = _(
    "You may ask for rectification (Art. 16), erasure (Art. 17) or restriction (Art. 18) and "
    "object to the processing (Art. 21). You may complain to the data protection supervisory "
    "authority of Rhineland-Palatinate (Der Landesbeauftragte für den Datenschutz und die "
    "Informationsfreiheit Rheinland-Pfalz)."
)
