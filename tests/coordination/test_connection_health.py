"""A kept database connection that the server closed between two requests (restart, failover,
idle timeout, ``pg_terminate_backend``) does not fail the next request: ``CONN_HEALTH_CHECKS``
notices it and connects anew.

The request goes through Django's real WSGI handler: the test client switches off the
per-request connection upkeep (``close_old_connections``) that this is about.
"""

from __future__ import annotations

import io
import time
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _terminate(pid: int) -> None:
    """Kill a backend from a second connection and wait until the server has let it go."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(200):  # termination is asynchronous; a bounded wait, no assertion
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.05)
        pytest.fail(f"backend {pid} still alive after pg_terminate_backend")
    finally:
        other.close()


def _wsgi_get(path: str, cookie: str) -> tuple[int, bytes]:
    environ: dict[str, object] = {"PATH_INFO": path, "HTTP_COOKIE": cookie}
    setup_testing_defaults(environ)
    environ.update({"HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(b"")})
    status: list[str] = []
    response = WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        body = b"".join(response)
    finally:
        response.close()  # request_finished, as a WSGI server sends it
    return int(status[0].split()[0]), body


def test_a_killed_connection_does_not_fail_the_next_request(coordinator) -> None:
    assert connection.settings_dict["CONN_MAX_AGE"] > 0, "connections are kept between requests"
    client = Client()
    client.force_login(coordinator)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    url = reverse("cases:dashboard")
    assert _wsgi_get(url, cookie)[0] == 200
    killed = _backend_pid()  # the connection the next request would reuse

    _terminate(killed)
    status, body = _wsgi_get(url, cookie)

    assert status == 200, body[:500]
    assert _backend_pid() != killed, "a new connection replaced the dead one"
