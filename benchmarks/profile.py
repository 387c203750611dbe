"""Profile one page at one size with pyinstrument: where does a missed target's time go?

    python -m benchmarks.profile --cases 100000 --page case_list [--requests 20]

Uses (or generates) the same data set as ``python -m benchmarks`` and a throw-away working
copy; prints pyinstrument's call tree of ``--requests`` requests and writes it to
``benchmarks/results/profile-<page>-<size>.txt``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--page", default="case_list", help="a page key, e.g. dashboard")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args(argv)
    args.regenerate = False
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    from benchmarks import db, pages
    from benchmarks.__main__ import RESULTS, Log, prepare_dataset

    db.base_name()
    log = Log()
    prepare_dataset(args.cases, args, log)
    run_db = db.run_name(args.cases)
    db.drop_database(run_db)
    db.create_database(run_db, template=db.dataset_name(args.cases))
    db.use_database(run_db)
    try:
        specs = {s.key: s for s in pages.page_specs()}
        if args.page not in specs:
            print(f"unknown page {args.page!r}; one of {', '.join(specs)}", file=sys.stderr)
            return 2
        spec = specs[args.page]
        users = pages.bench_users()
        ctx: dict[str, Any] = pages.page_context(users)
        url = spec.url(ctx)
        if url is None:
            print(f"{spec.label}: URL not found", file=sys.stderr)
            return 2
        client = Client(raise_request_exception=True)
        client.force_login(getattr(users, spec.role))
        prepare = spec.prepare or (lambda: None)
        for _ in range(3):
            prepare()
            client.get(url)
        profiler = Profiler(interval=0.0005)
        for _ in range(args.requests):
            prepare()  # untimed, outside the profile
            profiler.start()
            client.get(url)
            profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        path = RESULTS / f"profile-{args.page}-{args.cases}.txt"
        path.write_text(f"{spec.label} {url} x{args.requests}\n\n{text}", encoding="utf-8")
        print(text)
        print(f"written: {path}")
    finally:
        db.drop_database(run_db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
