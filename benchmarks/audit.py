"""The audit log at scale (issue 21): the Art. 15 report, the administrator's audit search and
``verify_audit_log`` (full and incremental), on a log of tens of millions of entries.

- **Art. 15 report**: ``case_access_report`` of ``reports`` cases spread over the data set
  (median / p95 / max, queries). Without cases (a synthetic audit table only) the report's
  audit query alone is timed for references taken from the log.
- **Audit search**: ``audit_entries_matching`` as the search page runs it (first page of 50
  and the bounded count), by case reference, by user, by a month, by action and unfiltered.
- **Verification**: the full walk's rate (stopped after ``verify_cap`` seconds on a big log:
  the rate is over that window), then ``incremental`` entries appended behind a checkpoint
  and the incremental walk timed.

Everything runs in a transaction that is rolled back: the data set is left as it was.
Run alone: ``python -m benchmarks.audit`` (bench settings, ``DATABASE_URL`` a generated or a
synthetic database).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

TARGET_MS = 1000.0
PAGE_SIZE = 50


class _Stop(Exception):
    pass


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _summary(times: list[float]) -> dict[str, Any]:
    from benchmarks.pages import _percentile

    return {
        "runs": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
    }


def append_entries(n: int) -> list[int]:
    """Append ``n`` valid, chained entries of a realistic shape (case views and changes) in
    one locked transaction, as fast as the chain allows; returns their ids."""
    from django.db import transaction
    from django.utils import timezone

    from coordination.audit import _lock_chain, entry_digest
    from coordination.crypto import get_audit_keys
    from coordination.models import AuditEntry

    key_id = get_audit_keys().active_id
    with transaction.atomic():
        _lock_chain()
        prev = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first() or ""
        now = timezone.now()
        entries = []
        for i in range(n):
            case = 1 + (i * 7919) % 1_000_000
            entry = AuditEntry(
                at=now + dt.timedelta(microseconds=i),
                actor_name=f"bench-{i % 50}",
                roles="coordinator",
                ip="10.0.0.1",
                action="case.update" if i % 4 == 0 else "case.view",
                object_type="cases.case",
                object_id=str(case),
                case_reference=f"NZ-2026-{case:06d}",
                fields=["phone", "school_wish"] if i % 4 == 0 else [],
                detail={"view": "detail"},
                prev_hash=prev,
                key_id=key_id,
            )
            entry.hash = entry_digest(entry)
            prev = entry.hash
            entries.append(entry)
        created = AuditEntry.objects.bulk_create(entries, batch_size=2000)
    return [e.id for e in created]


def verify(*, cap: float, incremental: int) -> dict[str, Any]:
    """Full walk (capped) and the incremental walk after ``incremental`` new entries."""
    from coordination.audit import (
        ChainReport,
        record_checkpoint,
        verify_chain_report,
        verify_from_checkpoint,
    )
    from coordination.models import AuditEntry

    result: dict[str, Any] = {"entries": AuditEntry.objects.count()}
    started = time.perf_counter()
    done = {"checked": 0}

    def stop_after_cap(checked: int, _last_id: int) -> None:
        done["checked"] = checked
        if time.perf_counter() - started > cap:
            raise _Stop

    try:
        full = verify_chain_report(progress=stop_after_cap)
        elapsed = full.seconds
        result["full"] = {
            "checked": full.checked,
            "seconds": round(elapsed, 2),
            "entries_per_second": round(full.rate),
            "complete": True,
            "ok": full.ok,
        }
        if not full.ok:
            result["full"]["broken_at"] = full.broken.id  # type: ignore[union-attr]
            result["full"]["reason"] = full.reason
    except _Stop:
        elapsed = time.perf_counter() - started
        result["full"] = {
            "checked": done["checked"],
            "seconds": round(elapsed, 2),
            "entries_per_second": round(done["checked"] / elapsed),
            "complete": False,
            "note": f"stopped after {cap:.0f} s; the rate is over that window",
        }
    if result["full"].get("entries_per_second"):
        result["full"]["estimated_full_seconds"] = round(
            result["entries"] / result["full"]["entries_per_second"]
        )
    # A checkpoint at a fresh, valid entry (on a synthetic log the old entries carry dummy
    # hashes; the checkpoint vouches only for what follows it), then new entries behind it.
    (anchor,) = append_entries(1)
    anchor_hash = AuditEntry.objects.get(id=anchor).hash
    record_checkpoint(ChainReport(checked=0, head_id=anchor, head_hash=anchor_hash))
    append_entries(incremental)
    report = verify_from_checkpoint()
    result["incremental"] = {
        "new_entries": incremental,
        "checked": report.checked,
        "ok": report.ok,
        "from_checkpoint": report.since is not None,
        "seconds": round(report.seconds, 3),
        "entries_per_second": round(report.rate),
    }
    return result


def _search_cases() -> dict[str, dict[str, Any]]:
    """Typical searches, with values taken from the log itself."""
    from django.utils import timezone

    from coordination.models import AuditEntry

    newest = AuditEntry.objects.order_by("-id").values("at", "actor_name").first() or {}
    middle_id = (AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) // 2
    middle = (
        AuditEntry.objects.filter(id__gte=middle_id, case_reference__gt="")
        .order_by("id")
        .values("case_reference", "actor_name", "at")
        .first()
        or {}
    )
    month = timezone.localtime(middle.get("at") or timezone.now()).date().replace(day=1)
    return {
        "unfiltered first page": {},
        # "Older" clicked from an entry in the middle: keyset, the same cost as page 1.
        "unfiltered, a page in the middle (keyset)": {"_before": middle_id},
        "by case reference": {"case_reference": middle.get("case_reference", "")},
        "by user": {"user": middle.get("actor_name") or newest.get("actor_name", "")},
        "by a month (middle of the log)": {
            "date_from": month,
            "date_to": (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1),
        },
        "by action prefix (common)": {"action": "case.view"},
        "by action (rare)": {"action": "audit.search"},
        "by user and a month": {
            "user": middle.get("actor_name", ""),
            "date_from": month,
            "date_to": (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1),
        },
    }


def search(*, runs: int) -> dict[str, Any]:
    """Each typical search as the page runs it: the first page of 50 and its bounded count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from coordination.selectors import audit_search_page

    found: dict[str, Any] = {}
    for label, data in _search_cases().items():
        before = data.pop("_before", None)
        audit_search_page(data, before=before)  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            page = audit_search_page(data, before=before)
            times.append(_ms(started))
        with CaptureQueriesContext(connection) as queries:
            page = audit_search_page(data, before=before)
        found[label] = _summary(times) | {
            "rows": len(page.entries),
            "count": page.count_label,
            "queries": len(queries),
            "filters": {k: str(v) for k, v in data.items()}
            | ({"before": before} if before else {}),
        }
    return found


