"""Where the worker's computation of the figures spends its time, and how much the
incremental and the parallel protection (``monitoring/protection.py``) save.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ankommen_bench_x \\
        python -m benchmarks.figures_scale --dataset ankommen_bench_x_100000 [--processes 2]

Works on a copy of the data set (``<dataset>_figrun``, dropped at the end: the day's changes
are written into it), with a local-memory cache:

1. the phases, serially: the queries, each part's protection, the pages (``refresh_figures``
   minus its computation);
2. the full computation in one process and in ``--processes``, compared table by table;
3. a day's changes (``--changes`` waiting children placed today, spread over the districts),
   then the incremental computation (parts reused by fingerprint) and a full one, compared
   table by table and as the CSV export of every period and target type, cell by cell.

Prints a JSON summary (``--output`` writes it too). Not part of ``make bench``: the lead's
benchmark runs the figures job in ``benchmarks/pages.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


def tables_equal(a: Any, b: Any) -> list[str]:
    """The differences between two ``FigureData`` sets, table by table (empty: the same)."""
    differences = []
    for name in (
        "waiting",
        "pending",
        "registered",
        "placed",
        "stock",
        "referrals",
        "on_time",
        "offers",
    ):
        x, y = getattr(a, name), getattr(b, name)
        for attribute in ("dimensions", "nodes", "radix", "counts", "hidden", "primary"):
            if getattr(x, attribute) != getattr(y, attribute):
                differences.append(f"{name}.{attribute}")
    return differences


def csv_exports(data: Any, today: dt.date) -> dict[str, str]:
    """The CSV export of every period and target type (all districts) for one computed set."""
    from django.core.cache import cache
    from django.utils import translation

    from monitoring import cache as figure_cache
    from monitoring import exports
    from monitoring.dimensions import PERIODS, TARGETS, FigureFilters

    cache.clear()
    key = figure_cache.figures_data_key(today, data.threshold, data.answer_days, data.districts)
    cache.set(key, data, figure_cache.KEEP_SECONDS)
    cache.set(f"{key}:stamp", data.computed_at, figure_cache.KEEP_SECONDS)
    found = {}
    with translation.override("en"):
        for period in PERIODS:
            for target in ["", *TARGETS]:
                body = exports.export(
                    FigureFilters(period=period, target=target), "csv", today=today
                )
                found[f"{period}/{target or 'all'}"] = str(body)
    cache.clear()
    return found


def csv_differences(a: dict[str, str], b: dict[str, str]) -> int:
    """Cells that differ between two sets of CSV exports."""
    differing = 0
    for key in a.keys() | b.keys():
        rows_a = [r.split(";") for r in a.get(key, "").splitlines()]
        rows_b = [r.split(";") for r in b.get(key, "").splitlines()]
        if len(rows_a) != len(rows_b):
            differing += abs(len(rows_a) - len(rows_b))
        for x, y in zip(rows_a, rows_b, strict=False):
            differing += sum(1 for p, q in zip(x, y, strict=False) if p != q)
            differing += abs(len(x) - len(y))
    return differing


def day_of_changes(count: int, today: dt.date) -> int:
    """``count`` waiting children placed today, spread over the districts (one per district,
    round robin): what a busy office records in a day. Returns how many were changed."""
    from cases.models import WAITING_STATES, Case

    chosen: list[int] = []
    seen: set[int] = set()
    rows = Case.objects.filter(state__in=WAITING_STATES).order_by("district_id", "id")
    for pk, district_id in rows.values_list("id", "district_id").iterator():
        if district_id not in seen:
            seen.add(district_id)
            chosen.append(pk)
        if len(chosen) >= count:
            break
    return Case.objects.filter(pk__in=chosen).update(state="placed", placed_on=today)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="the data set to copy (never written)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--no-csv", action="store_true", help="skip the CSV comparison")
    parser.add_argument("--keep-copy", action="store_true")
    parser.add_argument("--output")
    parser.add_argument(
        "--phases-only", action="store_true",
        help="only step 1, on the data set itself (read only, no copy: a nationwide data set "
        "is tens of GB), each part in a child process stopped after --part-cap seconds",
    )  # fmt: skip
    parser.add_argument("--part-cap", type=float, default=600.0)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.utils import timezone, translation

    from benchmarks import db
    from monitoring import computation, protection
    from monitoring.cache import district_list
    from monitoring.dimensions import PERIODS, FigureFilters, Window
    from monitoring.disclosure import effective_threshold
    from monitoring.pages import figures_page

    copy = args.dataset if args.phases_only else f"{args.dataset}_figrun"
    if not args.phases_only:
        db.drop_database(copy)
        db.create_database(copy, template=args.dataset)
    db.use_database(copy)
    caches["default"] = LocMemCache("figures-scale", {})
    cache = caches["default"]
    summary: dict[str, Any] = {"dataset": args.dataset, "processes": args.processes}

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        from coordination.models import OfficeSettings

        today = timezone.localdate()
        office = OfficeSettings.current()
        threshold = effective_threshold(office.suppression_threshold)
        districts = district_list()
        window = Window.ending(today)
        summary["districts"] = len(districts)

        def compute(processes: int, reuse: bool) -> tuple[Any, float]:
            started = time.perf_counter()
            data = computation.compute_data(
                window,
                threshold,
                office.reminder_1_days,
                districts,
                processes=processes,
                reuse=reuse,
            )
            data.computed_at = timezone.now()
            return data, time.perf_counter() - started

        # 1. The phases, serially.
        started = time.perf_counter()
        parts = computation.figure_parts(window, threshold, office.reminder_1_days, districts)
        summary["queries_s"] = round(time.perf_counter() - started, 2)
        summary["parts"] = {}
        for part in parts:
            started = time.perf_counter()
            if args.phases_only:
                finished = protect_capped(part, args.part_cap)
            else:
                protection.protect_part(part)
                finished = True
            summary["parts"][part.name] = {
                "counts": part.size,
                "seconds": round(time.perf_counter() - started, 2),
                "finished": finished,
            }
            log(f"  {part.name}: {summary['parts'][part.name]}")
        if args.phases_only:
            return _finish(summary, args)
        cache.clear()
        started = time.perf_counter()
        computation.figure_data(today, districts, refresh=True)
        summary["figure_data_serial_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        for language in ("de", "en"):  # what ``refresh_figures`` builds after the computation
            with translation.override(language):
                for period in PERIODS:
                    figures_page(FigureFilters(period=period), today=today, district_page=1)
        summary["pages_s"] = round(time.perf_counter() - started, 2)
        log(f"phases: {summary}")

        # 2. Full, serial and parallel.
        cache.clear()
        serial, summary["full_serial_s"] = compute(1, reuse=False)
        cache.clear()
        parallel, summary["full_parallel_s"] = compute(args.processes, reuse=False)
        summary["parallel_differences"] = tables_equal(serial, parallel)
        log(f"full: serial {summary['full_serial_s']} s, parallel {summary['full_parallel_s']} s")

        # 3. A day's changes: incremental against full.
        cache.clear()
        compute(args.processes, reuse=True)  # keeps every part
        unchanged, summary["incremental_unchanged_s"] = compute(args.processes, reuse=True)
        summary["incremental_unchanged_computed"] = unchanged.computed_parts
        summary["changed_cases"] = day_of_changes(args.changes, today)
        incremental, summary["incremental_s"] = compute(args.processes, reuse=True)
        summary["incremental_computed"] = incremental.computed_parts
        full, summary["full_after_changes_s"] = compute(1, reuse=False)
        summary["incremental_differences"] = tables_equal(incremental, full)
        if not args.no_csv:
            incremental.computed_at = full.computed_at
            started = time.perf_counter()
            a, b = csv_exports(full, today), csv_exports(incremental, today)
            summary["csv_exports"] = len(a)
            summary["csv_cells"] = sum(
                len(r.split(";")) for body in a.values() for r in body.splitlines()
            )
            summary["csv_cell_differences"] = csv_differences(a, b)
            summary["csv_s"] = round(time.perf_counter() - started, 2)
        for key, value in list(summary.items()):
            if key.endswith("_s") and isinstance(value, float):
                summary[key] = round(value, 2)
        log(json.dumps(summary, indent=2))
    finally:
        if not args.keep_copy and not args.phases_only:
            db.drop_database(copy)
    return _finish(summary, args)


def protect_capped(part: Any, cap: float) -> bool:
    """Protect one part in a forked child; False if it was stopped after ``cap`` seconds."""
    import multiprocessing

    from django.db import connections

    from monitoring import protection

    connections.close_all()  # never share a connection with a forked child
    child = multiprocessing.get_context("fork").Process(
        target=protection.protect_part, args=(part,)
    )
    child.start()
    child.join(cap)
    if child.is_alive():
        child.terminate()
        child.join()
        return False
    return child.exitcode == 0


def _finish(summary: dict[str, Any], args: argparse.Namespace) -> int:
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
    print(json.dumps(summary))
    ok = not summary.get("parallel_differences") and not summary.get("incremental_differences")
    return 0 if ok and not summary.get("csv_cell_differences") else 1


if __name__ == "__main__":
    raise SystemExit(main())
