"""The cache is an optimisation: with the shared cache down the figures page still shows the
figures (computed in the request), never "being prepared" for as long as the outage lasts."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.test import override_settings
from django.urls import reverse

from monitoring import cache as figure_cache
from tests.monitoring.test_figures_views import figures_data, fixed_now, html_tables  # noqa: F401
from tests.monitoring.test_summaries import world  # noqa: F401 - fixture


class UnreachableCache(BaseCache):
    """A shared cache that does not answer, as django-redis with ``IGNORE_EXCEPTIONS`` (or
    the fail-soft wrapper) when Redis is down: nothing is read, no lock can be taken."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def add(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return False

    def get(self, key: str, default: Any = None, version: Any = None) -> Any:
        return default

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        return None

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return False

    def delete(self, key: str, version: Any = None) -> bool:
        return False

    def clear(self) -> None:
        return None


pytestmark = pytest.mark.usefixtures("figures_data", "fixed_now")

UNREACHABLE = {"default": {"BACKEND": f"{__name__}.UnreachableCache"}}


@pytest.fixture
def cache_down():  # type: ignore[no-untyped-def]
    with override_settings(CACHES=UNREACHABLE):
        assert figure_cache.cache_is_shared(), "as with CACHE_URL set: the worker's cache"
        assert figure_cache.claim_computation() is None
        yield


def test_the_page_shows_the_figures_while_the_cache_is_down(
    client, management_user, cache_down
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    for _ in range(2):  # and again: nothing was kept, the next request computes them too
        response = client.get(reverse("figures"))
        assert response.status_code == 200
        assert response.templates[0].name == "monitoring/figures.html"
        assert html_tables(response.content.decode()), "the tables are there"


def test_exports_and_print_view_work_while_the_cache_is_down(
    client, management_user, cache_down
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    assert client.get(reverse("figures_export") + "?format=csv").status_code == 200
    assert client.get(reverse("figures_print")).status_code == 200
