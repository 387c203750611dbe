"""The target checks and the Markdown table of a benchmark run."""

from __future__ import annotations

from typing import Any

MAX_TIME_RATIO = 1.5
MAX_SWEEP_RATIO = 1.5
MAX_DECRYPT_TO_RAW = 2.0
MAX_WALL_SECONDS = 15 * 60
MIN_REQUESTS = 50


def _n(size: int | str) -> str:
    return f"{int(size):,}"


def _ratio(big: float | None, small: float | None) -> float | None:
    if big is None or not small:
        return None
    return round(big / small, 2)


def check_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, with its figures; ``ok`` is None when it was not measured."""
    sizes = sorted(int(s) for s in data["results"])
    checks: list[dict[str, Any]] = []
    if len(sizes) >= 2:
        small, large = str(sizes[0]), str(sizes[-1])
        pages_small = data["results"][small].get("pages", {})
        pages_large = data["results"][large].get("pages", {})
        for key, big in pages_large.items():
            little = pages_small.get(key)
            if not little or big.get("skipped") or little.get("skipped"):
                continue
            label = big["label"]
            checks.append({
                "target": f"{label}: same number of queries at {_n(large)} as at {_n(small)}",
                "ok": big["queries"] == little["queries"],
                "detail": f"{little['queries']} vs {big['queries']}",
            })  # fmt: skip
            ratio = _ratio(big["median_ms"], little["median_ms"])
            checks.append({
                "target": f"{label}: median at {_n(large)} <= {MAX_TIME_RATIO}x {_n(small)}",
                "ok": ratio is not None and ratio <= MAX_TIME_RATIO,
                "detail": f"{little['median_ms']} ms vs {big['median_ms']} ms ({ratio}x)",
            })  # fmt: skip
        sweep_small = data["results"][small].get("sweep", {}).get("none_due", {})
        sweep_large = data["results"][large].get("sweep", {}).get("none_due", {})
        if sweep_small and sweep_large:
            ratio = _ratio(sweep_large["median_ms"], sweep_small["median_ms"])
            checks.append({
                "target": f"sweep with none due: {_n(large)} <= {MAX_SWEEP_RATIO}x {_n(small)}",
                "ok": ratio is not None and ratio <= MAX_SWEEP_RATIO,
                "detail": f"{sweep_small['median_ms']} ms vs {sweep_large['median_ms']} ms "
                          f"({ratio}x)",
            })  # fmt: skip
    measured = [
        (size, page)
        for size, result in data["results"].items()
        for page in (result.get("pages") or {}).values()
        if isinstance(page, dict) and page.get("requests")
    ]
    if measured:
        short = [f"{p['label']} @ {_n(size)}: {p['requests']}" for size, p in measured
                 if p["requests"] < MIN_REQUESTS]  # fmt: skip
        checks.append({
            "target": f"every page timed over at least {MIN_REQUESTS} requests",
            "ok": not short,
            "detail": "; ".join(short) or f"{len(measured)} page measurements",
        })  # fmt: skip
    for size, result in sorted(data["results"].items(), key=lambda item: int(item[0])):
        search = result.get("search") or {}
        if search.get("p95_ms") is not None:
            checks.append({
                "target": f"search over {search['visible_cases']:,} visible cases: p95 < "
                          f"{search['target_p95_ms']:.0f} ms (data set {_n(size)})",
                "ok": search["p95_ms"] < search["target_p95_ms"],
                "detail": f"median {search['median_ms']} ms, p95 {search['p95_ms']} ms over "
                          f"{search['searches']} searches",
            })  # fmt: skip
    crypto = data.get("crypto") or {}
    if crypto.get("implementations"):
        checks.append({
            "target": f"our field decryption within {MAX_DECRYPT_TO_RAW}x of raw AESGCM",
            "ok": crypto["decrypt_ratio_to_raw"] <= MAX_DECRYPT_TO_RAW,
            "detail": f"{crypto['decrypt_ratio_to_raw']}x"
                      + (f" ({crypto['decrypt_ratio_to_stored_floor']}x of the stored-form floor)"
                         if "decrypt_ratio_to_stored_floor" in crypto else ""),
        })  # fmt: skip
        checks.append({
            "target": "our field decryption faster than django-fernet-encrypted-fields",
            "ok": crypto["decrypt_speedup_vs_peer"] > 1,
            "detail": f"{crypto['decrypt_speedup_vs_peer']}x faster",
        })  # fmt: skip
    wall = data.get("wall_seconds")
    if wall is not None:
        checks.append({
            "target": "the whole run within 15 minutes",
            "ok": wall < MAX_WALL_SECONDS,
            "detail": f"{wall / 60:.1f} min",
        })  # fmt: skip
    return checks


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}{suffix}" if value < 100 else f"{value:,.0f}{suffix}"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value}{suffix}"


def markdown(data: dict[str, Any]) -> str:
    sizes = [str(s) for s in sorted(int(s) for s in data["results"])]
    small, large = sizes[0], sizes[-1]
    out: list[str] = []
    m = data["machine"]
    out.append(
        f"Run of {data['finished_at'][:16].replace('T', ' ')} UTC on {m['cpu_count']} CPUs, "
        f"{m['memory_gib']} GiB, Python {m['python']}, Django {m['django']}, "
        f"PostgreSQL {m.get('postgres', '?')}; sizes {', '.join(_n(s) for s in sizes)} cases; "
        f"whole run {data['wall_seconds'] / 60:.1f} min; load average (other work on the "
        f"machine) {m.get('load_average_start', ['?'])[0]} at the start, "
        f"{m.get('load_average_end', ['?'])[0]} at the end"
        + (" (--quick: fewer requests, not for the record)" if data["args"].get("quick") else "")
        + "."
    )
    out.append("")

    # pages
    head = ["page"]
    head += [f"queries {_n(s)}" for s in sizes]
    head += [f"median ms {_n(s)}" for s in sizes]
    head += [f"p95 ms {_n(s)}" for s in sizes]
    if len(sizes) > 1:
        head.append(f"× ({_n(large)}/{_n(small)})")
    head.append("KiB " + " / ".join(_n(s) for s in sizes))
    out.append("**Pages** (server time per request, Django test client, logged in as the role)")
    out.append("")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    keys: list[str] = []
    for s in sizes:
        for key in data["results"][s].get("pages", {}):
            if key not in keys:
                keys.append(key)
    for key in keys:
        per = [data["results"][s].get("pages", {}).get(key, {}) for s in sizes]
        label = next((p["label"] for p in per if p.get("label")), key)
        if all(p.get("skipped") for p in per):
            out.append(f"| {label} | skipped: {per[-1]['skipped']} |" + " |" * (len(head) - 2))
            continue
        row = [label]
        row += [_fmt(p.get("queries")) for p in per]
        row += [_fmt(p.get("median_ms")) for p in per]
        row += [_fmt(p.get("p95_ms")) for p in per]
        if len(sizes) > 1:
            row.append(_fmt(_ratio(per[-1].get("median_ms"), per[0].get("median_ms")), "×"))
        row.append(" / ".join(_fmt(round(p["bytes"] / 1024)) if p.get("bytes") else "–"
                              for p in per))  # fmt: skip
        out.append("| " + " | ".join(row) + " |")
    out.append("")

    # sweep
    out.append("**Reminder sweep** (`referrals_sweep`, mails sent inline)")
    out.append("")
    out.append("| sweep | " + " | ".join(_n(s) for s in sizes) + " |")
    out.append("|---|" + "---|" * len(sizes))
    sweeps = [data["results"][s].get("sweep", {}) for s in sizes]
    if all(sw.get("skipped") for sw in sweeps):
        out.append(f"| skipped: {sweeps[-1].get('skipped')} |" + " |" * len(sizes))
    else:
        due = []
        for sw in sweeps:
            d = sw.get("due") or {}
            due.append(f"{_fmt(d.get('seconds'), ' s')} ({_fmt(d.get('made_due'))} reminders)"
                       if d else _fmt(sw.get("error")))  # fmt: skip
        out.append("| 1 % of referrals due | " + " | ".join(due) + " |")
        none = [_fmt((sw.get("none_due") or {}).get("median_ms"), " ms") for sw in sweeps]
        out.append("| none due (median) | " + " | ".join(none) + " |")
    out.append("")

    # the worker's computation of the figures
    jobs = [data["results"][s].get("figures_job") or {} for s in sizes]
    if any(j.get("seconds") is not None for j in jobs):
        out.append("**Figures computation by the worker** (`refresh_figures`, from an empty "
                   "cache, median of its runs; no request waits for it)")  # fmt: skip
        out.append("")
        out.append("| figure | " + " | ".join(_n(s) for s in sizes) + " |")
        out.append("|---|" + "---|" * len(sizes))
        out.append("| districts | " + " | ".join(_fmt(j.get("districts")) for j in jobs) + " |")
        out.append("| protected figures (disclosure control) s | "
                   + " | ".join(_fmt(j.get("figures_seconds")) for j in jobs) + " |")  # fmt: skip
        out.append("| … and the first page of every period, both languages s | "
                   + " | ".join(_fmt(j.get("seconds")) for j in jobs) + " |")  # fmt: skip
        out.append("")

    # crypto
    crypto = data.get("crypto") or {}
    if crypto.get("implementations"):
        out.append(f"**Field encryption** (µs per value, {crypto['values']:,} values, fastest "
                   f"of {crypto['repeat']} runs, the implementations taking turns)")  # fmt: skip
        out.append("")
        out.append("| implementation | encrypt µs | decrypt µs | encrypt/s | decrypt/s |")
        out.append("|---|---|---|---|---|")
        for name, f in crypto["implementations"].items():
            out.append(
                f"| {name} | {f['encrypt_us_per_value']:.2f} | {f['decrypt_us_per_value']:.2f} "
                f"| {f['encrypt_per_second']:,} | {f['decrypt_per_second']:,} |"
            )
        out.append("")

    # rotation, load, data set
    out.append("**Key rotation, load, data set**")
    out.append("")
    out.append("| figure | " + " | ".join(_n(s) for s in sizes) + " |")
    out.append("|---|" + "---|" * len(sizes))

    def row(label: str, values: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(values) + " |")

    rot = [data["results"][s].get("rotation", {}) for s in sizes]

    def rotation_cell(r: dict[str, Any]) -> str:
        if r.get("rows_per_second") is not None:
            if r.get("complete"):
                return f"{r['rows_per_second']:,} (all {r['rows_done']:,} rows with values)"
            if r.get("time_cap_per_model"):  # benchmarks/rotation.py: every table sampled
                return (
                    f"{r['rows_per_second']:,} ({r['rows_done']:,} of {r['rows_total']:,} "
                    f"rows, every table for ≤ {r['time_cap_s']:.0f} s, rate projected)"
                )
            return (
                f"{r['rows_per_second']:,} ({r['rows_done']:,} of {r['rows_total']:,} rows "
                f"in the {r['time_cap_s']:.0f} s cap)"
            )
        return "skipped" if r.get("skipped") else _fmt(r.get("error"))

    row("`rotate_field_keys` rows/s", [rotation_cell(r) for r in rot])
    loads = [data["results"][s].get("load", {}) for s in sizes]
    row("case list under load: req/s (16 clients)", [
        _fmt(ld.get("requests_per_second")) if "requests_per_second" in ld
        else ("skipped" if ld.get("skipped") else _fmt(ld.get("error"))) for ld in loads
    ])  # fmt: skip
    row("… errors", [_fmt(ld.get("errors")) for ld in loads])
    row("… latency p50 / p99 ms", [
        f"{_fmt(ld.get('latency_p50_ms'))} / {_fmt(ld.get('latency_p99_ms'))}" for ld in loads
    ])  # fmt: skip
    imports = [data["results"][s].get("import") or {} for s in sizes]
    row("import of a list: rows/s check / import", [
        f"{_fmt(i.get('check_rows_per_second'))} / {_fmt(i.get('import_rows_per_second'))} "
        f"({_fmt(i.get('rows'))} rows)" if "rows" in i else _fmt(i.get("error")) for i in imports
    ])  # fmt: skip
    ds = [data["results"][s].get("dataset", {}) for s in sizes]
    row("data set: generation s", [
        f"{_fmt(d.get('generation_seconds'))}" + ("" if d.get("generated") else " (reused)")
        for d in ds
    ])  # fmt: skip
    row("data set: rows", [_fmt(sum((d.get("counts") or {}).values()) or None) for d in ds])
    row("data set: database MiB", [_fmt(round((d.get("bytes") or 0) / 2**20)) for d in ds])
    mem = data.get("memory", {})
    out.append("")
    out.append(
        f"Peak memory: benchmark process {_fmt(mem.get('ru_maxrss_mib'))} MiB (ru_maxrss), "
        f"generator workers {_fmt(mem.get('children_ru_maxrss_mib'))} MiB; one request at most "
        f"{_fmt(mem.get('request_tracemalloc_peak_kib'))} KiB of Python allocations "
        "(tracemalloc)."
    )
    out.append("")

    out.append("**Targets**")
    out.append("")
    for check in data.get("targets", []):
        mark = "✅" if check["ok"] else "❌"
        out.append(f"- {mark} {check['target']}: {check['detail']}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report [latest.json]``: print (and rewrite) the Markdown table."""
    import json
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent / "results" / "latest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["targets"] = check_targets(data)
    table = markdown(data)
    path.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
