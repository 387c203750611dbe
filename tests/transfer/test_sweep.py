"""The clean-up sweep: files older than a day are deleted; stalled work is handed over again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from tests.transfer.conftest import DATA
from transfer import services
from transfer.models import ImportBatch


def test_a_file_older_than_a_day_is_deleted(office: Any) -> None:
    content = (DATA / "faelle_buero.xlsx").read_bytes()
    batch = services.import_upload(by=office.coordinator, kind="cases", team=office.team,
                                   file_name="liste.xlsx", content=content)  # fmt: skip

    assert services.imports_sweep(now=timezone.now() + dt.timedelta(hours=23))["deleted"] == 0
    assert services.imports_sweep(now=timezone.now() + dt.timedelta(hours=25))["deleted"] == 1

    batch.refresh_from_db()
    assert batch.content is None and batch.state == ImportBatch.State.DISCARDED


def test_a_stalled_import_resumes_where_it_stopped(
    office: Any, django_capture_on_commit_callbacks: Any
) -> None:
    content = (DATA / "faelle_buero.xlsx").read_bytes()
    batch = services.import_upload(by=office.coordinator, kind="cases", team=office.team,
                                   file_name="liste.xlsx", content=content)  # fmt: skip
    services.import_set_mapping(batch=batch, by=office.coordinator, mapping=batch.mapping,
                                queue=False)  # fmt: skip
    services.import_check(batch.pk)
    batch.refresh_from_db()
    services.import_confirm(batch=batch, by=office.coordinator, decisions={}, queue=False)
    # The worker stopped after the first rows: two are recorded, the batch still "importing".
    from cases.models import Case

    table = services.batch_table(batch)
    first = list(services.mapped_rows(batch, table))[:2]
    ctx = services.KINDS["cases"].Context.load()
    for line, values in first:
        services._import_row(batch, services.KINDS["cases"], ctx, office.coordinator, line,
                             values, "Liste")  # fmt: skip
    assert Case.objects.count() == 2
    ImportBatch.objects.filter(pk=batch.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.imports_sweep()["requeued"] == 1  # runs inline (eager) in tests

    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.DONE
    assert Case.objects.count() == 5
