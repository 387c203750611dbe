"""Error pages outside DEBUG: our own, in the user's language, never Django's technical page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path

from coordination.urls import urlpatterns as project_urls
from tests.second_factor import log_in


def _boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _boom), *project_urls]
handler403 = "coordination.errors.permission_denied"
handler404 = "coordination.errors.page_not_found"
handler500 = "coordination.errors.server_error"


def test_a_404_in_german_is_our_page_not_the_debug_page(client, coordinator, settings) -> None:
    assert settings.DEBUG is False
    log_in(client, coordinator)
    response = client.get("/gibt-es-nicht/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Nicht gefunden" in html and 'lang="de"' in html
    assert "Page not found" not in html and "Using the URLconf" not in html


@pytest.mark.urls("tests.coordination.test_error_pages")
def test_a_500_is_in_the_users_language_and_in_the_products_layout(coordinator) -> None:
    coordinator.language = "en"
    coordinator.save(update_fields=["language"])
    client = log_in(Client(raise_request_exception=False), coordinator)
    response = client.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and 'lang="en"' in html
    assert "kern-kopfzeile" in html


@pytest.mark.urls("tests.coordination.test_error_pages")
def test_a_500_for_a_visitor_is_german(db) -> None:
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert "Etwas ist schiefgegangen" in response.content.decode()
