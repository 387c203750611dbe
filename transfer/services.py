"""Imports: upload, mapping, check, confirmation, the import itself, discarding and clean-up.

Nothing of an office's list is written before the user confirms: the upload stores the file
encrypted, the check (in the worker) writes only its report. The import runs in the worker in
chunks, each its own transaction, every row in a savepoint: a row that fails writes nothing,
and a stopped import resumes after its last committed chunk (``ImportedRow`` per line). Each
row's key (HMAC of its mapped values) is recorded, so the same row imports nothing twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseEvent
from cases.services import case_record_event, may_import_cases
from coordination.audit import audit_log
from coordination.crypto import get_keyring
from coordination.exceptions import DomainError, NotAllowed
from coordination.roles import is_administrator
from transfer import case_rows, institution_rows
from transfer.columns import IGNORE, header_key, is_known_header, suggest
from transfer.models import ImportBatch, ImportedRow, ImportKind, ImportMapping
from transfer.reading import Table, read_table
from transfer.values import text

CONTENT_CONTEXT = "transfer.importbatch.content"
KEEP_FILE = dt.timedelta(days=1)
CHUNK = 100
PREVIEW_ROWS = 10
STALLED = dt.timedelta(minutes=10)

KINDS: dict[str, ModuleType] = {
    ImportKind.CASES: case_rows,
    ImportKind.INSTITUTIONS: institution_rows,
}

State = ImportBatch.State


class Decision:
    SKIP = "skip"
    IMPORT = "import"
    ATTACH = "attach"


# --- the stored file -----------------------------------------------------------------------


def _seal(content: bytes) -> bytes:
    return get_keyring().encrypt(content, context=CONTENT_CONTEXT)


def _open(batch: ImportBatch) -> bytes:
    if batch.content is None:
        raise DomainError(_("The uploaded file has been deleted (after a day). Upload it again."))
    return get_keyring().decrypt(bytes(batch.content), context=CONTENT_CONTEXT)


def batch_table(batch: ImportBatch) -> Table:
    kind = KINDS[batch.kind]
    return read_table(
        _open(batch), file_name=batch.file_name, is_header=is_known_header(kind.COLUMNS)
    )


def mapped_rows(batch: ImportBatch, table: Table) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, {field: cell}) for every data row, through the batch's mapping."""
    fields = {int(i): f for i, f in batch.mapping.items() if f != IGNORE}
    for line, cells in table.rows:
        yield line, {f: cells[i] for i, f in fields.items() if i < len(cells)}


def row_key(values: dict[str, Any]) -> str:
    """A row's identity for "imported before": HMAC of its mapped values."""
    canonical = "\x1e".join(f"{k}\x1f{text(values[k])}" for k in sorted(values))
    return get_keyring().blind_index(canonical, purpose="import-row")


# --- permissions ---------------------------------------------------------------------------


def may_import(by: Any, kind: str, team: Any) -> bool:
    if kind == ImportKind.CASES:
        return may_import_cases(by, team)
    return is_administrator(by)


def _require(batch: ImportBatch, by: Any) -> None:
    if not may_import(by, batch.kind, batch.team):
        raise NotAllowed()


# --- upload and mapping --------------------------------------------------------------------


@transaction.atomic
def import_upload(*, by: Any, kind: str, team: Any, file_name: str, content: bytes) -> ImportBatch:
    """Read the file once (to refuse an unreadable one now) and keep it encrypted."""
    if kind not in KINDS or not may_import(by, kind, team):
        raise NotAllowed()
    module = KINDS[kind]
    table = read_table(content, file_name=file_name, is_header=is_known_header(module.COLUMNS))
    saved = ImportMapping.objects.filter(kind=kind, team=team).first()
    now = timezone.now()
    batch = ImportBatch.objects.create(
        kind=kind,
        created_by=by,
        team=team if kind == ImportKind.CASES else None,
        file_name=file_name[:255],
        file_key=get_keyring().blind_index(hashlib.sha256(content).hexdigest(), purpose="import"),
        content=_seal(content),
        headers=table.headers,  # type: ignore[misc]
        mapping=suggest(table.headers, module.COLUMNS, saved.mapping if saved else None),
        progress_total=len(table.rows),
        expires_at=now + KEEP_FILE,
    )
    audit_log(actor=by, action="import.upload", obj=batch, detail={
        # No file name: it may carry a name ("Anmeldungen Familie X.xlsx"); the batch id
        # names the import, whose (encrypted) file name the import page shows.
        "kind": kind, "rows": len(table.rows),
        "team": getattr(team, "pk", None),
    })  # fmt: skip
    return batch