def access_reports(*, reports: int) -> dict[str, Any]:
    """The Art. 15 report of ``reports`` cases spread over the data set."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.access import case_access_report, case_audit_entries
    from cases.models import Case
    from coordination.models import AuditEntry

    total = Case.objects.count()
    times: list[float] = []
    entries: list[int] = []
    queries = 0
    if total:
        step = max(1, total // reports)
        ids = list(Case.objects.order_by("id").values_list("id", flat=True)[::step][:reports])
        case_access_report(case=Case.objects.get(pk=ids[0]))  # warm-up
        for case_id in ids:
            case = Case.objects.get(pk=case_id)
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                report = case_access_report(case=case)
            times.append(_ms(started))
            entries.append(len(report["accesses"]))
            queries = max(queries, len(captured))
        what = "case_access_report (whole report)"
    else:
        last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        refs = []
        for n in range(reports):
            ref = (
                AuditEntry.objects.filter(id__gte=last * n // reports, case_reference__gt="")
                .order_by("id")
                .values_list("case_reference", "object_id")
                .first()
            )
            if ref:
                refs.append(ref)
        for reference, object_id in refs:
            case = Case(pk=int(object_id) if object_id.isdigit() else 0, reference=reference)
            started = time.perf_counter()
            rows = list(case_audit_entries(case=case, disclosed={}))
            times.append(_ms(started))
            entries.append(len(rows))
        queries = 1
        what = "the report's audit query only (no cases in this database)"
    if not times:
        return {"skipped": "no cases and no audit entries"}
    return _summary(times) | {
        "what": what,
        "entries_per_report_median": statistics.median(entries),
        "entries_per_report_max": max(entries),
        "queries_max": queries,
        "target_ms": TARGET_MS,
    }


def run(
    *,
    reports: int = 20,
    search_runs: int = 5,
    verify_cap: float = 60.0,
    incremental: int = 1000,
    log: Any = print,
) -> dict[str, Any]:
    from django.db import transaction

    from coordination.models import AuditEntry

    result: dict[str, Any] = {}
    with transaction.atomic():
        result["entries"] = AuditEntry.objects.count()
        log(f"  audit log of {result['entries']:,} entries")
        result["access_report"] = access_reports(reports=reports)
        log(f"  Art. 15 report: {result['access_report']}")
        result["search"] = search(runs=search_runs)
        for label, figures in result["search"].items():
            log(f"  audit search {label}: median {figures['median_ms']} ms, "
                f"p95 {figures['p95_ms']} ms ({figures['count']})")  # fmt: skip
        result["verify"] = verify(cap=verify_cap, incremental=incremental)
        log(f"  verify_audit_log: {result['verify']}")
        transaction.set_rollback(True)
    return result


def main() -> None:
    import argparse
    import json
    import os

    import django

    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit")
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--search-runs", type=int, default=5)
    parser.add_argument("--verify-cap", type=float, default=60.0)
    parser.add_argument("--incremental", type=int, default=1000)
    parser.add_argument("--only", choices=["report", "search", "verify"])
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    django.setup()
    from django.db import transaction

    if args.only:
        with transaction.atomic():
            if args.only == "report":
                out: Any = access_reports(reports=args.reports)
            elif args.only == "search":
                out = search(runs=args.search_runs)
            else:
                out = verify(cap=args.verify_cap, incremental=args.incremental)
            transaction.set_rollback(True)
    else:
        out = run(reports=args.reports, search_runs=args.search_runs,
                  verify_cap=args.verify_cap, incremental=args.incremental)  # fmt: skip
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()


# --- report hooks (benchmarks/report.py calls these two) -----------------------------------


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 21: the Art. 15 report and the audit search under 1 s at every size."""
    checks: list[dict[str, Any]] = []
    for size, result in sorted(data["results"].items(), key=lambda item: int(item[0])):
        audit = result.get("audit") or {}
        report = audit.get("access_report") or {}
        if report.get("p95_ms") is not None:
            checks.append({
                "target": f"Art. 15 report p95 < {TARGET_MS:.0f} ms ({int(size):,} cases, "
                          f"{audit.get('entries', 0):,} audit entries)",
                "ok": report["p95_ms"] < TARGET_MS,
                "detail": f"median {report['median_ms']} ms, p95 {report['p95_ms']} ms over "
                          f"{report['runs']} cases",
            })  # fmt: skip
        searches = audit.get("search") or {}
        if searches:
            worst = max(searches.items(), key=lambda item: item[1]["p95_ms"])
            checks.append({
                "target": f"audit search p95 < {TARGET_MS:.0f} ms, every typical search "
                          f"({int(size):,} cases)",
                "ok": worst[1]["p95_ms"] < TARGET_MS,
                "detail": f"slowest: {worst[0]} p95 {worst[1]['p95_ms']} ms",
            })  # fmt: skip
    return checks


