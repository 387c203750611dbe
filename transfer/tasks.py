"""The worker's part of imports: checking, importing, and the clean-up sweep. Tasks take the
batch id only and are idempotent (each step re-checks the batch's state under its lock)."""

from __future__ import annotations

from celery import shared_task

from transfer import services


@shared_task(name="transfer.tasks.check_import", acks_late=True, ignore_result=True)
def check_import(batch_id: int) -> None:
    services.import_check(batch_id)


@shared_task(name="transfer.tasks.run_import", acks_late=True, ignore_result=True)
def run_import(batch_id: int) -> None:
    services.import_run(batch_id)


@shared_task(name="transfer.tasks.sweep_imports", acks_late=True, ignore_result=True)
def sweep_imports() -> dict[str, int]:
    return services.imports_sweep()
