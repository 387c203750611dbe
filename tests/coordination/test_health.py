"""/healthz: database, cache and broker separately; 503 only when the app cannot serve."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from coordination import health
from tests.coordination.test_cache_down import DOWN, _caches


@pytest.fixture
def broker_up(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(health, "broker_ok", lambda timeout=2.0: True)


def test_healthz_is_ok_when_everything_answers(client, db, broker_up) -> None:
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}


def test_healthz_with_the_cache_down_is_degraded_but_200(client, db, broker_up) -> None:
    with override_settings(CACHES=_caches(DOWN)):
        cache.reset_breaker()  # type: ignore[attr-defined]
        response = client.get(reverse("healthz"))
        cache.reset_breaker()  # type: ignore[attr-defined]
    assert response.status_code == 200, "the app serves without its cache"
    assert response.json() == {
        "status": "degraded", "database": "ok", "cache": "down", "broker": "ok",
    }  # fmt: skip


def test_healthz_with_an_unreachable_redis_broker_is_degraded_but_200(
    client, db, monkeypatch
) -> None:
    # A real connection attempt to a Redis port where nothing listens.
    monkeypatch.setattr(health, "broker_url", lambda: "redis://127.0.0.1:1/0")
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, "pages work; mail waits in the outbox for the sweep"
    assert response.json()["broker"] == "down"
    assert response.json()["status"] == "degraded"


def test_healthz_with_the_database_down_is_503(client, db, broker_up, monkeypatch) -> None:
    monkeypatch.setattr(health, "database_ok", lambda: False)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["database"] == "down"


def test_healthz_body_names_no_host_port_or_url(client, db, monkeypatch) -> None:
    monkeypatch.setattr(health, "broker_url", lambda: "redis://:pw@brokerhost:1/0")
    with override_settings(CACHES=_caches("redis://:pw@127.0.0.1:1/2")):
        body = client.get(reverse("healthz")).content.decode()
        cache.reset_breaker()  # type: ignore[attr-defined]
    for secret in ("127.0.0.1", "brokerhost", "pw", "redis", "6379", "5432"):
        assert secret not in body


def test_docker_health_check_reaches_healthz_over_http_on_the_container_address(
    db, broker_up
) -> None:
    """Production refuses other hosts and redirects to HTTPS; the health check still works."""
    with override_settings(ALLOWED_HOSTS=["ankommen.example.de"], SECURE_SSL_REDIRECT=True):
        client = Client()
        response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400, "others: still"


def test_cache_check_on_the_local_memory_cache_is_a_round_trip(db) -> None:
    assert health.cache_ok()
