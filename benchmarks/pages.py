"""Server time, query count and query plans of the pages that must stay fast.

Each page is requested through Django's test client, logged in as the role that uses it:
a few warm-up requests, then ``requests`` timed ones (wall time of the whole request in the
server: middleware, view, queries, template). Then, untimed: one request under
``CaptureQueriesContext`` for the query count, one that records every statement so each
``SELECT`` can be ``EXPLAIN (ANALYZE, BUFFERS)``-ed, and a short pass under ``tracemalloc``
for the peak Python memory of a request. A page whose URL does not exist yet is skipped
with a note.
"""

from __future__ import annotations

import re
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache, caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, get_resolver, reverse

# A sequential scan of a table with at least this many rows is flagged in the plans.
BIG_TABLE_ROWS = 10_000
# "Who waits longest over the service target": a full page of 50 of the team's open cases.
LIST_FILTERS = {"waiting": "over_target", "sort": "waiting"}
# The worker's computation of the figures: runs per size (tens of seconds at state scale).
FIGURES_JOB_RUNS = 2


@dataclass
class BenchUsers:
    coordinator: Any
    staff: Any
    management: Any


@dataclass
class PageSpec:
    key: str
    label: str
    role: str  # attribute of BenchUsers
    url: Callable[[dict[str, Any]], str | None]
    # Untimed, before every request (also the counted and traced ones), and what it does.
    prepare: Callable[[], None] | None = None
    note: str = ""
    # A form to post first (untimed); the page timed is the one its redirect names (the
    # case list search posts its term and pages by a token: no name in a URL).
    post: Callable[[dict[str, Any]], dict[str, str]] | None = None


@dataclass
class PageResult:
    key: str
    label: str
    url: str | None
    role: str
    status: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    median_ms: float | None = None
    p95_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    queries: int | None = None
    bytes: int | None = None
    tracemalloc_peak_kib: float | None = None
    seq_scans: list[str] = field(default_factory=list)
    skipped: str = ""
    notes: list[str] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.pop("plans")
        return data


