"""The target checks and the Markdown table of a benchmark run."""

from __future__ import annotations

from typing import Any

MAX_TIME_RATIO = 1.5
MAX_SWEEP_RATIO = 1.5
MAX_DECRYPT_TO_RAW = 2.0
MAX_WALL_SECONDS = 15 * 60
MIN_REQUESTS = 50
# Sizes above this are opt-in (the nationwide 1,000,000): a run with them takes longer than
# MAX_WALL_SECONDS, which holds for the default run only.
DEFAULT_MAX_SIZE = 100_000


def run_info(data: dict[str, Any]) -> dict[str, Any]:
    """What a size's figures were measured in: the run, its machine load, its length."""
    machine = data.get("machine") or {}
    return {
        "started_at": data.get("started_at"),
        "finished_at": data.get("finished_at"),
        "wall_seconds": data.get("wall_seconds"),
        "sizes": data.get("args", {}).get("sizes") or data.get("sizes"),
        "quick": bool(data.get("args", {}).get("quick")),
        "load_average_start": machine.get("load_average_start"),
        "load_average_end": machine.get("load_average_end"),
    }


def merge_previous(data: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Keep the sizes this run did not measure from the previous ``latest.json``.

    The sizes can be run separately (``--cases 1000,100000``, then ``--nationwide``): each
    size keeps the run it was measured in (``results[size]["run"]``), so the report shows
    every size side by side and says which run each comes from. Measurements made once per
    run (the field encryption) are kept too when this run skipped them.
    """
    for result in data["results"].values():
        result.setdefault("run", run_info(data))
    if not previous:
        return data
    kept = {}
    for size, result in (previous.get("results") or {}).items():
        if size in data["results"] or not isinstance(result, dict):
            continue
        kept[size] = {**result, "run": result.get("run") or run_info(previous)}
    if kept:
        merged = {**data["results"], **kept}
        data["results"] = {k: merged[k] for k in sorted(merged, key=int)}
        data["sizes"] = [int(k) for k in data["results"]]
        data["kept_from_earlier_runs"] = sorted(int(k) for k in kept)
    if "crypto" not in data and previous.get("crypto"):
        data["crypto"] = {**previous["crypto"], "kept_from_run": previous.get("started_at")}
    return data


def _same_run(data: dict[str, Any], a: str, b: str) -> bool:
    runs = [(data["results"][s].get("run") or {}).get("started_at") for s in (a, b)]
    return runs[0] == runs[1]


def _n(size: int | str) -> str:
    return f"{int(size):,}"


def _ratio(big: float | None, small: float | None) -> float | None:
    if big is None or not small:
        return None
    return round(big / small, 2)


FIGURES_LIMIT_SECONDS = 60


def check_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, with its figures; ``ok`` is None when it was not measured."""
    sizes = sorted(int(s) for s in data["results"])
    checks: list[dict[str, Any]] = []
    small = str(sizes[0]) if sizes else ""
    for large in [str(size) for size in sizes[1:]]:
        runs = "" if _same_run(data, small, large) else " (different runs)"
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
                "detail": f"{little['queries']} vs {big['queries']}{runs}",
            })  # fmt: skip
            ratio = _ratio(big["median_ms"], little["median_ms"])
            checks.append({
                "target": f"{label}: median at {_n(large)} <= {MAX_TIME_RATIO}x {_n(small)}",
                "ok": ratio is not None and ratio <= MAX_TIME_RATIO,
                "detail": f"{little['median_ms']} ms vs {big['median_ms']} ms ({ratio}x){runs}",
            })  # fmt: skip
        job = data["results"][large].get("figures_job") or {}
        if job.get("seconds") is not None or job.get("parts"):
            stopped = [n for n, p in (job.get("parts") or {}).items() if not p.get("finished", 1)]
            total = job.get("figures_seconds")
            checks.append({
                "target": f"figures computation at {_n(large)} ({job.get('districts')} "
                          f"districts) within {FIGURES_LIMIT_SECONDS} s",
                "ok": not stopped and total is not None and total <= FIGURES_LIMIT_SECONDS,
                "detail": (f"stopped: {', '.join(stopped)} (see the note)" if stopped
                           else f"{total} s"),
            })  # fmt: skip
        sweep_cases = (("none_due", "none due"), ("none_due_holidays", "none due, school holidays"))
        for which, name in sweep_cases:
            sweep_small = data["results"][small].get("sweep", {}).get(which, {})
            sweep_large = data["results"][large].get("sweep", {}).get(which, {})
            if not (sweep_small and sweep_large):
                continue
            ratio = _ratio(sweep_large["median_ms"], sweep_small["median_ms"])
            checks.append({
                "target": f"sweep with {name}: {_n(large)} <= {MAX_SWEEP_RATIO}x {_n(small)}",
                "ok": ratio is not None and ratio <= MAX_SWEEP_RATIO,
                "detail": f"{sweep_small['median_ms']} ms vs {sweep_large['median_ms']} ms "
                          f"({ratio}x){runs}",
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
    from benchmarks import audit  # issue 21: Art. 15 report and audit search (own module)

    checks += audit.targets(data)
    checks += _wall_checks(data)
    return checks


def _wall_checks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The 15 minutes hold for a run of the default sizes; a run with the nationwide size is
    opt-in and only reported (``ok`` None)."""
    runs: dict[str, dict[str, Any]] = {}
    for result in data["results"].values():
        run = result.get("run") or {}
        if run.get("wall_seconds") is not None:
            runs.setdefault(str(run.get("started_at")), run)
    if not runs and data.get("wall_seconds") is not None:
        runs[""] = {"wall_seconds": data["wall_seconds"], "sizes": data.get("sizes") or []}
    checks = []
    for started, run in sorted(runs.items()):
        wall, sizes = run["wall_seconds"], run.get("sizes") or []
        when = f" (run of {started[:16].replace('T', ' ')})" if len(runs) > 1 else ""
        names = ", ".join(_n(s) for s in sizes)
        if sizes and max(sizes) > DEFAULT_MAX_SIZE:
            checks.append({"target": f"whole run with {names} cases{when}: opt-in, no target",
                           "ok": None, "detail": f"{wall / 60:.1f} min"})  # fmt: skip
        else:
            checks.append({"target": f"the whole run within 15 minutes{when}",
                           "ok": wall < MAX_WALL_SECONDS,
                           "detail": f"{wall / 60:.1f} min"})  # fmt: skip
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
    small = sizes[0]
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
    if data.get("kept_from_earlier_runs"):
        out.append(_runs_note(data, sizes))
        out.append("")

    # pages
    head = ["page"]
    head += [f"queries {_n(s)}" for s in sizes]
    head += [f"median ms {_n(s)}" for s in sizes]
    head += [f"p95 ms {_n(s)}" for s in sizes]
    head += [f"× ({_n(s)}/{_n(small)})" for s in sizes[1:]]
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
        row += [_fmt(_ratio(p.get("median_ms"), per[0].get("median_ms")), "×") for p in per[1:]]
        row.append(" / ".join(_fmt(round(p["bytes"] / 1024)) if p.get("bytes") else "–"
                              for p in per))  # fmt: skip
        out.append("| " + " | ".join(row) + " |")
    out.append("")

    # sweep
    out.append("**Reminder sweep** (`referrals_sweep`; the 1 % due: recording and sending)")
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
        # benchmarks/sweep.py: the sweep's recording and the worker's sending apart; none due
        # with school holidays in the look-back window (the two-scope path).
        for key, label, unit in (
            ("recording_ms_per_reminder", "… recording (the sweep), per reminder", " ms"),
            ("sending_ms_per_reminder", "… sending (the worker), per reminder", " ms"),
        ):
            cells = [_fmt((sw.get("due") or {}).get(key), unit) for sw in sweeps]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        none = [_fmt((sw.get("none_due") or {}).get("median_ms"), " ms") for sw in sweeps]
        out.append("| none due (median) | " + " | ".join(none) + " |")
        hol = [_fmt((sw.get("none_due_holidays") or {}).get("median_ms"), " ms") for sw in sweeps]
        out.append("| none due, school holidays (median) | " + " | ".join(hol) + " |")
    out.append("")

    # the worker's computation of the figures
    jobs = [data["results"][s].get("figures_job") or {} for s in sizes]
    if any(j.get("seconds") is not None or j.get("parts") for j in jobs):
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
        names = sorted({name for j in jobs for name in (j.get("parts") or {})})
        if names:  # the parts timed one by one (benchmarks/figures_scale.py --phases-only)
            out.append("| queries of the computation s | "
                       + " | ".join(_fmt(j.get("queries_s")) for j in jobs) + " |")  # fmt: skip
            for name in names:
                cells = []
                for j in jobs:
                    part = (j.get("parts") or {}).get(name)
                    if part is None:
                        cells.append("–")
                    elif part.get("finished", True):
                        cells.append(_fmt(part.get("seconds")))
                    else:
                        cells.append(f"> {part.get('seconds')} (stopped)")
                out.append(f"| part `{name}` s | " + " | ".join(cells) + " |")
        notes = [f"{_n(s)}: {j['note']}" for s, j in zip(sizes, jobs, strict=True) if j.get("note")]
        if notes:
            out.append("")
            out.extend(f"- {note}" for note in notes)
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
    row("… floor page req/s (same stack, trivial template)", [
        _fmt((ld.get("floor") or {}).get("requests_per_second")) for ld in loads
    ])  # fmt: skip
    row("… share of cores × 1000 / single-request ms (target 0.80)", [
        f"{_fmt(ld.get('share_of_target'))} of {_fmt(ld.get('target_requests_per_second'))}"
        if ld.get("share_of_target") is not None else "–" for ld in loads
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
    for label, cells in dataset_rows(data, sizes):
        row(label, cells)
    mem = data.get("memory", {})
    out.append("")
    out.append(
        f"Peak memory: benchmark process {_fmt(mem.get('ru_maxrss_mib'))} MiB (ru_maxrss), "
        f"generator workers {_fmt(mem.get('children_ru_maxrss_mib'))} MiB; one request at most "
        f"{_fmt(mem.get('request_tracemalloc_peak_kib'))} KiB of Python allocations "
        "(tracemalloc)."
    )
    out.append("")

    from benchmarks import audit  # issue 21: the audit log section (own module)

    out += audit.markdown(data, sizes)
    out.append("**Targets**")
    out.append("")
    for check in data.get("targets", []):
        mark = "✅" if check["ok"] else ("ℹ️" if check["ok"] is None else "❌")
        out.append(f"- {mark} {check['target']}: {check['detail']}")
    return "\n".join(out) + "\n"


def _size_of(nbytes: int | None) -> str:
    if not nbytes:
        return "–"
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:,.1f} GiB"
    return f"{nbytes / 2**20:,.0f} MiB"


def dataset_rows(data: dict[str, Any], sizes: list[str]) -> list[tuple[str, list[str]]]:
    """Per size: the data set's size, audit entries, generation phases, working copy, run."""
    ds = [data["results"][s].get("dataset", {}) for s in sizes]
    runs = [data["results"][s].get("run") or {} for s in sizes]
    audit = [(d.get("counts") or {}).get("audit") for d in ds]
    phases: list[str] = []
    for d in ds:
        found = d.get("phases") or {}
        phases.append(" / ".join(f"{k} {v:,.0f} s" for k, v in found.items()) or "–")
    return [
        ("data set: database size", [_size_of(d.get("bytes")) for d in ds]),
        (
            "data set: audit entries (per case)",
            [
                f"{_fmt(a)} ({a / int(s):.1f})" if a else "–"
                for a, s in zip(audit, sizes, strict=True)
            ],
        ),
        ("data set: generation phases", phases),
        (
            "data set: migrate / VACUUM ANALYZE s",
            [
                f"{_fmt(d.get('migrate_seconds'))} / {_fmt(d.get('vacuum_analyze_seconds'))}"
                for d in ds
            ],
        ),
        (
            "working copy (`CREATE DATABASE … TEMPLATE`) s",
            [_fmt(d.get("copy_seconds")) for d in ds],
        ),
        (
            "whole run (all its sizes) min",
            [
                f"{r['wall_seconds'] / 60:.1f}" if r.get("wall_seconds") is not None else "–"
                for r in runs
            ],
        ),
        ("run of (UTC)", [(r.get("started_at") or "–")[:16].replace("T", " ") for r in runs]),
    ]


def _runs_note(data: dict[str, Any], sizes: list[str]) -> str:
    """Which run each size comes from, when the report merges runs."""
    parts = []
    for size in sizes:
        run = data["results"][size].get("run") or {}
        load = run.get("load_average_start") or ["?"]
        kept = int(size) in data.get("kept_from_earlier_runs", [])
        parts.append(
            f"{_n(size)} cases {'kept from the run' if kept else 'measured in this run'} of "
            f"{(run.get('started_at') or '?')[:16].replace('T', ' ')} UTC (load average "
            f"{load[0]} at its start" + (", --quick" if run.get("quick") else "") + ")"
        )
    return (
        "Sizes come from separate runs (each is kept until it is measured again): "
        + "; ".join(parts)
        + ". A ratio between sizes of different runs compares two machine states."
    )


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
