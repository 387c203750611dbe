"""The cache is optional: with Redis unreachable every page and the sweep work from the database.

The cache backend is the one production uses with ``CACHE_URL=redis://...``
(``coordination.cache.FailSoftRedisCache``), pointed at a port where nothing listens: every
call really tries to connect and is refused. The test marked ``redis`` shows the same backend
does cache when Redis is up.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCacheClient
from django.test import Client, override_settings
from django.urls import reverse

from coordination.cache import FailSoftRedisCache
from coordination.models import OfficeSettings
from tests.factories import ReferralFactory, build_role_world
from tests.second_factor import log_in

DOWN = "redis://127.0.0.1:1/2"  # nothing listens on port 1: connection refused
UP = "redis://127.0.0.1:6379/2"  # the real Redis of CI, the cache's own logical db


def _caches(location: str, retry_after: float = 10) -> dict[str, dict[str, object]]:
    return {
        "default": {
            "BACKEND": "coordination.cache.FailSoftRedisCache",
            "LOCATION": location,
            "OPTIONS": {
                "socket_connect_timeout": 0.5,
                "socket_timeout": 1.0,
                "retry_after": retry_after,
            },
        }
    }


@pytest.fixture
def cache_down():  # type: ignore[no-untyped-def]
    with override_settings(CACHES=_caches(DOWN)):
        cache.reset_breaker()  # type: ignore[attr-defined]
        yield cache
        cache.reset_breaker()  # type: ignore[attr-defined]


@pytest.fixture
def cache_up():  # type: ignore[no-untyped-def]
    with override_settings(CACHES=_caches(UP)):
        cache.reset_breaker()  # type: ignore[attr-defined]
        cache.clear()
        yield cache
        cache.clear()


def _client(user, *, past_second_factor: bool = True) -> Client:  # type: ignore[no-untyped-def]
    client = Client(raise_request_exception=True)
    if past_second_factor:
        log_in(client, user)  # administrators must use a second factor by default
    else:
        client.force_login(user)
    return client


def test_every_role_s_pages_answer_200_with_the_cache_down(db, cache_down) -> None:
    world = build_role_world()
    users = world.users
    pages = {
        "coordinator_own_team": [
            reverse("cases:dashboard"),
            reverse("cases:list"),
            reverse("cases:detail", kwargs={"pk": world.case.pk}),
            reverse("cases:edit", kwargs={"pk": world.case.pk}),
            reverse("referrals:create", kwargs={"case_pk": world.ready_case.pk}),
            reverse("referrals:detail", kwargs={"pk": world.referral.pk}),
        ],
        "school_referred": [
            reverse("referrals:inbox"),
            reverse("referrals:places"),
            reverse("referrals:detail", kwargs={"pk": world.referral.pk}),
        ],
        "management": [reverse("figures")],
        "administrator": [
            reverse("admin:index"),
            reverse("admin:coordination_officesettings_change", kwargs={"object_id": 1}),
            reverse("cases:retention"),
            reverse("audit_search"),
        ],
    }
    for role, urls in pages.items():
        client = _client(users[role])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, f"{role}: {url} -> {response.status_code}"
    assert cache.is_skipping, "the pages really met a cache that is down"  # type: ignore[attr-defined]


def test_login_and_its_throttling_work_with_the_cache_down(db, cache_down, settings) -> None:
    from tests.factories import UserFactory

    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(role="coordinator", username="anna")
    client = Client(raise_request_exception=True)
    assert client.get(reverse("login")).status_code == 200
    wrong = {"username": "anna", "password": "wrong-password-123"}
    assert client.post(reverse("login"), wrong).status_code == 200
    assert client.post(reverse("login"), wrong).status_code in {403, 429}, "locked out"
    other = Client(raise_request_exception=True)
    UserFactory(role="coordinator", username="ben")
    response = other.post(
        reverse("login"), {"username": "ben", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert other.get(response["Location"], follow=True).status_code == 200


def test_a_second_factor_required_by_role_is_still_enforced_with_the_cache_down(
    db, cache_down, coordinator
) -> None:
    office, _ = OfficeSettings.objects.get_or_create(pk=1)
    office.otp_required_roles = ["coordinator"]
    office.save()
    response = _client(coordinator, past_second_factor=False).get(reverse("cases:dashboard"))
    assert response.status_code == 302
    # No device yet: the first one is set up only with an enrolment code.
    assert response["Location"].startswith(reverse("otp_enrol"))


def test_office_settings_come_from_the_database_with_the_cache_down(db, cache_down) -> None:
    assert OfficeSettings.current().expiry_days == OfficeSettings().expiry_days
    OfficeSettings.objects.filter(pk=1).update(expiry_days=33)
    assert OfficeSettings.current().expiry_days == 33


BERLIN = ZoneInfo("Europe/Berlin")


def test_the_sweep_and_its_beat_task_run_with_the_cache_down(
    db,
    cache_down,
    no_school_holidays,
    coordinator,
    institution,
    mailoutbox,
    django_capture_on_commit_callbacks,
) -> None:
    from referrals.reminders import referrals_sweep
    from referrals.tasks import sweep_referrals

    with time_machine.travel(dt.datetime(2026, 4, 1, 10, tzinfo=BERLIN), tick=False):
        ReferralFactory(coordinator=coordinator, institution=institution)
        ReferralFactory(coordinator=coordinator, institution=institution)
    with (
        time_machine.travel(dt.datetime(2026, 4, 10, 8, tzinfo=BERLIN), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        summary = sweep_referrals.delay().get()
        assert summary["queued"] == {"r1": 2}
        assert referrals_sweep().as_dict()["queued"] == {}, "each level only once"
    assert len(mailoutbox) == 2


def test_the_cache_answers_misses_and_drops_writes_when_down(cache_down) -> None:
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is False
    assert cache.set("k", 1) is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.get_or_set("k", 7) == 7
    assert cache.has_key("k") is False
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    assert cache.delete_many(["a", "b"]) is None
    assert cache.clear() is None
    with pytest.raises(ValueError, match="not found"):
        cache.incr("counter")


def test_after_a_failure_the_cache_is_skipped_without_trying(cache_down, monkeypatch, caplog):
    tries = []
    real_get = RedisCacheClient.get

    def counting_get(self, key, default):  # type: ignore[no-untyped-def]
        tries.append(key)
        return real_get(self, key, default)

    monkeypatch.setattr(RedisCacheClient, "get", counting_get)
    with caplog.at_level(logging.WARNING, logger="coordination.cache"):
        for _ in range(5):
            assert cache.get("office-settings") is None
    assert len(tries) == 1, "one refused connection, then the breaker skips Redis"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "Cache unreachable" in warnings[0]
    assert "redis://" not in warnings[0], "no URL (it may hold a password) in the log"


def test_the_cache_is_tried_again_after_retry_after(monkeypatch) -> None:
    with override_settings(CACHES=_caches(DOWN, retry_after=0)):
        cache.reset_breaker()  # type: ignore[attr-defined]
        tries = []
        real_get = RedisCacheClient.get
        monkeypatch.setattr(
            RedisCacheClient, "get", lambda self, k, d: tries.append(k) or real_get(self, k, d)
        )
        cache.get("a")
        cache.get("b")
        assert len(tries) == 2, "no skipping with retry_after=0"
        cache.reset_breaker()  # type: ignore[attr-defined]


def test_a_value_that_cannot_be_stored_is_still_an_error(cache_down) -> None:
    """Only an outage is swallowed: a bug (an unpicklable value) still raises."""
    with pytest.raises((AttributeError, TypeError)):
        cache.set("k", lambda: 1)


def test_production_settings_wrap_a_redis_cache_url_with_short_timeouts(monkeypatch) -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "from django.conf import settings as s; c = s.CACHES['default']; "
        "print(c['BACKEND'], sorted(c['OPTIONS'].items()))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CACHE_URL": "redis://:secret@cachehost:6379/2?socket_timeout=2",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    assert out.split()[0] == "coordination.cache.FailSoftRedisCache"
    assert "('socket_connect_timeout', 0.5)" in out
    assert "('socket_timeout', 2)" in out, "the URL's own value wins"
    assert "('retry_after', 10)" in out


@pytest.mark.redis
def test_with_redis_up_the_office_settings_come_from_the_cache(
    db, cache_up, django_assert_num_queries
) -> None:
    OfficeSettings.current()
    assert isinstance(caches["default"], FailSoftRedisCache)
    with django_assert_num_queries(0):
        assert OfficeSettings.current().pk == 1
    assert cache.get("office-settings") is not None
    assert cache.ping()  # type: ignore[attr-defined]
    assert not cache.is_skipping  # type: ignore[attr-defined]
