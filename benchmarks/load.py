"""Throughput under load: the case list with 16 concurrent clients against gunicorn.

gunicorn serves the working copy on 127.0.0.1 and a free port, with the bench settings.
Sixteen sessions of the bench coordinator are created server-side (like a login); Debian's
``wrk`` spreads its requests over them (a small Lua script), bounded in time. Without ``wrk``
a thread pool of ``http.client`` connections does the same, more slowly (the load generator
then competes for the GIL, so its figure is a lower bound). gunicorn is stopped afterwards.
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

HOST = "127.0.0.1"
# gunicorn as docs/performance.md ("Throughput") recommends; the environment overrides them
# for experiments (BENCH_GUNICORN_WORKERS, BENCH_GUNICORN_THREADS, BENCH_GUNICORN_ARGS).
# Sync workers, two per core (one runs Python while another waits for PostgreSQL), the app
# loaded once in the master (--preload), as docker-compose.yml's web command.
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS") or 1)
GUNICORN_EXTRA_ARGS = (os.environ.get("BENCH_GUNICORN_ARGS") or "--preload").split()


def gunicorn_workers() -> int:
    return int(os.environ.get("BENCH_GUNICORN_WORKERS") or max(2, (os.cpu_count() or 1) * 2))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, cookie: str = "", timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}" if auth else f"postgres://{host}/{db['NAME']}"


class Gunicorn:
    """gunicorn on 127.0.0.1 in its own process group; stopped on exit."""

    def __init__(self, *, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.settings",
            DATABASE_URL=database_url(),
            PYTHONPATH=os.pathsep.join([str(settings.BASE_DIR), env.get("PYTHONPATH", "")]),
        )
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "coordination.wsgi:application",
             "--bind", f"{HOST}:{self.port}", "--workers", str(self.workers),
             "--worker-class", "gthread" if GUNICORN_THREADS > 1 else "sync",
             "--threads", str(GUNICORN_THREADS), "--log-level", "warning", "--timeout", "60",
             "--chdir", str(settings.BASE_DIR), *GUNICORN_EXTRA_ARGS],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early, see {self.log_path}")
            try:
                status, _body = _get(self.port, "/healthz", timeout=2)
                if status < 500:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer within 40 s, see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group of the gunicorn we started
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


def sessions(user: Any, n: int) -> list[str]:
    """``n`` logged-in sessions of ``user`` (stored in the database, as a login would)."""
    cookies = []
    for _ in range(n):
        client = Client()
        client.force_login(user)
        cookies.append(
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    return cookies


WRK_SCRIPT = """
local cookies = {%(cookies)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "%(path)s", {["Cookie"] = cookies[(n %% #cookies) + 1]})
end
"""


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(
    port: int, path: str, cookies: list[str], *, clients: int, seconds: int
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    assert wrk is not None
    script = WRK_SCRIPT % {"cookies": ", ".join(f'"{c}"' for c in cookies), "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        proc = subprocess.run(
            [wrk, f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
             "--latency", "-s", fh.name, f"http://{HOST}:{port}{path}"],
            capture_output=True, text=True, timeout=seconds + 30, check=False,
        )  # fmt: skip
    finally:
        os.unlink(fh.name)
    text = proc.stdout
    result: dict[str, Any] = {"tool": "wrk", "raw": text.strip().splitlines()}
    if m := re.search(r"([\d.]+) requests in ([\d.]+)(\w+)", text):
        result["requests"] = int(m.group(1))
        result["duration_s"] = round(_seconds(m.group(2), m.group(3)), 2)
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        result["requests_per_second"] = float(m.group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        result["non_2xx_3xx"] = int(m.group(1))
        errors += int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        socket_errors = sum(int(x) for x in m.groups())
        result["socket_errors"] = socket_errors
        errors += socket_errors
    result["errors"] = errors
    for pct in ("50", "99"):
        if m := re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
            result[f"latency_p{pct}_ms"] = round(_seconds(m.group(1), m.group(2)) * 1000, 1)
    if proc.returncode != 0:
        result["stderr"] = proc.stderr.strip()[-500:]
    return result


def run_threads(
    port: int, path: str, cookies: list[str], *, clients: int, seconds: int
) -> dict[str, Any]:
    """Fallback without wrk: ``clients`` threads with keep-alive connections, bounded in time."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]

    def worker(cookie: str) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    started = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(cookies[i % len(cookies)],)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 20)
    elapsed = time.perf_counter() - started
    bad = sum(n for s, n in statuses.items() if s >= 400)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "tool": "python threads (http.client)",
        "requests": len(latencies),
        "duration_s": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else None,
        "errors": errors[0] + bad,
        "statuses": {str(k): v for k, v in statuses.items()},
        "latency_p50_ms": round(statistics.median(ms), 1) if ms else None,
        "latency_p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1) if ms else None,
    }


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (from /proc; 0 for one gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def _group_pids(pgid: int) -> list[int]:
    """The processes of one process group: gunicorn's master and its workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp (field 5)
            pids.append(int(entry.name))
    return pids


def _database_pids() -> list[int]:
    """The server processes of the other connections to this database (gunicorn's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def measure(
    server: Gunicorn, path: str, cookies: list[str], *, clients: int, seconds: int
) -> dict[str, Any]:
    """One load run against ``path``, with the CPU each side used meanwhile: gunicorn (master
    and workers), PostgreSQL (the server processes of gunicorn's connections) and the load
    generator (this process's threads, or ``wrk``). On a shared machine the rest of the CPU
    went to other work."""
    assert server.proc is not None
    # warm every worker's connection and caches
    for cookie in cookies:
        _get(server.port, path, cookie)
    web_pids, db_pids = _group_pids(server.proc.pid), _database_pids()
    web0, db0 = _cpu_seconds(web_pids), _cpu_seconds(db_pids)
    own0, children0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    if shutil.which("wrk"):
        result = run_wrk(server.port, path, cookies, clients=clients, seconds=seconds)
    else:
        result = run_threads(server.port, path, cookies, clients=clients, seconds=seconds)
    wall = time.perf_counter() - wall0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator = (time.process_time() - own0) + (
        children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    )
    cpu = {
        "gunicorn": _cpu_seconds(web_pids) - web0,
        "postgres": _cpu_seconds(db_pids) - db0,
        "load_generator": generator,
    }
    result["cpu_cores_used"] = {k: round(v / wall, 2) for k, v in cpu.items()}
    if result.get("requests"):
        result["cpu_ms_per_request"] = {
            k: round(v * 1000 / result["requests"], 1) for k, v in cpu.items()
        }
    result["database_connections"] = len(db_pids)
    return result


def run(
    *, path: str, user: Any, clients: int = 16, seconds: int = 15, workers: int | None = None,
    log_dir: Path, floor_path: str | None = None, single_request_ms: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The case list (``path``) under load; first the floor page (``floor_path``) on the same
    server. ``single_request_ms`` (the case list's median server time from the pages module)
    gives the target: ``cores x 1000 / single_request_ms`` requests per second."""
    workers = workers or gunicorn_workers()
    cookies = sessions(user, clients)
    floor_result = None
    with Gunicorn(workers=workers, log_path=log_dir / "gunicorn.log") as server:
        status, body = _get(server.port, path, cookies[0])
        if status != 200:
            return {"error": f"the case list answered {status} to a logged-in session",
                    "body": body[:300].decode("utf-8", "replace")}  # fmt: skip
        if floor_path:
            floor_result = measure(server, floor_path, cookies, clients=clients, seconds=seconds)
        result = measure(server, path, cookies, clients=clients, seconds=seconds)
    result.update(clients=clients, seconds=seconds, gunicorn_workers=workers, path=path)
    result.update(gunicorn_threads=GUNICORN_THREADS, cores=os.cpu_count())
    if floor_result is not None:
        result["floor"] = floor_result
    if single_request_ms:
        target = (os.cpu_count() or 1) * 1000 / single_request_ms
        result["single_request_ms"] = single_request_ms
        result["target_requests_per_second"] = round(target, 1)
        if result.get("requests_per_second"):
            result["share_of_target"] = round(result["requests_per_second"] / target, 2)
    return result
