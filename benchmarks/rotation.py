"""``manage.py rotate_field_keys`` throughput: a new key is prepended, rows re-encrypted.

Runs on the working copy only (afterwards its rows are under a key the data set does not
know), as its own process with the extended ``FIELD_ENCRYPTION_KEYS``, exactly as an operator
would run it. The command is resumable and prints its progress per batch; the benchmark reads
those lines as they come and stops the command after ``time_cap`` seconds, so a large data
set gives a rate over a bounded window instead of a run of many minutes. Rows per second =
rows re-encrypted between the first and the last progress line, divided by the time between.
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
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen(
        _command([]), env=env, cwd=settings.BASE_DIR, stdout=subprocess.PIPE,
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
    elapsed = time.perf_counter() - started

    done: dict[str, int] = {}
    first = last = None
    for at, line in lines:
        if START.match(line) and first is None:
            first = at
        if m := PROGRESS.match(line):
            done[m.group(1)] = int(m.group(2))
            last = at
    rows_done = sum(done.values())
    window = (last - first) if first is not None and last is not None else None
    result: dict[str, Any] = {
        "rows_total": sum(rows.values()),
        "rows_by_model": rows,
        "rows_done": rows_done,
        "rows_done_by_model": done,
        "complete": not capped and proc.returncode == 0,
        "time_cap_s": time_cap,
        "seconds": round(elapsed, 2),
        "rows_per_second": round(rows_done / window) if window else None,
        "output_tail": [line for _at, line in lines[-4:]],
    }
    if capped:
        result["note"] = (
            f"stopped after {time_cap:.0f} s (resumable command); the rate is over that window"
        )
    elif proc.returncode == 0:
        check = subprocess.run(
            _command(["--check"]), env=env, cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        result["check"] = (check.stdout + check.stderr).strip().splitlines()[-3:]
    else:
        result["error"] = f"rotate_field_keys exited {proc.returncode}"
    return result
