"""The case list search over 5,000 visible cases (issue 17.1: p95 under 150 ms).

A generated team holds about 500 cases; a large team, or an administrator-like coordinator,
may see ten times as many. Inside a transaction that is rolled back afterwards, ``visible``
cases are moved into the bench coordinator's team; then ``cases_search`` (load the names,
decrypt, fold, rank, load the rows of the hits) is timed for a mix of name queries taken
from the data (prefix, another spelling, a typo, names swapped, with a birth year) and for a
reference and a birth date. The data set is left as it was.

Run alone: ``python -m benchmarks.search`` (bench settings, a generated database).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

TARGET_MS = 150.0
VISIBLE = 5_000


def _queries(case: Any) -> dict[str, str]:
    family, given = case.family_name, case.given_name
    typo = family[:2] + ("x" if family[2] != "x" else "y") + family[3:]
    return {
        "family name prefix": family[:4],
        "family name, one typo": typo,
        "family and given name swapped": f"{family} {given}",
        "family name and birth year": f"{family} {case.birth_year}",
        "given name, German spelling": given.replace("v", "w").replace("sh", "sch"),
        "reference without prefix": str(int(case.reference.rsplit("-", 1)[1])),
        "birth date": case.birth_date.strftime("%d.%m.%Y") if case.birth_date else "2017",
    }


def run(*, visible: int = VISIBLE, runs: int = 15, log: Any = print) -> dict[str, Any]:
    from django.db import transaction

    from benchmarks.pages import _percentile, bench_users
    from cases.models import Case
    from cases.selectors import cases_search, cases_visible_to

    user = bench_users().coordinator
    with transaction.atomic():
        ids = list(Case.objects.order_by("id").values_list("id", flat=True)[:visible])
        Case.objects.filter(pk__in=ids).update(team_id=user.team_id)
        seen = cases_visible_to(user).count()
        sample = Case.objects.filter(pk__in=ids[len(ids) // 2 :]).filter(
            family_name__isnull=False, erased_at__isnull=True
        )
        queries = _queries(sample.order_by("id").first())
        for query in queries.values():  # warm-up
            cases_search(user=user, query=query)
        times: list[float] = []
        per_query: dict[str, list[float]] = {label: [] for label in queries}
        found: dict[str, int] = {}
        for _ in range(runs):
            for label, query in queries.items():
                started = time.perf_counter()
                result = cases_search(user=user, query=query)
                elapsed = (time.perf_counter() - started) * 1000
                times.append(elapsed)
                per_query[label].append(elapsed)
                found[label] = result.matched
        transaction.set_rollback(True)
    figures = {
        "visible_cases": seen,
        "searches": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
        "target_p95_ms": TARGET_MS,
        "queries": {
            label: {"median_ms": round(statistics.median(t), 2), "matched": found[label]}
            for label, t in per_query.items()
        },
    }
    log(
        f"  search over {seen:,} visible cases: median {figures['median_ms']} ms, "
        f"p95 {figures['p95_ms']} ms (target < {TARGET_MS:.0f} ms)"
    )
    return figures


def main() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    django.setup()
    run()


if __name__ == "__main__":
    main()
