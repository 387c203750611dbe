"""Who may open which page of the coordinator's workspace."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.services import case_share
from tests.factories import CaseFactory, UserFactory
from tests.second_factor import log_in

CASE_PAGES = ["cases:detail", "cases:edit", "cases:guardian_add"]
CASE_POSTS = [
    "cases:transition",
    "cases:assign",
    "cases:share",
    "cases:unshare",
    "cases:link_sibling",
]
PAGES = ["cases:dashboard", "cases:list", "cases:register"]


@pytest.fixture
def case(coordinator, district):
    return CaseFactory(coordinator=coordinator, district=district)


def page_urls() -> list[tuple[str, str]]:
    return [("get", reverse(n)) for n in PAGES] + [("post", reverse("cases:bulk_assign"))]


def case_urls(case) -> list[tuple[str, str]]:
    return [("get", reverse(n, args=[case.pk])) for n in CASE_PAGES] + [
        ("post", reverse(n, args=[case.pk])) for n in CASE_POSTS
    ]


def all_urls(case) -> list[tuple[str, str]]:
    return page_urls() + case_urls(case)


@pytest.mark.parametrize("role", ["institution_staff", "management", "administrator", ""])
def test_other_roles_get_403_on_pages_and_404_on_any_case(client, case, role) -> None:
    log_in(client, UserFactory(role=role or None, is_staff=role == "administrator"))
    for method, url in page_urls():
        assert getattr(client, method)(url).status_code == 403, url
    # A case URL never reveals whether the case exists: existing and missing look the same.
    for method, url in case_urls(case):
        assert getattr(client, method)(url).status_code == 404, url
        missing = url.replace(f"/{case.pk}/", "/999999/")
        assert getattr(client, method)(missing).status_code == 404, missing


def test_anonymous_visitors_are_sent_to_the_login(client, case) -> None:
    for method, url in all_urls(case):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_a_coordinator_of_another_team_gets_404_on_the_case(client, case, other_coordinator):
    client.force_login(other_coordinator)
    for name in CASE_PAGES:
        assert client.get(reverse(name, args=[case.pk])).status_code == 404, name
    for name in CASE_POSTS:
        assert client.post(reverse(name, args=[case.pk])).status_code == 404, name
    response = client.get(reverse("cases:list"))
    assert case.reference not in response.content.decode()


def test_a_shared_case_opens_for_the_colleague(client, case, coordinator, other_coordinator):
    case_share(case=case, by=coordinator, with_user=other_coordinator)
    client.force_login(other_coordinator)
    assert client.get(reverse("cases:detail", args=[case.pk])).status_code == 200


def test_the_team_sees_every_page(client, case, colleague) -> None:
    client.force_login(colleague)
    for method, url in all_urls(case):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_get_on_a_post_only_action_is_refused(coord_client, case) -> None:
    response = coord_client.get(reverse("cases:transition", args=[case.pk]))
    assert response.status_code == 405