def mapping_problems(kind: str, mapping: dict[str, str]) -> list[str]:
    """What is wrong with a mapping: a field chosen twice, a required field missing."""
    module = KINDS[kind]
    labels = {c.name: c.label for c in module.COLUMNS}
    chosen = [f for f in mapping.values() if f != IGNORE]
    problems = [
        gettext("“%(field)s” is chosen for more than one column.") % {"field": labels[f]}
        for f in sorted(set(chosen))
        if chosen.count(f) > 1
    ]
    for names in module.REQUIRED_ONE_OF:
        if not any(n in chosen for n in names):
            problems.append(
                gettext("Choose a column for “%(field)s”.") % {"field": labels[names[0]]}
            )
    return problems


@transaction.atomic
def import_set_mapping(
    *, batch: ImportBatch, by: Any, mapping: dict[str, str], queue: bool = True
) -> ImportBatch:
    """Keep the chosen columns (also for the team's next import) and start the check (in the
    worker; ``queue=False``: the caller runs ``import_check`` itself, as the command does)."""
    _require(batch, by)
    if batch.state not in (State.UPLOADED, State.CHECKED):
        raise DomainError(_("This import can no longer be changed."))
    module = KINDS[batch.kind]
    known = {c.name for c in module.COLUMNS}
    mapping = {
        str(i): (mapping.get(str(i)) or IGNORE)
        for i in range(len(batch.headers))
        if (mapping.get(str(i)) or IGNORE) in known | {IGNORE}
    }
    problems = mapping_problems(batch.kind, mapping)
    if problems:
        raise DomainError(" ".join(problems))
    batch.mapping = mapping
    batch.state = State.CHECKING
    batch.progress_done = 0
    batch.decisions = {}
    batch.save()
    saved, _created = ImportMapping.objects.get_or_create(kind=batch.kind, team=batch.team)
    saved.mapping = {
        **saved.mapping,
        **{header_key(batch.headers[int(i)]): f for i, f in mapping.items()},
    }
    saved.save()
    if queue:
        _queue("check", batch.pk)
    return batch


def _queue(what: str, batch_id: int) -> None:
    """Hand the batch to the worker after commit; a broker outage leaves it for the sweep."""
    from transfer import tasks

    task = tasks.check_import if what == "check" else tasks.run_import

    def send() -> None:
        try:
            task.delay(batch_id)
        except Exception:  # the broker is down: the sweep hands it over later
            if getattr(task.app.conf, "task_always_eager", False):
                raise

    transaction.on_commit(send)


# --- the check -----------------------------------------------------------------------------


def import_check(batch_id: int) -> None:
    """Check every row (worker): errors, warnings, likely duplicates, rows imported before.

    Writes only the batch's (encrypted) report and counts; resumes from scratch if stopped.
    """
    batch = ImportBatch.objects.select_related("created_by", "team").get(pk=batch_id)
    if batch.state != State.CHECKING:
        return
    module = KINDS[batch.kind]
    labels = {c.name: str(c.label) for c in module.COLUMNS}
    columns = {f: batch.headers[int(i)] for i, f in batch.mapping.items() if f != IGNORE}
    user_language = getattr(batch.created_by, "language", None) or "de"
    try:
        table = batch_table(batch)
    except DomainError as exc:
        _fail(batch, str(exc.message))
        return
    rows = list(mapped_rows(batch, table))
    keys = {line: row_key(values) for line, values in rows}
    done = _imported_keys(keys.values())
    report: list[dict[str, Any]] = []
    preview: list[dict[str, Any]] = []
    counts = {"rows": len(rows), "ok": 0, "error": 0, "duplicate": 0, "already": 0, "warning": 0}
    with translation.override(user_language):
        ctx = module.Context.load()
        for position, (line, values) in enumerate(rows, start=1):
            if keys[line] in done:
                counts["already"] += 1
                report.append({"line": line, "status": "already"})
            else:
                check = module.check_row(line, values, ctx)
                status = "error" if check.errors else ("duplicate" if check.matches else "ok")
                counts[status] += 1
                counts["warning"] += bool(check.warnings)
                if status != "ok" or check.warnings:
                    report.append({
                        "line": line, "status": status, "matches": check.matches,
                        "errors": [[_where(f, columns, labels), m] for f, m in check.errors],
                        "warnings": [[_where(f, columns, labels), m] for f, m in check.warnings],
                    })  # fmt: skip
                if not check.errors and len(preview) < PREVIEW_ROWS:
                    preview.append({"line": line, "shown": check.shown})
            if position % 500 == 0:
                ImportBatch.objects.filter(pk=batch.pk).update(
                    progress_done=position, updated_at=timezone.now()
                )
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.state != State.CHECKING:
            return
        locked.report = {"rows": report, "preview": preview, "header_line": table.header_line,
                         "encoding": table.encoding, "delimiter": table.delimiter}  # fmt: skip
        locked.counts = counts
        locked.progress_done = locked.progress_total = len(rows)
        locked.state = State.CHECKED
        locked.save()


