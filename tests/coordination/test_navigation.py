"""The navigation marks exactly one entry as the current page."""

from __future__ import annotations

from django.urls import reverse


def test_only_the_longest_matching_entry_is_current(client, coordinator) -> None:
    client.force_login(coordinator)
    response = client.get(reverse("cases:list"))
    items = response.context["nav_items"]
    current = [item["url"] for item in items if item["active"]]
    assert current == [reverse("cases:list")]
    assert response.content.decode().count('aria-current="page"') >= 1


def test_field_errors_point_at_their_prefixed_error_element(db) -> None:
    from django import forms

    from coordination.forms import KernForm

    class Form(KernForm):
        day = forms.DateField(label="Day", help_text="A day")

    form = Form({"p-day": "not a date"}, prefix="p")
    assert not form.is_valid()
    assert form.fields["day"].widget.attrs["aria-describedby"] == "id_p-day_error id_p-day_helptext"


def test_login_page_is_german_even_for_an_english_browser(client, db) -> None:
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert 'lang="de"' in response.content.decode()
    assert "Anmelden" in response.content.decode()


def test_a_user_who_chose_english_gets_english_pages(client, coordinator) -> None:
    coordinator.language = "en"
    coordinator.save(update_fields=["language"])
    client.force_login(coordinator)
    response = client.get(reverse("cases:list"))
    assert 'lang="en"' in response.content.decode()


def test_an_english_users_language_does_not_leak_to_the_next_request(client, coordinator):
    coordinator.language = "en"
    coordinator.save(update_fields=["language"])
    client.force_login(coordinator)
    client.get(reverse("cases:list"))
    client.logout()
    response = client.get(reverse("login"))
    assert 'lang="de"' in response.content.decode()


def test_the_language_switch_stores_a_known_language_and_ignores_others(client, coordinator):
    client.force_login(coordinator)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/cases/"})
    assert response.status_code == 302 and response["Location"] == "/cases/"
    coordinator.refresh_from_db()
    assert coordinator.language == "en"
    for bad in ("fr", "", "de'; --"):
        client.post(reverse("set_language"), {"language": bad})
        coordinator.refresh_from_db()
        assert coordinator.language == "en"
    # An address elsewhere is not followed.
    response = client.post(reverse("set_language"), {"language": "de", "next": "//evil.test/"})
    assert response["Location"] == "/"
    coordinator.refresh_from_db()
    assert coordinator.language == "de"
