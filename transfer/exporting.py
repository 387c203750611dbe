"""The export of everything: every case with its contacts, history, referrals, reminders
(and any further case table, such as a journal), decrypted, as a ZIP of JSON-lines files with
a README and a ``schema.json`` describing every field. For moving to another system or for
the archive; an administrator exports all teams, a team lead their own team.

Tables are written one after the other with server-side iteration, so memory stays flat;
5,000 cases take a few seconds (docs/import-export.md), which is why the page builds the file
in the request and ``manage.py export_all`` serves installations too large for that.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from cases.access import jsonable
from cases.models import Case, CaseEvent, Guardian
from coordination.audit import audit_log
from coordination.exceptions import NotAllowed
from coordination.fields import BlindIndexField, EncryptedField
from coordination.models import District, Team
from coordination.roles import is_administrator
from referrals.models import Institution, Places, Referral, ReminderLog

FORMAT_VERSION = 1
# Columns that mean nothing outside this installation (HMACs under its own key).
SKIPPED = (BlindIndexField,)


@dataclass(frozen=True)
class Table:
    name: str
    model: type[models.Model]
    description: str
    team_path: str | None  # how a row reaches its case's team; None: office-wide data
    personal: bool = True


TABLES: list[Table] = [
    Table("cases", Case, "One row per child: the case, its state and all personal fields.",
          "team_id"),
    Table("contacts", Guardian, "Family contacts (parents, guardians); shared by siblings "
          "through family_id.", "family__children__team_id"),
    Table("history", CaseEvent, "Every line of every case's history (who, when, from, to, why).",
          "case__team_id"),
    Table("referrals", Referral, "Referrals of cases to schools and Kitas, with their answers.",
          "case__team_id"),
    Table("reminders", ReminderLog, "Reminders, escalations and expiries of referrals.",
          "referral__case__team_id"),
    Table("teams", Team, "Coordination teams.", None, personal=False),
    Table("districts", District, "City districts.", None, personal=False),
    Table("institutions", Institution, "Schools and Kitas.", None, personal=False),
    Table("places", Places, "Free places per institution and grade or age group.", None,
          personal=False),
]  # fmt: skip
USER_FIELDS = ("id", "username", "first_name", "last_name", "team_id", "is_active")


def tables() -> list[Table]:
    """The fixed tables, plus any further table of the case apps that hangs on a case (a
    journal or follow-ups, added by a later version): nothing stored about a child is left
    out of the export."""
    known = {t.model for t in TABLES}
    extra = []
    for label in ("cases", "referrals", "offers"):
        if not apps.is_installed(label):
            continue
        for model in apps.get_app_config(label).get_models():
            if model in known or model._meta.auto_created:
                continue
            to_case = [
                f for f in model._meta.concrete_fields
                if isinstance(f, models.ForeignKey) and f.related_model is Case
            ]  # fmt: skip
            if to_case and not model.__name__.endswith("ObjectPermission"):
                extra.append(Table(model._meta.db_table, model, str(model._meta.verbose_name),
                                   f"{to_case[0].name}__team_id"))  # fmt: skip
    return [*TABLES[:5], *extra, *TABLES[5:]]


def export_teams_for(user: Any) -> QuerySet[Team] | None:
    """None: the user may export everything (administrator); else the teams they lead."""
    if is_administrator(user):
        return None
    return Team.objects.filter(lead=user)


def may_export(user: Any) -> bool:
    teams = export_teams_for(user)
    return teams is None or teams.exists()


def _fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not isinstance(f, SKIPPED)]


def _type(field: models.Field) -> str:
    if isinstance(field, EncryptedField):
        base = type(field).__name__.replace("Encrypted", "").replace("Field", "").lower()
        return {"char": "text", "json": "list", "boolean": "boolean or null"}.get(base, base)
    if isinstance(field, models.ForeignKey):
        return f"id of {field.related_model._meta.model_name}"  # type: ignore[union-attr]
    return {
        "AutoField": "integer", "BigAutoField": "integer", "CharField": "text",
        "TextField": "text", "DateField": "date (ISO 8601)",
        "DateTimeField": "date and time (ISO 8601, with offset)", "BooleanField": "boolean",
        "PositiveIntegerField": "integer", "PositiveSmallIntegerField": "integer",
        "IntegerField": "integer", "JSONField": "JSON", "EmailField": "text",
    }.get(field.get_internal_type(), field.get_internal_type())  # fmt: skip


def schema(chosen: Iterable[Table]) -> dict[str, Any]:
    """Every table and field: type, meaning, allowed values (the file's documentation)."""
    out: dict[str, Any] = {"format": "JSON lines (one JSON object per line, UTF-8)",
                           "version": FORMAT_VERSION, "tables": {}}  # fmt: skip
    for table in chosen:
        fields = {}
        for f in _fields(table.model):
            entry: dict[str, Any] = {
                "type": _type(f),
                "meaning": str(f.verbose_name),
                "personal": isinstance(f, EncryptedField),
            }
            if f.choices:
                entry["values"] = {str(k): str(v) for k, v in f.flatchoices}
            fields[f.attname] = entry
        if any(isinstance(f, models.ForeignKey) and f.related_model is Case
               for f in _fields(table.model)):  # fmt: skip
            fields["case_reference"] = {"type": "text", "meaning": "the case's reference"}
        out["tables"][table.name] = {
            "file": f"{table.name}.jsonl", "meaning": table.description, "fields": fields,
        }  # fmt: skip
    out["tables"]["users"] = {
        "file": "users.jsonl",
        "meaning": "Staff named as actors in the other tables (no passwords).",
        "fields": {name: {"type": "text or id"} for name in USER_FIELDS},
    }
    return out


README = """# Ankommen: export of all data

Written {at} by {by}; scope: {scope}.

Each table is one file of JSON lines (`<table>.jsonl`: one JSON object per line, UTF-8).
`schema.json` names every field of every table, its type, its meaning and, for coded
fields, every allowed value with its label. Personal fields are decrypted. Links between
tables are ids (`case_id`, `family_id`, `referral_id`, ...); rows that belong to a case also
carry `case_reference`.

This file contains the personal data of children and families in plain text: keep it
encrypted, hand it over only as agreed, and delete it when it is no longer needed.

Rows per table:
{counts}
"""


def _rows(table: Table, team_ids: list[int] | None) -> Iterable[dict[str, Any]]:
    qs = table.model._default_manager.all()
    if team_ids is not None and table.team_path is not None:
        qs = qs.filter(**{f"{table.team_path}__in": team_ids}).distinct()
    fields = _fields(table.model)
    case_fk = next(
        (f for f in fields if isinstance(f, models.ForeignKey) and f.related_model is Case), None
    )
    if case_fk is not None:
        # The case's state too: its state machine reads it when the case is loaded (one
        # query per row otherwise).
        qs = qs.select_related(case_fk.name).only(
            *[f.attname for f in fields], f"{case_fk.name}__reference", f"{case_fk.name}__state"
        )
    for obj in qs.order_by("pk").iterator(chunk_size=2000):
        row = {f.attname: jsonable(getattr(obj, f.attname)) for f in fields}
        if case_fk is not None:
            row["case_reference"] = getattr(getattr(obj, case_fk.name), "reference", None)
        yield row


def export_write(*, by: Any, team: Team | None, out: IO[bytes]) -> dict[str, int]:
    """Write the export ZIP to ``out``: all teams (``team=None``, administrators) or one
    team (its lead or an administrator). Logged with its scope and counts."""
    allowed = export_teams_for(by)
    if team is None and allowed is not None:
        raise NotAllowed()
    if team is not None and allowed is not None and not allowed.filter(pk=team.pk).exists():
        raise NotAllowed()
    team_ids = None if team is None else [team.pk]
    chosen = tables()
    counts: dict[str, int] = {}
    user_ids: set[int] = set()
    actor_fields = {"created_by_id", "actor_id", "answered_by_id", "updated_by_id",
                    "coordinator_id", "lead_id"}  # fmt: skip
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in chosen:
            if team is not None and table.model is Team:
                rows: Iterable[dict[str, Any]] = (
                    r for r in _rows(table, None) if r["id"] == team.pk
                )
            else:
                rows = _rows(table, team_ids)
            n = 0
            with archive.open(f"{table.name}.jsonl", "w") as fh:
                for row in rows:
                    user_ids.update(v for k, v in row.items() if k in actor_fields and v)
                    fh.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                    n += 1
            counts[table.name] = n
        users = get_user_model().objects.filter(pk__in=user_ids).order_by("pk")
        with archive.open("users.jsonl", "w") as fh:
            for user in users.values(*USER_FIELDS):
                fh.write(json.dumps(user, ensure_ascii=False).encode() + b"\n")
        counts["users"] = users.count()
        archive.writestr(
            "schema.json", json.dumps(schema(chosen), ensure_ascii=False, indent=2) + "\n"
        )
        archive.writestr("README.md", README.format(
            at=timezone.localtime().isoformat(timespec="seconds"), by=by.get_username(),
            scope="all teams" if team is None else f"team {team.name}",
            counts="\n".join(f"- {k}: {n}" for k, n in counts.items()),
        ))  # fmt: skip
    audit_log(actor=by, action="transfer.export", obj=team, detail={
        "scope": "all" if team is None else team.pk, "counts": counts,
    })  # fmt: skip
    return counts


def export_file_name(team: Team | None, now: dt.datetime | None = None) -> str:
    stamp = timezone.localtime(now or timezone.now()).strftime("%Y-%m-%d")
    return f"ankommen-export-{'all' if team is None else f'team-{team.pk}'}-{stamp}.zip"
