"""The import of an office's list: rows per second for the check and for the import.

A CSV with ``rows`` fictional children (German headers, German dates, ";" delimiter) is
checked and imported through the same services as the page and ``manage.py import_cases``
(``transfer.services``), inline, by a benchmark coordinator of a team of its own. Runs on the
working copy (it writes cases). ``python -m benchmarks.imports --rows 2000`` runs only this
measurement, on the configured database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from typing import Any

FAMILY = [
    "Haddad",
    "Kovalenko",
    "Nowak",
    "Rahimi",
    "Yilmaz",
    "Ionescu",
    "Berisha",
    "Mensah",
    "Aziz",
    "Horak",
    "Popescu",
    "Demir",
    "Shevchenko",
    "Ahmadi",
    "Osei",
    "Krasniqi",
]
GIVEN = ["Amina", "Dmytro", "Zofia", "Omid", "Elif", "Matei", "Arta", "Kofi", "Samir", "Lina",
         "Pavel", "Sara", "Yusuf", "Olena", "Ali", "Mariam", "Ivan", "Nour", "Emir",
         "Leyla"]  # fmt: skip


def make_csv(rows: int, *, seed: int, district: str = "Bench-Stadtteil") -> bytes:
    rng = random.Random(seed)
    lines = ["Nachname;Vorname;Geburtsdatum;Sprache;Ziel;Klasse;Stadtteil;Schulbesuchsjahre;"
             "Status;Bemerkung"]  # fmt: skip
    for n in range(rows):
        birth = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 5 * 365))
        grade = max(1, min(8, 2026 - birth.year - 6))
        lines.append(
            f"{rng.choice(FAMILY)}-{n};{rng.choice(GIVEN)};{birth:%d.%m.%Y};Arabisch;Schule;"
            f"Klasse {grade};{district};{min(grade, 4)};neu;Zeile {n}"
        )
    return "\r\n".join(lines).encode("cp1252")


def run(*, rows: int = 10_000) -> dict[str, Any]:
    from django.contrib.auth.models import Group

    from coordination.models import District, Team, User
    from transfer import services

    team, _created = Team.objects.get_or_create(name="Bench import team")
    District.objects.get_or_create(name="Bench-Stadtteil")
    user = User.objects.create(username=f"bench-import-{time.time_ns()}", team=team)
    user.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    # A new list each run: rows of an earlier run would be recognised and skipped.
    content = make_csv(rows, seed=time.time_ns())
    started = time.perf_counter()
    batch = services.import_upload(by=user, kind="cases", team=team, file_name="bench.csv",
                                   content=content)  # fmt: skip
    services.import_set_mapping(batch=batch, by=user, mapping=batch.mapping, queue=False)
    upload_seconds = time.perf_counter() - started
    started = time.perf_counter()
    services.import_check(batch.pk)
    check_seconds = time.perf_counter() - started
    batch.refresh_from_db()
    services.import_confirm(batch=batch, by=user, decisions={}, queue=False)
    started = time.perf_counter()
    services.import_run(batch.pk)
    import_seconds = time.perf_counter() - started
    batch.refresh_from_db()
    created = batch.counts.get("outcomes", {}).get("created", 0)
    return {
        "rows": rows,
        "created": created,
        "upload_seconds": round(upload_seconds, 2),
        "check_seconds": round(check_seconds, 2),
        "check_rows_per_second": round(rows / check_seconds) if check_seconds else None,
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_second": round(created / import_seconds) if import_seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    print(run(rows=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