def markdown(data: dict[str, Any], sizes: list[str]) -> list[str]:
    """The audit section of the results table (empty when nothing was measured)."""
    audits = [data["results"][s].get("audit") or {} for s in sizes]
    if not any(a.get("entries") for a in audits):
        return []

    def cell(value: Any, suffix: str = "") -> str:
        return "–" if value is None else f"{value:,}{suffix}"

    out = [
        "**Audit log** (Art. 15 report, audit search: first page of 50 and bounded count; "
        "`verify_audit_log`)",
        "",
        "| figure | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]

    def row(label: str, cells: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    def timed(figures: dict[str, Any]) -> str:
        return f"{cell(figures.get('median_ms'))} / {cell(figures.get('p95_ms'))}"

    row("audit entries", [cell(a.get("entries")) for a in audits])
    row("Art. 15 report median / p95 ms", [timed(a.get("access_report") or {}) for a in audits])
    labels: list[str] = []
    for a in audits:
        labels += [k for k in (a.get("search") or {}) if k not in labels]
    for label in labels:
        row(
            f"search {label}: median / p95 ms",
            [timed((a.get("search") or {}).get(label) or {}) for a in audits],
        )
    full = [(a.get("verify") or {}).get("full") or {} for a in audits]
    incremental = [(a.get("verify") or {}).get("incremental") or {} for a in audits]
    row("verify full: entries/s", [cell(f.get("entries_per_second")) for f in full])
    row("verify full: estimated whole log s", [cell(f.get("estimated_full_seconds")) for f in full])
    row("verify incremental (1,000 new): s", [cell(i.get("seconds")) for i in incremental])
    out.append("")
    return out
