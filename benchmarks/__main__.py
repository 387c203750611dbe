"""``python -m benchmarks`` (``make bench``): prove Ankommen stays fast at state scale.

For every size (default 1,000 and 100,000 cases): reuse or generate the data set, copy it to a
working database, then measure the pages, the case list under load, the reminder sweep and the
key rotation. The field-encryption micro-benchmark runs once. Results go to
``benchmarks/results/latest.{json,md}`` and ``plans-<size>.txt``; the table is printed. Sizes
this run did not measure are kept from the previous ``latest.json`` (so ``--nationwide``, the
opt-in 1,000,000 cases, can run on its own); ``--generate-only`` only prepares data sets.
See ``python -m benchmarks --help`` and the README's "Performance" section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MAX_CASES = 1_000_000
NATIONWIDE = 1_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases",
        default="1000,100000",
        help="comma-separated sizes in cases (default 1000,100000; max 1000000, the opt-in "
        "nationwide size: see --nationwide)",
    )
    parser.add_argument(
        "--nationwide",
        action="store_true",
        help=f"only the nationwide size, {NATIONWIDE:,} cases (opt-in: about an hour, see "
        "docs/performance.md); the other sizes are kept from the previous latest.json",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests, shorter load and crypto runs: for iterating only",
    )
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="generate the data sets even if a matching one exists",
    )
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="only make sure the data sets exist (generate, VACUUM ANALYZE, meta row): no "
        "working copy, no measurement, latest.* untouched",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="generator processes (default: CPU count)",
    )
    parser.add_argument("--requests", type=int, help="timed requests per page (default 50)")
    parser.add_argument("--warmup", type=int, help="untimed requests per page first (default 3)")
    parser.add_argument(
        "--page-time-cap",
        type=float,
        default=120.0,
        help="stop timing a page after this many seconds per size (default 120; a safety "
        "net: fewer than --requests requests are then reported as such)",
    )
    parser.add_argument("--pages", help="only these pages (comma-separated keys)")
    parser.add_argument("--load-seconds", type=int, help="load test duration (default 15)")
    parser.add_argument("--load-clients", type=int, default=16)
    parser.add_argument(
        "--rotation-time-cap",
        type=float,
        help="stop rotate_field_keys after this many seconds (default 30)",
    )
    parser.add_argument("--crypto-values", type=int, help="values per crypto run (default 20000)")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="no gunicorn load test")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-rotation", action="store_true")
    parser.add_argument("--skip-crypto", action="store_true")
    parser.add_argument(
        "--skip-audit",
        action="store_true",
        help="no Art. 15 report / audit search / verify_audit_log timings",
    )
    parser.add_argument(
        "--audit-verify-cap",
        type=float,
        help="stop the full verify_audit_log walk after this many seconds (default 60; 15 "
        "with --quick)",
    )
    parser.add_argument("--skip-import", action="store_true",
                        help="no import of an office's list (smallest size only)")  # fmt: skip
    parser.add_argument("--import-rows", type=int,
                        help="rows of the list (default 10000; 1000 with --quick)")  # fmt: skip
    parser.add_argument("--no-explain", action="store_true", help="no EXPLAIN of the queries")
    parser.add_argument(
        "--keep-run-db",
        action="store_true",
        help="keep the working copy <db>_<size>_run for inspection",
    )
    parser.add_argument("--in-place", action="store_true",
                        help="use the configured database as it is (one size, no copies; "
                             "for the smoke test)")  # fmt: skip
    parser.add_argument(
        "--use-dataset", action="store_true",
        help="measure on the data set itself, no working copy (a nationwide data set is tens "
        "of GB and its copy takes minutes): the run changes it, so it is marked used and the "
        "next run generates it again",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.nationwide:
        args.cases = str(NATIONWIDE)
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.cases.split(",") if s.strip()})
    except ValueError:
        parser.error("--cases takes numbers, e.g. --cases 1000,100000")
    if not args.sizes or min(args.sizes) < 1 or max(args.sizes) > MAX_CASES:
        parser.error(f"--cases: sizes between 1 and {MAX_CASES:,}")
    if args.in_place and len(args.sizes) != 1:
        parser.error("--in-place takes exactly one size")
    args.requests = args.requests or (20 if args.quick else 50)
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 3)
    args.load_seconds = args.load_seconds or (5 if args.quick else 15)
    args.rotation_time_cap = args.rotation_time_cap or (15.0 if args.quick else 30.0)
    args.import_rows = args.import_rows or (1_000 if args.quick else 10_000)
    return args


class Log:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", flush=True)


def section(results: dict[str, Any], name: str, log: Log, fn: Callable[[], Any]) -> Any:
    """Run one measurement; a failure is recorded in the results, never ends the run."""
    log(f"{name} ...")
    try:
        value = fn()
    except Exception as exc:
        log(f"{name} FAILED: {exc!r}")
        value = {"error": repr(exc)[:500], "traceback": traceback.format_exc()[-3000:]}
    results[name] = value
    return value


def machine_info() -> dict[str, Any]:
    import django

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        # other work on the machine while the benchmark ran (1, 5, 15 minutes)
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gib"] = None
    for package in ("psycopg", "cryptography", "gunicorn", "django-fernet-encrypted-fields"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5, check=False)
        info["wrk"] = (out.stdout or out.stderr).split("\n")[0].strip() or None
    except OSError:
        info["wrk"] = None
    return info


def prepare_dataset(size: int, args: argparse.Namespace, log: Log) -> dict[str, Any]:
    """Reuse ``<db>_<size>`` if its fingerprint matches, else create, migrate and generate it."""
    from django.core.management import call_command

    from benchmarks import db
    from benchmarks.generate import GENERATOR_VERSION, generate

    name = db.dataset_name(size)
    fingerprint = db.generator_fingerprint(GENERATOR_VERSION)
    migrations = db.migration_hashes()
    if not args.regenerate and db.database_exists(name):
        db.use_database(name)
        meta = db.read_meta()
        usable, added = (
            db.compare_migrations(meta.get("migrations", {}), migrations) if meta else (False, [])
        )
        if meta and usable and meta.get("fingerprint") == fingerprint and meta.get("size") == size:
            if added:
                log(f"migrating data set {name} forward: {', '.join(added)}")
                started = time.perf_counter()
                call_command("migrate", interactive=False, verbosity=0)
                db.vacuum_analyze()
                meta["migrations"] = migrations
                meta.setdefault("migrated_forward", []).append(
                    {"files": added, "seconds": round(time.perf_counter() - started, 2),
                     "at": dt.datetime.now(dt.UTC).isoformat()}
                )  # fmt: skip
                db.write_meta(meta)
            log(f"reusing data set {name} (generated {meta['generated_at'][:16]} in "
                f"{meta['generation_seconds']:.0f} s)")  # fmt: skip
            return meta | {"generated": False, "bytes": db.database_size(name)}
        if size >= NATIONWIDE and not args.generate_only:
            # Never dropped by surprise: it took an hour or more to build. A migration that was
            # renamed or changed since (not only added) is enough to refuse it.
            raise db.BenchDatabaseError(
                f"data set {name} does not match the generator or its migrations; generating "
                "it again takes about an hour: run with --generate-only (or --regenerate)"
            )
        log(f"data set {name} does not match the generator or its migrations: regenerating")
    db.drop_database(name)
    db.create_database(name)
    db.use_database(name)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_seconds = time.perf_counter() - started
    log(f"generating {size:,} cases into {name} with {args.jobs} process(es) ...")
    generated = generate(size, seed=args.seed, jobs=args.jobs)
    started = time.perf_counter()
    db.vacuum_analyze()
    vacuum_seconds = time.perf_counter() - started
    meta = {
        "name": name,
        "size": size,
        "fingerprint": fingerprint,
        "migrations": migrations,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "generation_seconds": round(generated.seconds, 2),
        "migrate_seconds": round(migrate_seconds, 2),
        "vacuum_analyze_seconds": round(vacuum_seconds, 2),
        "phases": {k: round(v, 2) for k, v in generated.phases.items()},
        "jobs": generated.jobs,
        "counts": generated.counts,
        "rows_per_second": round(sum(generated.counts.values()) / generated.seconds),
    }
    db.write_meta(meta)
    log(f"generated in {generated.seconds:.1f} s ({meta['rows_per_second']:,} rows/s), "
        f"VACUUM ANALYZE {vacuum_seconds:.1f} s")  # fmt: skip
    return meta | {"generated": True, "bytes": db.database_size(name)}


def prepare_size(
    size: int, args: argparse.Namespace, log: Log
) -> tuple[dict[str, Any], str | None]:
    """The data set of one size and its working copy; returns (dataset info, working db)."""
    from benchmarks import db

    if args.in_place:
        from benchmarks.generate import generate

        generated = generate(size, seed=args.seed, jobs=1, audit=True)
        info = {"generated": True, "generation_seconds": round(generated.seconds, 2),
                "counts": generated.counts, "in_place": True}  # fmt: skip
        return info, None
    info = prepare_dataset(size, args, log)
    if args.use_dataset:
        db.forget_meta()  # the run changes it: never reused as a pristine data set
        info["copy_seconds"] = None
        info["used_in_place"] = True
        log(f"measuring on the data set {db.dataset_name(size)} itself (it is used up)")
        return info, db.dataset_name(size)
    run_db = db.run_name(size)
    db.drop_database(run_db)
    copy_seconds = db.create_database(run_db, template=db.dataset_name(size))
    info["copy_seconds"] = round(copy_seconds, 2)
    log(f"working copy {run_db} made in {copy_seconds:.1f} s")
    return info, run_db


def run_after_pages(
    size: int, run_db: str | None, results: dict[str, Any], args: argparse.Namespace, log: Log
) -> None:
    """Sweep, load and rotation on one working copy (each changes it), then the plans file."""
    from django.core.cache import cache

    from benchmarks import db, load, pages, rotation, sweep
    from benchmarks import search as search_bench

    if run_db is not None:
        db.use_database(run_db)
    cache.clear()  # nothing cached from another data set
    postgres = db.is_postgres()
    explain = postgres and not args.no_explain
    log(f"=== {size:,} cases: sweep, load, rotation ===")
    # The sweep first: the gunicorn workers of the load test take a while to wind down, and a
    # sweep of a few milliseconds measured meanwhile measures them.
    if size >= search_bench.VISIBLE:
        # In a transaction that is rolled back: the data set is left as it was.
        section(results, "search", log, lambda: search_bench.run(runs=5 if args.quick else 15))
    if not args.skip_audit:  # issue 21 (benchmarks/audit.py); rolled back afterwards
        from benchmarks import audit as audit_bench

        verify_cap = args.audit_verify_cap or (15.0 if args.quick else 60.0)
        section(results, "audit", log, lambda: audit_bench.run(
            reports=10 if args.quick else 20, search_runs=3 if args.quick else 5,
            verify_cap=verify_cap, log=log))  # fmt: skip
    if not args.skip_sweep:
        section(results, "sweep", log, lambda: sweep.run(
            none_due_repeat=3 if args.quick else 9, explain=explain))  # fmt: skip
    if not args.skip_load:
        if not postgres:
            results["load"] = {"skipped": "needs PostgreSQL (gunicorn shares the database)"}
        else:
            from django.urls import reverse

            path = f"{reverse('cases:list')}?{pages.urlencode(pages.LIST_FILTERS)}"
            from benchmarks.urls import FLOOR_PATH

            case_list = (results.get("pages") or {}).get("case_list") or {}
            section(results, "load", log, lambda: load.run(
                path=path, user=pages.bench_users().coordinator, clients=args.load_clients,
                seconds=args.load_seconds, log_dir=Path(tempfile.gettempdir()),
                floor_path=FLOOR_PATH, single_request_ms=case_list.get("median_ms"),
            ))  # fmt: skip
    if not args.skip_import and size == min(args.sizes) and size < NATIONWIDE:
        from benchmarks import imports

        section(results, "import", log, lambda: imports.run(rows=args.import_rows))
    if not args.skip_rotation:
        if not postgres:
            results["rotation"] = {"skipped": "runs as its own process on PostgreSQL only"}
        else:
            section(results, "rotation", log, lambda: rotation.run(
                database_url=load.database_url(), time_cap=args.rotation_time_cap))  # fmt: skip

    if explain:
        path = args.output_dir / f"plans-{size}.txt"
        page_results = results.pop("_page_results", [])
        sweep_plans = (results.get("sweep") or {}).pop("plans", None)
        if sweep_plans:
            none_due = results["sweep"].get("none_due", {})
            page_results.append(pages.PageResult(
                key="sweep", label="reminder sweep, none due", url="referrals_sweep()", role="",
                queries=none_due.get("queries"), median_ms=none_due.get("median_ms"),
                plans=sweep_plans,
            ))  # fmt: skip
        pages.write_plans(path, size, page_results)
        log(f"query plans written to {path}")
    results.pop("_page_results", None)
    if run_db is not None and not args.keep_run_db and not args.use_dataset:
        db.drop_database(run_db)


def measure_pages(
    databases: dict[int, str | None], data: dict[str, Any], args: argparse.Namespace, log: Log
) -> None:
    from benchmarks import db, pages

    explain = db.is_postgres() and not args.no_explain
    only = set(args.pages.split(",")) if args.pages else None
    log(f"=== pages at {', '.join(f'{s:,}' for s in databases)} cases (interleaved) ===")
    holder: dict[str, Any] = {}

    def measure() -> dict[str, Any]:
        found, contexts = pages.run(
            databases, requests=args.requests, warmup=args.warmup,
            time_cap=args.page_time_cap, do_explain=explain, only=only, log=log,
            traced=1 if args.quick else 2,
        )  # fmt: skip
        for size, page_results in found.items():
            results = data["results"][str(size)]
            results["pages"] = {r.key: r.as_dict() for r in page_results}
            results["page_context"] = contexts[size]
            results["_page_results"] = page_results
        return {"ok": True}

    outcome = section(holder, "pages", log, measure)
    if only is None or "figures_job" in only:
        log("=== the worker's computation of the figures ===")

        def job() -> dict[str, Any]:
            for size, found in pages.figures_job(databases, log=log).items():
                data["results"][str(size)]["figures_job"] = found
            return {"ok": True}

        if "error" in section(holder, "figures_job", log, job):
            for size in databases:
                data["results"][str(size)]["figures_job"] = holder["figures_job"]
    if "error" in outcome:
        for size in databases:
            data["results"][str(size)].setdefault("pages", {"error": outcome["error"]})


def previous_results(path: Path) -> dict[str, Any] | None:
    """The previous run's ``latest.json`` (None when there is none or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("results"), dict) else None


