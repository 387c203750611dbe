"""The ``import_cases`` and ``import_institutions`` commands: the browser's steps in one go.

``--dry-run`` reads, maps and checks the file and prints the report; it writes nothing (not
even the encrypted file). Otherwise the same services as the browser run inline, and the
likely duplicates get the decision of ``--duplicates``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import translation

from coordination.exceptions import DomainError
from coordination.models import Team
from coordination.roles import ADMINISTRATOR
from transfer import services
from transfer.columns import IGNORE, header_key, is_known_header, suggest
from transfer.models import ImportBatch, ImportKind
from transfer.reading import read_table


def add_arguments(parser: Any, *, kind: str) -> None:
    parser.add_argument("file", help="the .xlsx or .csv file")
    parser.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    parser.add_argument(
        "--mapping",
        help='a JSON file {"header in the file": "field"} (fields: see docs/import-export.md); '
        "without it the saved mapping and the suggestions from the headers are used",
    )
    parser.add_argument(
        "--user",
        help="user name of the person responsible (an administrator, or a coordinator of the "
        "team); default: the only active administrator",
    )
    if kind == ImportKind.CASES:
        parser.add_argument("--team", help="team name or id (default: the user's team)")
        parser.add_argument(
            "--duplicates",
            choices=["skip", "import", "attach"],
            default="skip",
            help="what to do with likely duplicates of existing cases (default: skip; attach: "
            "record the row as the first matching case of the team)",
        )


def _user(username: str | None) -> Any:
    users = get_user_model().objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        return user
    admins = list(users.filter(groups__name=ADMINISTRATOR)[:2])
    if len(admins) != 1:
        raise CommandError("name the responsible person with --user USERNAME")
    return admins[0]


def _team(value: str | None, user: Any) -> Team | None:
    if not value:
        return user.team
    team = Team.objects.filter(name=value).first()
    if team is None and value.isdigit():
        team = Team.objects.filter(pk=int(value)).first()
    if team is None:
        raise CommandError(f"no team {value!r}")
    return team


def _mapping(path: str | None, headers: list[str], kind: str, team: Any) -> dict[str, str]:
    module = services.KINDS[kind]
    if not path:
        from transfer.models import ImportMapping

        saved = ImportMapping.objects.filter(kind=kind, team=team).first()
        return suggest(headers, module.COLUMNS, saved.mapping if saved else None)
    chosen = json.loads(Path(path).read_text(encoding="utf-8"))
    known = {c.name for c in module.COLUMNS}
    by_header = {header_key(k): f for k, f in chosen.items()}
    mapping = {}
    for index, header in enumerate(headers):
        field = chosen.get(str(index)) or by_header.get(header_key(header)) or IGNORE
        if field not in known | {IGNORE}:
            raise CommandError(f"--mapping: unknown field {field!r}")
        mapping[str(index)] = field
    return mapping


def run(kind: str, options: dict[str, Any], out: Any) -> None:
    path = Path(options["file"])
    if not path.is_file():
        raise CommandError(f"no file {path}")
    user = _user(options.get("user"))
    team = _team(options.get("team"), user) if kind == ImportKind.CASES else None
    if kind == ImportKind.CASES and team is None:
        raise CommandError("name the team with --team")
    if not services.may_import(user, kind, team):
        raise CommandError(f"{user.username} may not import {kind} into this team")
    content = path.read_bytes()
    with translation.override(getattr(user, "language", None) or "de"):
        try:
            _run(kind, options, out, user, team, path.name, content)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc


def _run(
    kind: str, options: dict[str, Any], out: Any, user: Any, team: Any, name: str,
    content: bytes,
) -> None:  # fmt: skip
    module = services.KINDS[kind]
    table = read_table(content, file_name=name, is_header=is_known_header(module.COLUMNS))
    mapping = _mapping(options.get("mapping"), table.headers, kind, team)
    out.write(f"{len(table.rows)} rows, header in line {table.header_line}")
    for index, header in enumerate(table.headers):
        out.write(f"  column {header!r} -> {mapping[str(index)] or '(ignored)'}")
    problems = services.mapping_problems(kind, mapping)
    if problems:
        raise CommandError(" ".join(problems))
    if options["dry_run"]:
        # The check without a batch: nothing is written.
        with transaction.atomic():
            batch = services.import_upload(
                by=user, kind=kind, team=team, file_name=name, content=content
            )
            services.import_set_mapping(batch=batch, by=user, mapping=mapping, queue=False)
            services.import_check(batch.pk)
            batch.refresh_from_db()
            _report(batch, out)
            transaction.set_rollback(True)
        out.write("DRY RUN: nothing was written.")
        return
    batch = services.import_upload(by=user, kind=kind, team=team, file_name=name, content=content)
    services.import_set_mapping(batch=batch, by=user, mapping=mapping, queue=False)
    services.import_check(batch.pk)
    batch.refresh_from_db()
    _report(batch, out)
    if batch.state != ImportBatch.State.CHECKED:
        raise CommandError(batch.error or "the check failed")
    choice = options.get("duplicates", "skip")
    decisions = {}
    for row in batch.report.get("rows", []):
        if row["status"] == "duplicate":
            if choice == "attach":
                targets = services.attach_choices(batch, row["matches"])
                decisions[str(row["line"])] = f"attach:{targets[0]}" if targets else "skip"
            else:
                decisions[str(row["line"])] = choice
    services.import_confirm(batch=batch, by=user, decisions=decisions, queue=False)
    services.import_run(batch.pk)
    batch.refresh_from_db()
    outcomes = batch.counts.get("outcomes", {})
    out.write("imported: " + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))


def _report(batch: ImportBatch, out: Any) -> None:
    counts = batch.counts
    out.write(
        "checked: {rows} rows; {ok} fine, {error} with problems, {duplicate} likely "
        "duplicates, {already} imported before".format(**{
            k: counts.get(k, 0) for k in ("rows", "ok", "error", "duplicate", "already")
        })
    )  # fmt: skip
    for row in batch.report.get("rows", []):
        for column, message in row.get("errors", []):
            out.write(f"  line {row['line']}, {column or '-'}: {message}")
        for column, message in row.get("warnings", []):
            out.write(f"  line {row['line']}, {column or '-'} (note): {message}")
        if row["status"] == "duplicate":
            out.write(f"  line {row['line']}: likely duplicate of case id(s) {row['matches']}")
        if row["status"] == "already":
            out.write(f"  line {row['line']}: imported before, skipped")
