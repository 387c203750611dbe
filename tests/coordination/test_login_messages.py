"""What the login says: a wrong name or password, the tries left, the lock-out, the logout."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

PASSWORD = "correct horse battery staple"


def _fail(client: Client, username: str = "coord"):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": "wrong-password-9"})


def test_a_wrong_password_says_so_plainly(client, coordinator) -> None:
    html = _fail(client).content.decode()
    assert "Benutzername oder Passwort ist falsch" in html
    assert "please enter" not in html.lower() and "Bitte geben Sie" not in html


def test_from_the_third_failure_the_page_says_how_many_tries_remain(
    client, coordinator, settings
) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    assert "Versuch" not in _fail(client).content.decode()
    assert "Versuch" not in _fail(client).content.decode()
    assert "Sie haben noch 2 Versuche" in _fail(client).content.decode()
    assert "Sie haben noch 1 Versuch;" in _fail(client).content.decode()


def test_the_lock_out_page_says_for_how_long_and_whom_to_ask(client, coordinator, settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 0.5
    for _ in range(2):
        _fail(client)
    response = _fail(client)
    assert response.status_code == 429
    html = response.content.decode()
    assert "in 30 Minuten" in html
    assert "Administration" in html and "entsperren" in html


def test_logging_out_says_you_are_logged_out(client, coordinator) -> None:
    client.post(reverse("login"), {"username": "coord", "password": PASSWORD})
    coordinator.language = "en"
    coordinator.save(update_fields=["language"])
    response = client.post(reverse("logout"), follow=True)
    assert "Sie sind abgemeldet" in response.content.decode()
