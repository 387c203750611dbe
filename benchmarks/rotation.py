"""``manage.py rotate_field_keys`` throughput: a new key is prepended, rows re-encrypted.

Runs on the working copy only (afterwards its rows are under a key the data set does not
know), as its own process with the extended ``FIELD_ENCRYPTION_KEYS``, exactly as an operator
would run it. The command is resumable and prints its progress per batch (``app.Model:
written/todo``); the benchmark reads those lines as they come.

Rows per second is the same figure at every size: rows re-encrypted (rows with at least one
value under the old key, every table) per second of the whole rotation. Tables differ a lot
(a case row has 22 encrypted columns, a guardian row 4), so a time-capped window over the
first table would measure another mix at 100,000 cases than a complete run at 1,000. Hence
the command runs once per model (``--model``), each run stopped after its share of
``time_cap``; each model's rate is measured between its "rows to re-encrypt" line and its
last progress line, and the whole rotation's rate is projected from them:
``sum(rows) / sum(rows / rate)``. At 1,000 cases every run completes, so this is exactly the
complete rotation's rate.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import get_commands

NEW_KEY = "b2:YW5rb21tZW4tYmVuY2gtcm90YXRpb24ta2V5LW5ldyE="
PROGRESS = re.compile(r"^([\w.]+): (\d+)/(\d+)$")
START = re.compile(r"^([\w.]+): (\d+) rows to re-encrypt")


def _encrypted_rows() -> dict[str, int]:
    from django.apps import apps

    from coordination.fields import encrypted_fields

    counts = {}
    for model in apps.get_models():
        if model._meta.managed and not model._meta.proxy and encrypted_fields(model):
            counts[model._meta.label] = model._default_manager.count()
    return counts


def _command(args: list[str]) -> list[str]:
    return [sys.executable, str(settings.BASE_DIR / "manage.py"), "rotate_field_keys", *args]


def _run_capped(args: list[str], env: dict[str, str], time_cap: float) -> dict[str, Any]:
    """Run the command, stop it (SIGTERM: its open batch rolls back) after ``time_cap``."""
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen(
        _command(args), env=env, cwd=settings.BASE_DIR, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
    )  # fmt: skip

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter(), line.rstrip()))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.perf_counter()
    capped = False
    try:
        proc.wait(timeout=time_cap)
    except subprocess.TimeoutExpired:
        capped = True
        os.killpg(proc.pid, signal.SIGTERM)  # the command we started; its batch rolls back
        proc.wait(timeout=15)
    thread.join(timeout=5)
    todo = written = 0
    first = last = None
    for at, line in lines:
        if (m := START.match(line)) and first is None:
            first, todo = at, int(m.group(2))
        if m := PROGRESS.match(line):
            written, last = int(m.group(2)), at
    window = (last - first) if first is not None and last is not None else None
    return {
        "todo": todo,
        "written": written,
        "window_s": round(window, 3) if window else None,
        "rows_per_second": round(written / window) if window else None,
        "capped": capped,
        "returncode": proc.returncode,
        "seconds": round(time.perf_counter() - started, 2),
        "output_tail": [line for _at, line in lines[-2:]],
    }


def run(*, database_url: str, time_cap: float = 60.0) -> dict[str, Any]:
    if "rotate_field_keys" not in get_commands():
        return {"skipped": "manage.py rotate_field_keys does not exist yet"}
    rows = _encrypted_rows()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        DATABASE_URL=database_url,
        FIELD_ENCRYPTION_KEYS=f"{NEW_KEY},{settings.FIELD_ENCRYPTION_KEYS}",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(settings.BASE_DIR), env.get("PYTHONPATH", "")]),
    )
    per_model_cap = max(10.0, time_cap / max(1, len(rows)))
    started = time.perf_counter()
    by_model = {
        label: _run_capped(["--model", label], env, per_model_cap)
        for label, count in rows.items()
        if count
    }
    elapsed = time.perf_counter() - started
    measured = {label: r for label, r in by_model.items() if r["todo"]}
    failed = [label for label, r in by_model.items() if not r["capped"] and r["returncode"]]
    todo = sum(r["todo"] for r in measured.values())
    projected_s = sum(
        r["todo"] / r["rows_per_second"] for r in measured.values() if r["rows_per_second"]
    )
    complete = not failed and not any(r["capped"] for r in by_model.values())
    rate = None
    if measured and all(r["rows_per_second"] for r in measured.values()) and projected_s:
        rate = round(todo / projected_s)
    result: dict[str, Any] = {
        "rows_total": todo,  # rows with a value under the old key, every table
        "rows_by_model": rows,
        "rows_done": sum(r["written"] for r in by_model.values()),
        "rows_done_by_model": {label: r["written"] for label, r in by_model.items()},
        "rows_per_second_by_model": {label: r["rows_per_second"] for label, r in measured.items()},
        "rows_per_second": rate,
        "projected_seconds": round(projected_s, 1) if projected_s else None,
        "complete": complete,
        "time_cap_s": per_model_cap,
        "time_cap_per_model": True,
        "seconds": round(elapsed, 2),
        "output_tail": [line for r in by_model.values() for line in r["output_tail"]][-4:],
    }
    if not complete and not failed:
        result["note"] = (
            f"every model stopped after {per_model_cap:.0f} s at most (resumable command); "
            "the rate is projected over every table from the rates measured"
        )
    if failed:
        result["error"] = f"rotate_field_keys exited non-zero for {', '.join(failed)}"
    elif complete:
        check = subprocess.run(
            _command(["--check"]), env=env, cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        result["check"] = (check.stdout + check.stderr).strip().splitlines()[-3:]
    return result