def generate_only(args: argparse.Namespace, log: Log) -> int:
    """``--generate-only``: the data sets, ready for a later run (nothing measured)."""
    for size in args.sizes:
        log(f"=== {size:,} cases: data set ===")
        info = prepare_dataset(size, args, log)
        log(dataset_summary(size, info))
    return 0


def dataset_summary(size: int, info: dict[str, Any]) -> str:
    counts = info.get("counts") or {}
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in (info.get("phases") or {}).items())
    return (
        f"data set {size:,}: {sum(counts.values()):,} rows ({counts.get('audit', 0):,} audit "
        f"entries), {(info.get('bytes') or 0) / 2**30:.2f} GiB, generated in "
        f"{info.get('generation_seconds', 0):.0f} s ({phases}); VACUUM ANALYZE "
        f"{info.get('vacuum_analyze_seconds', 0):.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from benchmarks import crypto_bench, db, report

    log = Log()
    started_at = dt.datetime.now(dt.UTC)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_info(),
        "sizes": args.sizes,
        "results": {},
    }
    if db.is_postgres():
        try:
            data["machine"]["postgres"] = db.server_version(maintenance=not args.in_place)
            if not args.in_place:
                db.base_name()  # refuses a database name without "bench"
        except Exception as exc:
            print(f"PostgreSQL is not usable: {exc}", file=sys.stderr)
            return 2
    elif not args.in_place:
        print("The benchmark needs PostgreSQL (DATABASE_URL=postgres://...); only --in-place "
              "runs on another database.", file=sys.stderr)  # fmt: skip
        return 2

    if args.generate_only:
        return generate_only(args, log)

    if not args.skip_crypto:
        section(data, "crypto", log, lambda: crypto_bench.run(
            values=args.crypto_values or (5_000 if args.quick else 20_000),
            repeat=3 if args.quick else 9))  # fmt: skip

    databases: dict[int, str | None] = {}
    for size in args.sizes:
        log(f"=== {size:,} cases: data set ===")
        info, databases[size] = prepare_size(size, args, log)
        data["results"][str(size)] = {"dataset": info}
    if not args.skip_pages:
        measure_pages(databases, data, args, log)
    for size in args.sizes:
        run_after_pages(size, databases[size], data["results"][str(size)], args, log)

    page_peaks = [
        p.get("tracemalloc_peak_kib") or 0
        for r in data["results"].values()
        for p in (r.get("pages") or {}).values()
        if isinstance(p, dict)
    ]
    data["memory"] = {
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "children_ru_maxrss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "request_tracemalloc_peak_kib": max(page_peaks) if page_peaks else None,
    }
    finished = dt.datetime.now(dt.UTC)
    data["finished_at"] = finished.isoformat()
    data["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    data["wall_seconds"] = round((finished - started_at).total_seconds(), 1)
    if not args.in_place:
        # Sizes not measured now stay as the previous run measured them (each with its run).
        report.merge_previous(data, previous_results(args.output_dir / "latest.json"))
    data["targets"] = report.check_targets(data)
    table = report.markdown(data)
    (args.output_dir / "latest.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    (args.output_dir / "latest.md").write_text(table, encoding="utf-8")
    print()
    print(table)
    print(f"written: {args.output_dir / 'latest.json'}, {args.output_dir / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
