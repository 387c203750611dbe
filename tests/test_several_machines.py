"""Several machines, as host processes: what ``docker compose up --scale web=3 --scale
worker=2`` runs (docs/deployment.md), proven without docker.

Three gunicorn servers on three ports, two Celery workers and one beat, all separate processes
sharing nothing but one PostgreSQL database (the test database) and one Redis (broker and
cache), as they would on separate hosts. The test then

- logs in on web 1 and uses that session on web 2 and web 3 (sessions are in the database);
- changes the user's language on web 3 and sees web 1 answer in it;
- lets both workers start the figures computation while one of them is inside it: only one
  computes (the lock lives in the shared Redis cache), and web 1 shows what the worker
  computed (the cache is shared between worker and web hosts);
- hands one outbox mail to both workers at once: it is sent exactly once;
- starts a second beat, which waits as a standby (coordination/beat.py);
- stops everything with SIGTERM and checks every process exits cleanly.

Needs PostgreSQL and Redis (marked; CI runs it with REQUIRE_SERVICES=1). Takes about 20 s.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from celery import Celery
from django.db import connection
from redis import Redis

from coordination.models import OutboxMessage, User

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_SECONDS = 40
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], seconds: float = START_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Machine:
    """One process in its own process group (stopped by the group id), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> None:
        assert self.proc.poll() is None, f"{self.name} exited early:\n{self.log()[-3000:]}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