def _where(name: str, columns: dict[str, str], labels: dict[str, str]) -> str:
    """The column a problem is in, as the office named it (or the field, if unmapped)."""
    if not name:
        return ""
    return columns.get(name) or labels.get(name, name)


def _imported_keys(keys: Any) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for start in range(0, len(keys), 1000):
        found.update(
            ImportedRow.objects.filter(
                row_key__in=keys[start : start + 1000],
                outcome__in=[ImportedRow.Outcome.CREATED, ImportedRow.Outcome.ATTACHED],
            ).values_list("row_key", flat=True)
        )
    return found


def _fail(batch: ImportBatch, message: str) -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(
        state=State.FAILED, error=message[:300], content=None, finished_at=timezone.now()
    )


# --- confirmation and the import -----------------------------------------------------------


def attach_choices(batch: ImportBatch, matches: list[int]) -> list[int]:
    """The likely duplicates a row may be attached to: cases of the import's own team."""
    if batch.team_id is None:
        return []
    return list(
        Case.objects.filter(pk__in=matches, team_id=batch.team_id, erased_at__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def import_confirm(
    *, batch: ImportBatch, by: Any, decisions: dict[str, str], queue: bool = True
) -> ImportBatch:
    """The user confirmed: record the decisions on likely duplicates and start the import.

    ``decisions``: {line: "skip" | "import" | "attach:<case id>"}; a likely duplicate without
    a decision is skipped.
    """
    _require(batch, by)
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.state != State.CHECKED:
        raise DomainError(_("This import has already been started or discarded."))
    if batch.content is None:
        raise DomainError(_("The uploaded file has been deleted (after a day). Upload it again."))
    allowed: dict[str, set[str]] = {}
    for row in batch.report.get("rows", []):
        if row["status"] == "duplicate":
            attach = {f"attach:{pk}" for pk in attach_choices(batch, row["matches"])}
            allowed[str(row["line"])] = {Decision.SKIP, Decision.IMPORT, *attach}
    clean = {}
    for line, decision in decisions.items():
        if line in allowed:
            if decision not in allowed[line]:
                raise DomainError(_("A decision on a likely duplicate is not possible."))
            clean[line] = decision
    batch.decisions = clean
    batch.state = State.IMPORTING
    batch.progress_done = 0
    batch.save()
    audit_log(actor=by, action="import.confirm", obj=batch,
              detail={"kind": batch.kind, "counts": batch.counts})  # fmt: skip
    if queue:
        _queue("run", batch.pk)
    return batch


def import_run(batch_id: int) -> None:
    """Import the confirmed rows (worker), in chunks; resumes after the last committed one."""
    batch = ImportBatch.objects.select_related("created_by", "team").get(pk=batch_id)
    if batch.state != State.IMPORTING:
        return
    module = KINDS[batch.kind]
    by = batch.created_by
    user_language = getattr(by, "language", None) or "de"
    try:
        table = batch_table(batch)
    except DomainError as exc:
        _fail(batch, str(exc.message))
        return
    rows = list(mapped_rows(batch, table))
    with translation.override(user_language):
        ctx = module.Context.load()
        source = gettext("Imported from the list “%(file)s”") % {"file": batch.file_name[:120]}
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            with transaction.atomic():
                locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
                if locked.state != State.IMPORTING:
                    return
                done = set(
                    ImportedRow.objects.filter(
                        batch=batch, line__in=[line for line, _v in chunk]
                    ).values_list("line", flat=True)
                )
                # One query per chunk for "imported before" (the savepoint of each row still
                # meets the unique key, should another import take a row meanwhile).
                before = _imported_keys(row_key(values) for _line, values in chunk)
                for line, values in chunk:
                    if line not in done:
                        _import_row(batch, module, ctx, by, line, values, source, before)
                locked.progress_done = start + len(chunk)
                locked.save(update_fields=["progress_done", "updated_at"])
    _finish(batch, by)


def _import_row(
    batch: ImportBatch, module: ModuleType, ctx: Any, by: Any, line: int,
    values: dict[str, Any], source: str, before: set[str] | None = None,
) -> None:  # fmt: skip
    key = row_key(values)
    record = functools.partial(ImportedRow.objects.create, batch=batch, line=line, row_key=key)
    if key in (before if before is not None else _imported_keys([key])):
        record(outcome=ImportedRow.Outcome.SKIPPED, message="imported before")
        return
    check = module.check_row(line, values, ctx)
    if check.errors:
        record(outcome=ImportedRow.Outcome.SKIPPED, message="problems in the row")
        return
    decision = batch.decisions.get(str(line), "")
    if check.matches and not decision:
        record(outcome=ImportedRow.Outcome.SKIPPED, message="likely duplicate")
        return
    if decision == Decision.SKIP:
        record(outcome=ImportedRow.Outcome.SKIPPED, message="likely duplicate: skipped")
        return
    detail = {"import": batch.pk, "line": line}
    try:
        with transaction.atomic():
            if decision.startswith(f"{Decision.ATTACH}:"):
                case = _attach(batch, by, line, int(decision.split(":", 1)[1]), source)
                record(outcome=ImportedRow.Outcome.ATTACHED, case=case)
                return
            obj, outcome = module.write_row(
                check, by=by, team=batch.team, source=f"{source}, {_line(line)}", detail=detail
            )
            record(
                outcome=outcome,
                case=obj if isinstance(obj, Case) else None,
                object_id=str(obj.pk),
            )
    except (DomainError, IntegrityError) as exc:
        # Nothing of the row was written (its savepoint is rolled back).
        message = str(exc.message) if isinstance(exc, DomainError) else "conflict"
        record(outcome=ImportedRow.Outcome.FAILED, message=message[:300])


def _line(line: int) -> str:
    return gettext("line %(line)d") % {"line": line}


def _attach(batch: ImportBatch, by: Any, line: int, case_id: int, source: str) -> Case:
    """ "Attach": the row is the existing case. Its data stays as it is; its history notes
    that the office's list also had it (so the row counts as imported)."""
    case = Case.objects.get(pk=case_id, team_id=batch.team_id)
    case_record_event(
        case=case, by=by, kind=CaseEvent.Kind.EDITED,
        comment=gettext("%(source)s, %(line)s: the same child; no data changed.")
        % {"source": source, "line": _line(line)},
    )  # fmt: skip
    return case


def _finish(batch: ImportBatch, by: Any) -> None:
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.state != State.IMPORTING:
            return
        outcomes: dict[str, int] = {}
        for outcome in locked.rows.values_list("outcome", flat=True):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        locked.counts = {**locked.counts, "outcomes": outcomes}
        locked.state = State.DONE
        locked.content = None  # the file is deleted once imported
        locked.finished_at = timezone.now()
        locked.progress_done = locked.progress_total
        locked.save()
        audit_log(actor=by, action="import.done", obj=locked, detail={
            "kind": locked.kind, "outcomes": outcomes,
            "team": locked.team_id,
        })  # fmt: skip


@transaction.atomic
def import_discard(*, batch: ImportBatch, by: Any) -> None:
    """Drop an import that was not started; its file is deleted."""
    _require(batch, by)
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.state in (State.IMPORTING, State.DONE):
        raise DomainError(_("This import has already been started."))
    batch.state = State.DISCARDED
    batch.content = None
    batch.finished_at = timezone.now()
    batch.save()
    audit_log(actor=by, action="import.discard", obj=batch, detail={"kind": batch.kind})


def imports_sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete files older than a day; hand stalled checks and imports to the worker again."""
    now = now or timezone.now()
    expired = ImportBatch.objects.filter(content__isnull=False, expires_at__lt=now)
    dropped = expired.exclude(state=State.IMPORTING).update(
        content=None, state=State.DISCARDED, finished_at=now
    )
    requeued = 0
    stalled = ImportBatch.objects.filter(
        state__in=[State.CHECKING, State.IMPORTING], updated_at__lt=now - STALLED
    )
    for batch in stalled.only("id", "state"):
        _queue("check" if batch.state == State.CHECKING else "run", batch.pk)
        requeued += 1
    return {"deleted": dropped, "requeued": requeued}
