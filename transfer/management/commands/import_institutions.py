"""``python manage.py import_institutions FILE [--dry-run] [--mapping FILE]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from transfer import cli
from transfer.models import ImportKind


class Command(BaseCommand):
    help = (
        "Import an office's list of schools and Kitas with their districts and free places "
        "(.xlsx or .csv); see docs/import-export.md."
    )

    def add_arguments(self, parser: Any) -> None:
        cli.add_arguments(parser, kind=ImportKind.INSTITUTIONS)

    def handle(self, *args: Any, **options: Any) -> None:
        cli.run(ImportKind.INSTITUTIONS, options, self.stdout)
