"""``manage.py import_school_holidays``: next school year's dates from a CSV file."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from referrals.models import ClosingPeriod

pytestmark = pytest.mark.django_db


def test_import_adds_periods_once(tmp_path) -> None:
    path = tmp_path / "ferien.csv"
    path.write_text(
        "Name;Beginn;Ende\nHerbstferien 2028;09.10.2028;20.10.2028\n"
        "Weihnachtsferien 2028/29;2028-12-21;2029-01-08\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command("import_school_holidays", str(path), stdout=out)
    assert "2 new" in out.getvalue()
    call_command("import_school_holidays", str(path), stdout=out)
    assert "0 new, 2 already there" in out.getvalue()
    period = ClosingPeriod.objects.get(name="Herbstferien 2028")
    assert (period.start, period.end, period.applies_to) == (
        dt.date(2028, 10, 9),
        dt.date(2028, 10, 20),
        "schools",
    )


def test_a_bad_line_is_refused_with_its_number_and_nothing_is_imported(tmp_path) -> None:
    path = tmp_path / "ferien.csv"
    path.write_text("Herbst;09.10.2028;20.10.2028\nOstern;31.02.2029;01.03.2029\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("import_school_holidays", str(path))
    assert not ClosingPeriod.objects.filter(name="Herbst").exists()
