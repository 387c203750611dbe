"""``python manage.py import_cases FILE [--dry-run] [--team TEAM] [--mapping FILE]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from transfer import cli
from transfer.models import ImportKind


class Command(BaseCommand):
    help = "Import an office's list of cases (.xlsx or .csv); see docs/import-export.md."

    def add_arguments(self, parser: Any) -> None:
        cli.add_arguments(parser, kind=ImportKind.CASES)

    def handle(self, *args: Any, **options: Any) -> None:
        cli.run(ImportKind.CASES, options, self.stdout)
