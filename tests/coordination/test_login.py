"""Login and sessions: every login logged, throttling, idle expiry, CSRF, strong passwords."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from coordination.models import AuditEntry
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


def _login(client: Client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_successful_login_and_logout_are_logged_with_the_address(client, coordinator) -> None:
    response = _login(client, "coord", REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="auth.login").latest("id")
    assert entry.actor_id == coordinator.pk and entry.ip == "198.51.100.4"
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.4")
    out = AuditEntry.objects.filter(action="auth.logout").latest("id")
    assert out.actor_id == coordinator.pk and out.ip == "198.51.100.4"


def test_failed_login_is_logged_with_the_typed_name_but_never_the_password(client, coordinator):
    response = _login(client, "coord", "wrong-password-123", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(action="auth.login_failed").latest("id")
    assert entry.actor_id is None and entry.actor_name == "coord" and entry.ip == "203.0.113.5"
    assert "wrong-password-123" not in str(entry.detail) + entry.actor_name


def test_failed_login_with_an_unknown_or_odd_name_is_logged_safely(client, db) -> None:
    _login(client, "nobody\x07" + "x" * 300, "whatever")
    entry = AuditEntry.objects.filter(action="auth.login_failed").latest("id")
    assert entry.actor_name.startswith("nobody?") and len(entry.actor_name) <= 150


def test_login_is_locked_after_the_failure_limit_with_a_clear_page(client, coordinator, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        _login(client, "coord", "wrong-password-123")
    response = _login(client, "coord")  # even the right password is refused now
    assert response.status_code in {403, 429}
    body = response.content.decode()
    assert "Anmeldung vorübergehend gesperrt" in body or "Login temporarily blocked" in body
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.locked_out", actor_name="coord").exists()
    # Another user from the same address is not affected (name + address are locked together).
    UserFactory(username="other", role="coordinator")
    assert _login(Client(), "other").status_code == 302


def test_below_the_limit_a_correct_password_still_works(client, coordinator, settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        _login(client, "coord", "wrong-password-123")
    assert _login(client, "coord").status_code == 302


def test_session_expires_after_the_idle_time(client, coordinator, settings) -> None:
    start = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        assert _login(client, "coord").status_code == 302
    idle = dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    # Activity keeps the session alive (the age counts from the last request) ...
    with time_machine.travel(start + idle - dt.timedelta(minutes=1), tick=False):
        assert client.get(reverse("home")).status_code == 302
        assert "_auth_user_id" in client.session
    # ... and idleness ends it.
    with time_machine.travel(start + 2 * idle, tick=False):
        response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_session_cookie_ends_with_the_browser_and_is_http_only(client, coordinator, settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_AGE <= 30 * 60
    response = _login(client, "coord")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == "" and cookie["max-age"] == ""
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_login_without_csrf_token_is_refused(db, coordinator) -> None:
    client = Client(enforce_csrf_checks=True)
    assert _login(client, "coord").status_code == 403


@pytest.mark.parametrize(
    "password", ["kurz", "12345678901234", "password1234", "coordinator-coord"]
)
def test_weak_passwords_are_refused(db, password) -> None:
    user = UserFactory.build(username="coordinator-coord", email="c@example.org")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_passphrase_is_accepted(db) -> None:
    validate_password("Mosel und Rhein treffen sich am Eck", UserFactory.build(username="x"))
