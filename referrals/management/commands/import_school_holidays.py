"""Import school holidays (or closing days of all Kitas) from a CSV file.

One period per line: ``name;first day;last day`` with dates as ``2027-10-04`` or
``04.10.2027`` (a header line is skipped). Existing periods with the same dates are kept, so
importing a file twice adds nothing. ``--kitas`` imports closing days of all Kitas instead.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from referrals.models import ClosingPeriod


def parse_day(text: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


class Command(BaseCommand):
    help = "Import school holidays from a CSV file (name;first day;last day)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--kitas", action="store_true", help="closing days of all Kitas")

    def handle(self, *args: Any, **options: Any) -> None:
        applies_to = (
            ClosingPeriod.AppliesTo.KITAS if options["kitas"] else ClosingPeriod.AppliesTo.SCHOOLS
        )
        try:
            text = options["file"].read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ";", delimiters=";,\t")
        periods = []
        for number, row in enumerate(csv.reader(text.splitlines(), dialect), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                name, first, last = (cell.strip() for cell in row[:3])
                start, end = parse_day(first), parse_day(last)
            except ValueError as exc:
                if number == 1:
                    continue  # a header line
                raise CommandError(f"line {number}: {exc}") from None
            if end < start:
                raise CommandError(f"line {number}: the last day is before the first day")
            periods.append((name, start, end))
        created = 0
        with transaction.atomic():
            for name, start, end in periods:
                _period, new = ClosingPeriod.objects.get_or_create(
                    applies_to=applies_to, start=start, end=end, institution=None,
                    defaults={"name": name[:80]},
                )  # fmt: skip
                created += new
        self.stdout.write(f"{created} new, {len(periods) - created} already there")
