"""Print or write the anonymised figures for scheduled reporting (the page's tables).

    python manage.py export_summary --format csv > figures.csv
    python manage.py export_summary --format xlsx --output figures.xlsx --period 3 --target kita

The tables, suppression and notes are exactly those of the figures page for the same filters;
every run is recorded in the audit log (action ``figures.export``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from coordination.forms import database_ids
from coordination.models import District
from monitoring import exports, pages
from monitoring.dimensions import PERIODS, TARGETS, FigureFilters


class Command(BaseCommand):
    help = (
        "Export the anonymised figures (the tables of the figures page, small counts hidden) "
        "as CSV (to standard output or --output) or XLSX (--output)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--output", help="file to write (required for xlsx)")
        parser.add_argument(
            "--period", choices=list(PERIODS), default="12", help="last 12, 6 or 3 months"
        )
        parser.add_argument("--district", default="", help="district name or id (default: all)")
        parser.add_argument(
            "--target",
            choices=["", *TARGETS],
            default="",
            help="target type (default: all)",
        )
        parser.add_argument(
            "--language",
            choices=[c for c, _n in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fmt, output = options["format"], options["output"]
        if fmt == "xlsx" and not output:
            raise CommandError("--format xlsx needs --output FILE")
        filters = FigureFilters(
            period=options["period"],
            district=self._district(options["district"]),
            target=options["target"],
        )
        with translation.override(options["language"]):
            header = pages.figures_header(filters)
            body = exports.export(header.filters, fmt)
        exports.log_export(actor=None, fmt=fmt, filters=header.filters, via="command")
        if output:
            path = Path(output)
            if isinstance(body, bytes):
                path.write_bytes(body)
            else:
                path.write_text(body, encoding="utf-8-sig", newline="")
            self.stderr.write(f"figures written to {path}")
        else:
            self.stdout.write(str(body), ending="")

    @staticmethod
    def _district(value: str) -> int | None:
        value = value.strip()
        if not value:
            return None
        # A number is an id (one no row can have matches nothing), anything else a name.
        query = (
            District.objects.filter(pk__in=database_ids([value]))
            if value.isdecimal()
            else District.objects.filter(name__iexact=value)
        )
        district = query.values_list("pk", flat=True).first()
        if district is None:
            raise CommandError(f"unknown district: {value}")
        return district