def _reverse(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def find_figures_export() -> tuple[str | None, str]:
    """The figures' CSV export URL, found by its name (the management pages define it)."""
    for name in ("figures_export", "figures_csv", "figures-export", "figures_export_csv",
                 "export_figures", "figures:export", "figures:csv"):  # fmt: skip
        url = _reverse(name)
        if url:
            return url, name
    resolver = get_resolver()
    names = sorted(k for k in resolver.reverse_dict if isinstance(k, str))
    for name in names:
        lowered = name.lower()
        if "figure" in lowered and ("csv" in lowered or "export" in lowered):
            url = _reverse(name)
            if url:
                return url, name
    return None, ""


def page_specs() -> list[PageSpec]:
    def with_query(name: str, params: dict[str, str]) -> str | None:
        base = _reverse(name)
        return f"{base}?{urlencode(params)}" if base else None

    def export(ctx: dict[str, Any]) -> str | None:
        url, name = find_figures_export()
        ctx["figures_export_name"] = name
        if url and "csv" not in url.lower() and "csv" not in name.lower():
            url += ("&" if "?" in url else "?") + "format=csv"
        return url

    return [
        PageSpec("dashboard", "coordinator dashboard", "coordinator",
                 lambda ctx: _reverse("cases:dashboard")),
        PageSpec("case_list", "case list (filtered, page of 50)", "coordinator",
                 lambda ctx: with_query("cases:list", LIST_FILTERS)),
        PageSpec("search", "search by name", "coordinator",
                 lambda ctx: _reverse("cases:list"),
                 post=lambda ctx: {"q": ctx["search_name"]},
                 note="the search form is posted once; its result page (by token) is timed"),
        PageSpec("case_detail", "case page", "coordinator",
                 lambda ctx: _reverse("cases:detail", ctx["case_pk"])),
        PageSpec("inbox", "institution inbox", "staff", lambda ctx: _reverse("referrals:inbox")),
        PageSpec("figures", "management figures (cached)", "management",
                 lambda ctx: _reverse("figures")),
        PageSpec("figures_new", "management figures (new figures)", "management",
                 lambda ctx: _reverse("figures"), prepare=new_figures,
                 note="before every request: newly computed figures, no page built from them"),
        PageSpec("figures_csv", "figures CSV export (cached)", "management", export),
    ]  # fmt: skip


def new_figures() -> None:
    """The cache as after each recomputation by the worker: the computed figures under a new
    time stamp, no page or fragment built from them yet, so the request builds its districts,
    tables and charts from them and renders them (worse than after ``refresh_figures``, which
    builds the first page of each period). The figures themselves are computed once per data
    set, untimed; ``figures_job`` times that."""
    from django.utils import timezone

    from monitoring import cache as figure_cache
    from monitoring import computation, dimensions, pages

    data_key = pages.figures_header(dimensions.FigureFilters()).data_key
    if not cache.has_key(data_key):
        computation.figure_data()
    cache.set(f"{data_key}:stamp", timezone.now(), figure_cache.KEEP_SECONDS)


def figures_job(
    databases: dict[int, str | None], *, runs: int = FIGURES_JOB_RUNS,
    log: Callable[[str], None] = print,
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Seconds of the worker's ``refresh_figures`` (disclosure control over every district,
    then the first page of every period in both languages) at each size, from an empty
    cache; no request waits for it."""
    from coordination.models import District
    from monitoring import computation, refresh

    original_cache = caches["default"]
    found: dict[int, dict[str, Any]] = {}
    try:
        for size, database in sorted(databases.items()):
            state = SizeState(size=size, database=database, ctx={}, users=None, tables={})  # type: ignore[arg-type]
            state.activate()
            data_s, total_s = [], []
            for _ in range(runs):
                cache.clear()
                started = time.perf_counter()
                computation.figure_data(refresh=True)
                data_s.append(time.perf_counter() - started)
                cache.clear()
                started = time.perf_counter()
                built = refresh.refresh_figures()
                total_s.append(time.perf_counter() - started)
            found[size] = {
                "runs": runs,
                "districts": District.objects.count(),
                "pages_built": built,
                "seconds": round(statistics.median(total_s), 2),
                "figures_seconds": round(statistics.median(data_s), 2),
            }
            log(f"  figures computation @ {size:,}: {found[size]}")
    finally:
        caches["default"] = original_cache
    return found


def bench_users() -> BenchUsers:
    from coordination.models import User

    users = {u.username: u for u in User.objects.filter(username__startswith="bench-")}
    return BenchUsers(
        coordinator=users["bench-coordinator"],
        staff=users["bench-staff"],
        management=users["bench-management"],
    )


def page_context(users: BenchUsers) -> dict[str, Any]:
    """A case of the coordinator's team of the same shape at every size (referred, one
    sibling, two referrals), so its page does the same work; and its family name to search."""
    from django.db.models import Count

    from cases.models import Case

    team_cases = Case.objects.filter(team_id=users.coordinator.team_id)
    shaped = (
        team_cases.filter(state="referred")
        .annotate(
            n_children=Count("family__children", distinct=True),
            n_referrals=Count("referrals", distinct=True),
        )
        .order_by("-id")
    )
    case = (
        shaped.filter(n_children=2, n_referrals=2).first()
        or shaped.filter(n_children=1).first()
        or team_cases.order_by("-id").first()
    )
    if case is None:
        raise RuntimeError("the bench coordinator's team has no cases: generate data first")
    case = Case.objects.get(pk=case.pk)
    return {"case_pk": case.pk, "search_name": case.family_name, "case_reference": case.reference}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def record_statements() -> tuple[list[tuple[str, Any]], Callable[..., Any]]:
    recorded: list[tuple[str, Any]] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):  # type: ignore[no-untyped-def]
        if not many:
            recorded.append((sql, params))
        return execute(sql, params, many, context)

    return recorded, wrapper


def big_tables() -> dict[str, int]:
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace AND reltuples >= %s",
            [BIG_TABLE_ROWS],
        )
        return {name: int(rows) for name, rows in cursor.fetchall()}


SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


def explain_statements(
    statements: list[tuple[str, Any]], tables: dict[str, int]
) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) every distinct SELECT (how often it ran is kept: an N+1
    shows as one statement run many times); flag sequential scans of big tables."""
    plans: dict[str, dict[str, Any]] = {}
    for sql, params in statements:
        text = sql.strip()
        if text in plans:
            plans[text]["runs"] += 1
            continue
        if not text.upper().startswith(("SELECT", "WITH")):
            plans[text] = {"sql": text, "params": repr(params), "plan": [], "seq_scans": [],
                           "runs": 1}  # fmt: skip
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params)
                lines = [row[0] for row in cursor.fetchall()]
        except Exception as exc:  # a plan we cannot get is reported, not fatal
            lines = [f"(EXPLAIN failed: {exc})"]
        flagged = sorted(
            {f"{t} ({tables[t]:,} rows)" for t in SEQ_SCAN.findall("\n".join(lines)) if t in tables}
        )
        plans[text] = {"sql": text, "params": repr(params), "plan": lines, "seq_scans": flagged,
                       "runs": 1}  # fmt: skip
    return list(plans.values())


