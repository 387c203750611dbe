"""A real task round trip through a real Celery worker against Redis (CI: REQUIRE_SERVICES=1)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.redis


def test_task_round_trip_through_a_real_worker_and_redis() -> None:
    from celery.contrib.testing.worker import start_worker

    from coordination.celery import app, ping

    old = (app.conf.task_always_eager, app.conf.result_backend)
    app.conf.task_always_eager = False
    app.conf.result_backend = "redis://127.0.0.1:6379/1"
    # Celery caches the result backend per thread once any task ran (eagerly) before.
    app._local.__dict__.pop("backend", None)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
            result = ping.delay()
            assert result.get(timeout=20) == "pong"
    finally:
        app.conf.task_always_eager, app.conf.result_backend = old
        app._local.__dict__.pop("backend", None)


def test_health_reports_a_running_redis_broker_as_ok() -> None:
    from coordination.health import broker_ok

    assert broker_ok() is True