class Browser:
    """Cookies by hand (the session cookie is Secure, these servers speak plain HTTP)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(
        self, port: int, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(HOST, port, timeout=15)
        headers = {"Host": HOST}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                for key, morsel in SimpleCookie(value).items():
                    self.cookies[key] = morsel.value
            return response.status, dict(response.getheaders()), text
        finally:
            conn.close()

    def csrf_token(self, html: str) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, "no CSRF token in the form"
        return match.group(1)


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or HOST}:{s['PORT'] or 5432}/{s['NAME']}"


def succeeded(machine: Machine, task: str) -> list[str]:
    """The return values the worker logged for ``task`` ("Task x[id] succeeded in 0.1s: 12")."""
    return re.findall(
        rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [\d.]+s: (.+)", machine.log()
    )


@pytest.fixture
def cluster(transactional_db: None) -> Iterator[dict[str, Any]]:
    broker = os.environ["CELERY_BROKER_URL"]
    queue = f"machines-{uuid.uuid4().hex[:8]}"
    log_dir = Path(tempfile.mkdtemp(prefix="ankommen-machines-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.machines_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        # The same Redis for the cache unless one is given (CI has one Redis database).
        "CACHE_URL": os.environ.get("CACHE_URL") or broker,
        "MACHINES_QUEUE": queue,
        "EMAIL_FILE_PATH": str(log_dir / "mail"),
        "ANKOMMEN_VAR_DIR": str(log_dir / "var"),
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "INFO",
    }
    celery = [sys.executable, "-m", "celery", "-A", "coordination"]
    machines: dict[str, Machine] = {}
    web_ports: list[int] = []
    try:
        for n in (1, 2, 3):
            port = free_port()
            web_ports.append(port)
            machines[f"web{n}"] = Machine(f"web{n}", [
                sys.executable, "-m", "gunicorn", "coordination.wsgi:application",
                "--bind", f"{HOST}:{port}", "--workers", "1", "--log-level", "warning",
            ], env, log_dir)  # fmt: skip
        for n in (1, 2):
            # Each worker also listens on a queue of its own, so the test can hand a task to
            # one of them; both take the shared queue like two worker hosts.
            machines[f"worker{n}"] = Machine(f"worker{n}", [
                *celery, "worker", "--pool=solo", "--loglevel=INFO", "-n", f"w{n}@{queue}",
                "-Q", f"{queue},{queue}.w{n}", "--without-gossip", "--without-mingle",
            ], env, log_dir)  # fmt: skip
        machines["beat"] = Machine("beat", [
            *celery, "beat", "--loglevel=INFO", "--schedule", str(log_dir / "beat-schedule"),
        ], env, log_dir)  # fmt: skip

        def web_up(port: int) -> bool:
            try:
                status, _h, body = Browser().request(port, "GET", "/healthz")
            except OSError:
                return False
            return status == 200 and '"cache": "ok"' in body and '"broker": "ok"' in body

        for n, port in enumerate(web_ports, 1):
            wait_for(f"web{n}", lambda p=port, m=machines[f"web{n}"]: m.alive() or web_up(p))
        for n in (1, 2):
            w = machines[f"worker{n}"]
            wait_for(f"worker{n}", lambda w=w: w.alive() or " ready." in w.log())
        beat = machines["beat"]
        wait_for("beat", lambda: beat.alive() or "took the beat lock" in beat.log())
        # A second beat, started by mistake (`--scale beat=2`), waits as a standby.
        machines["beat2"] = Machine("beat2", [
            *celery, "beat", "--loglevel=INFO", "--schedule", str(log_dir / "beat2-schedule"),
        ], env, log_dir)  # fmt: skip
        standby = machines["beat2"]
        wait_for("beat 2", lambda: standby.alive() or "waits as a standby" in standby.log())

        app = Celery(broker=broker)
        yield {"web": web_ports, "machines": machines, "queue": queue, "app": app,
               "mail_dir": log_dir / "mail", "cache_url": env["CACHE_URL"]}  # fmt: skip
        app.close()
    finally:
        codes = {name: m.stop() for name, m in machines.items()}
    # A clean shutdown: SIGTERM ends gunicorn, the workers (warm shutdown) and beat with 0.
    assert codes == dict.fromkeys(machines, 0), (
        codes,
        {name: m.log()[-1500:] for name, m in machines.items() if codes[name]},
    )


def test_three_web_servers_two_workers_and_one_beat_share_one_database_and_redis(
    cluster: dict[str, Any], coordinator: User, management_user: User
) -> None:
    web1, web2, web3 = cluster["web"]
    machines: dict[str, Machine] = cluster["machines"]
    queue: str = cluster["queue"]
    app: Celery = cluster["app"]

    # 1. Log in on web 1; the session works on web 2 and web 3.
    browser = Browser()
    _s, _h, login_page = browser.request(web1, "GET", "/login/")
    status, headers, _b = browser.request(web1, "POST", "/login/", {
        "csrfmiddlewaretoken": browser.csrf_token(login_page),
        "username": coordinator.username, "password": PASSWORD,
    })  # fmt: skip
    assert status == 302 and headers["Location"] == "/", (status, headers)
    session = browser.cookies["sessionid"]
    for port in (web2, web3):
        status, _h, page = browser.request(port, "GET", "/cases/")
        assert status == 200, status
        assert '<html lang="de">' in page
    anonymous = Browser()
    assert anonymous.request(web2, "GET", "/cases/")[0] == 302  # not logged in there

    # 2. A change made on web 3 (the language, with web 3's form) shows on web 1.
    _s, _h, page = browser.request(web3, "GET", "/cases/")
    status, _h, _b = browser.request(web3, "POST", "/language/", {
        "csrfmiddlewaretoken": browser.csrf_token(page), "language": "en", "next": "/cases/",
    })  # fmt: skip
    assert status == 302
    status, _h, page = browser.request(web1, "GET", "/cases/")
    assert status == 200 and '<html lang="en">' in page
    assert browser.cookies["sessionid"] == session  # one session, renewed on every server

    # 3. The figures lock across workers. Worker 1 takes the lock and then waits for a table
    # this test holds locked; meanwhile worker 2 is asked for the same computation and must
    # find the lock taken (0 pages built). Then worker 1 finishes and builds the pages.
    warm = "monitoring.tasks.warm_figures"
    lock_key = f"{queue}:1:figures:"  # the key prefix of the processes' cache
    cache_redis = Redis.from_url(cluster["cache_url"])
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        # Every figure is counted from cases and referrals (monitoring/queries.py).
        cursor.execute("LOCK TABLE referrals_referral, cases_case IN ACCESS EXCLUSIVE MODE")
        try:
            app.send_task(warm, queue=f"{queue}.w1")
            wait_for("worker 1 to take the lock", lambda: cache_redis.exists(
                f"{lock_key}{_figures_version()}:computing"))  # fmt: skip
            app.send_task(warm, queue=f"{queue}.w2")
            wait_for("worker 2 to give up", lambda: succeeded(machines["worker2"], warm))
            assert succeeded(machines["worker2"], warm) == ["0"]  # the lock was taken
            assert succeeded(machines["worker1"], warm) == []  # still computing
        finally:
            cursor.execute("COMMIT")
    built = wait_for("worker 1 to finish", lambda: succeeded(machines["worker1"], warm))
    assert built != ["0"] and int(built[0]) > 0
    assert not cache_redis.exists(f"{lock_key}{_figures_version()}:computing")  # released

    # ... and the web servers read what the worker computed (one cache for all hosts).
    figures = Browser()
    User.objects.filter(pk=management_user.pk).update(language="en")
    _s, _h, login_page = figures.request(web2, "GET", "/login/")
    figures.request(web2, "POST", "/login/", {
        "csrfmiddlewaretoken": figures.csrf_token(login_page),
        "username": management_user.username, "password": PASSWORD,
    })  # fmt: skip
    status, _h, page = figures.request(web1, "GET", "/figures/")
    assert status == 200
    assert "The figures are being prepared" not in page

    # 4. One outbox mail handed to both workers at once is sent once.
    from coordination import outbox

    with mock.patch("coordination.outbox.hand_over"):  # handed over below, twice
        message = outbox.mail_enqueue(
            kind="test.machines", to="office@example.org", subject="Case NZ-1",
            body="Case NZ-1 needs you.", case_reference="NZ-1",
        )  # fmt: skip
    assert message is not None
    send = "coordination.outbox_tasks.send_outbox_message"
    for n in (1, 2):
        app.send_task(send, args=(message.pk,), queue=f"{queue}.w{n}")
    wait_for("both workers to handle the mail", lambda: all(
        succeeded(machines[f"worker{n}"], send) for n in (1, 2)))  # fmt: skip
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    assert message.attempts == 1
    sent = [p.read_text() for p in cluster["mail_dir"].glob("*.log")]
    assert sum(text.count(message.message_id) for text in sent) == 1, sent

    # 5. Exactly one beat sends: the second one is still waiting for the lock.
    assert "took the beat lock" in machines["beat"].log()
    assert "took the beat lock" not in machines["beat2"].log()
    for m in machines.values():
        m.alive()


def _figures_version() -> str:
    from monitoring.cache import CACHE_VERSION

    return CACHE_VERSION