@dataclass
class SizeState:
    """One data set's side of the interleaved measurement."""

    size: int
    database: str | None  # None: the current database (--in-place)
    ctx: dict[str, Any]
    users: BenchUsers
    tables: dict[str, int]
    clients: dict[str, Client] = field(default_factory=dict)

    cache: Any = None  # this data set's own cache: cached figures must not cross sizes

    def activate(self) -> None:
        if self.database is not None and connection.settings_dict["NAME"] != self.database:
            from benchmarks.db import use_database

            use_database(self.database)
        if self.cache is None:
            from django.core.cache.backends.locmem import LocMemCache

            self.cache = LocMemCache(f"ankommen-bench-{self.size}", {})
        caches["default"] = self.cache

    def client(self, role: str) -> Client:
        if role not in self.clients:
            client = Client(raise_request_exception=False)
            client.force_login(getattr(self.users, role))  # a session in this database
            self.clients[role] = client
        return self.clients[role]


def _summarise(result: PageResult, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    result.requests = len(ms)
    result.median_ms = round(statistics.median(ms), 2)
    result.p95_ms = round(_percentile(ms, 95), 2)
    result.min_ms = round(min(ms), 2)
    result.max_ms = round(max(ms), 2)


def _inspect(
    state: SizeState, result: PageResult, *, do_explain: bool, traced: int,
    prepare: Callable[[], None] | None = None,
) -> None:  # fmt: skip
    """Untimed: query count, plans, tracemalloc peak of a request.

    ``prepare`` runs before each request, as it did before each timed one.
    """
    client = state.client(result.role)
    url = str(result.url)
    prepare = prepare or (lambda: None)
    counts = []
    for _ in range(3):  # the least of three: a cache expiring (60 s) adds a query at random
        prepare()
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        counts.append(len(ctx.captured_queries))
    result.queries = min(counts)
    if max(counts) != min(counts):
        result.notes.append(f"query counts of three requests: {counts}")
    statements = []
    if do_explain:
        prepare()
        statements, wrapper = record_statements()
        with connection.execute_wrapper(wrapper):
            client.get(url)
        result.plans = explain_statements(statements, state.tables)
        result.seq_scans = sorted({s for p in result.plans for s in p["seq_scans"]})
    if traced:
        tracemalloc.start()
        for _ in range(traced):
            prepare()
            client.get(url)
        result.tracemalloc_peak_kib = round(tracemalloc.get_traced_memory()[1] / 1024, 1)
        tracemalloc.stop()


def run(
    databases: dict[int, str | None],
    *,
    requests: int = 60,
    warmup: int = 5,
    batch: int = 10,
    time_cap: float = 45.0,
    do_explain: bool = True,
    traced: int = 5,
    only: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[int, list[PageResult]], dict[int, dict[str, Any]]]:
    """Measure every page at every size, interleaved: batches of ``batch`` requests alternate
    between the data sets, so load from other processes on a shared machine hits all sizes
    alike and the ratios stay meaningful. Returns results and context per size.
    """
    original_cache = caches["default"]
    try:
        return _run(
            databases, requests=requests, warmup=warmup, batch=batch, time_cap=time_cap,
            do_explain=do_explain, traced=traced, only=only, log=log,
        )  # fmt: skip
    finally:
        caches["default"] = original_cache


def _run(
    databases: dict[int, str | None],
    *,
    requests: int,
    warmup: int,
    batch: int,
    time_cap: float,
    do_explain: bool,
    traced: int,
    only: set[str] | None,
    log: Callable[[str], None],
) -> tuple[dict[int, list[PageResult]], dict[int, dict[str, Any]]]:
    states: list[SizeState] = []
    for size, database in sorted(databases.items()):
        state = SizeState(size=size, database=database, ctx={}, users=None, tables={})  # type: ignore[arg-type]
        state.activate()
        state.users = bench_users()
        state.ctx = page_context(state.users)
        state.tables = big_tables() if do_explain else {}
        states.append(state)

    results: dict[int, list[PageResult]] = {s.size: [] for s in states}
    for spec in page_specs():
        if only and spec.key not in only:
            continue
        per_size: dict[int, PageResult] = {}
        for state in states:
            state.activate()
            url = spec.url(state.ctx)
            if url and spec.post is not None:
                answer = state.client(spec.role).post(url, spec.post(state.ctx))
                url = answer.get("Location") if answer.status_code in (302, 303) else None
            per_size[state.size] = PageResult(
                key=spec.key, label=spec.label, url=url, role=spec.role,
                skipped="" if url else "URL not found (page not built yet)",
            )  # fmt: skip
        if any(r.skipped for r in per_size.values()):
            log(f"  {spec.label}: skipped (URL not found: page not built yet)")
            for size, result in per_size.items():
                result.skipped = "URL not found (page not built yet)"
                results[size].append(result)
            continue

        cap = time_cap * len(states)
        times: dict[int, list[float]] = {s.size: [] for s in states}
        prepare = spec.prepare or (lambda: None)
        for state in states:
            state.activate()
            client = state.client(spec.role)
            for _ in range(warmup):
                prepare()
                client.get(str(per_size[state.size].url))
        started = time.perf_counter()
        capped = False
        round_no = 0
        while any(len(t) < requests for t in times.values()) and not capped:
            # alternate the order each round: neither size always goes first
            order = states if round_no % 2 == 0 else list(reversed(states))
            round_no += 1
            for state in order:
                state.activate()
                result = per_size[state.size]
                client = state.client(spec.role)
                url = str(result.url)
                prepare()
                client.get(url)  # untimed: may reconnect after the switch of database
                for _ in range(min(batch, requests - len(times[state.size]))):
                    prepare()
                    t0 = time.perf_counter()
                    response = client.get(url)
                    times[state.size].append(time.perf_counter() - t0)
                    code = str(response.status_code)
                    result.status[code] = result.status.get(code, 0) + 1
                    if result.bytes is None:
                        result.bytes = -1 if response.streaming else len(response.content)
                    if time.perf_counter() - started > cap and all(times.values()):
                        capped = True
                        break
                if capped:
                    break
        for state in states:
            state.activate()
            result = per_size[state.size]
            _summarise(result, times[state.size])
            if spec.note:
                result.notes.append(spec.note)
            if capped:
                result.notes.append(
                    f"stopped after {result.requests} of {requests} requests: the time cap "
                    f"({time_cap:.0f} s per size) was reached"
                )
            bad = {s: n for s, n in result.status.items() if not s.startswith("2")}
            if bad:
                result.notes.append(f"non-2xx responses: {bad}")
            _inspect(state, result, do_explain=do_explain, traced=traced,
                     prepare=spec.prepare)  # fmt: skip
            log(
                f"  {spec.label} @ {state.size:,}: median {result.median_ms} ms, "
                f"p95 {result.p95_ms} ms, {result.queries} queries, status {result.status}"
                + (f", SEQ SCAN {', '.join(result.seq_scans)}" if result.seq_scans else "")
            )
            results[state.size].append(result)
    return results, {s.size: s.ctx for s in states}


def write_plans(path: Any, size: int, results: list[PageResult]) -> None:
    lines = [f"# Query plans at {size:,} cases (EXPLAIN (ANALYZE, BUFFERS) of every SELECT)", ""]
    lines.append(f"Sequential scans of tables with >= {BIG_TABLE_ROWS:,} rows are marked '!!'.")
    lines.append("")
    for result in results:
        lines.append("=" * 100)
        lines.append(f"{result.label}  {result.url or ''}")
        if result.skipped:
            lines.append(f"skipped: {result.skipped}")
            continue
        lines.append(f"{result.queries} queries; median {result.median_ms} ms")
        for i, plan in enumerate(result.plans, 1):
            lines.append("-" * 100)
            mark = "!! SEQ SCAN: " + ", ".join(plan["seq_scans"]) if plan["seq_scans"] else ""
            runs = f"ran {plan['runs']}x " if plan.get("runs", 1) > 1 else ""
            lines.append(f"[{i}] {runs}{mark}")
            lines.append(plan["sql"])
            lines.append(f"params: {plan['params']}")
            lines.extend("    " + line for line in plan["plan"])
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
