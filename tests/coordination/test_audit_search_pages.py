"""The audit search pages by keyset (issue 21): no count of the whole log, no OFFSET, and the
same entries in the same order as before, page after page."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.urls import reverse

from coordination import selectors
from coordination.audit import audit_log
from coordination.models import AuditEntry
from coordination.selectors import audit_entries_matching, audit_search_page
from tests.second_factor import log_in


def _entries(n: int, **kwargs: object) -> list[int]:
    return [audit_log(actor=None, action=f"test.{i % 3}", **kwargs).id for i in range(n)]  # type: ignore[arg-type]


def test_pages_by_keyset_cover_every_match_once_newest_first(db, monkeypatch) -> None:
    monkeypatch.setattr(selectors, "AUDIT_PAGE_SIZE", 4)
    ids = _entries(11)
    expected = list(audit_entries_matching({"action": "test."}).values_list("id", flat=True))
    assert expected == sorted(ids, reverse=True)  # newest first, as before
    seen: list[int] = []
    page = audit_search_page({"action": "test."})
    assert page.newer is None
    pages = [page]
    while page.older is not None:
        page = audit_search_page({"action": "test."}, before=page.older)
        pages.append(page)
    seen = [e.id for p in pages for e in p.entries]
    assert seen == expected and len(pages) == 3
    # ... and back: "newer" from the last page gives the page before it.
    back = audit_search_page({"action": "test."}, after=pages[-1].newer)
    assert [e.id for e in back.entries] == [e.id for e in pages[-2].entries]


def test_entries_of_the_same_second_are_neither_lost_nor_repeated(db, monkeypatch) -> None:
    monkeypatch.setattr(selectors, "AUDIT_PAGE_SIZE", 2)
    with time_machine.travel(dt.datetime(2025, 1, 2, 10, tzinfo=dt.UTC), tick=False):
        ids = _entries(5)  # all at the very same moment: the id breaks the tie
    page = audit_search_page({})
    seen = [e.id for e in page.entries]
    while page.older is not None:
        page = audit_search_page({}, before=page.older)
        seen += [e.id for e in page.entries]
    assert seen == sorted(ids, reverse=True)


def test_the_count_stops_at_its_limit_and_says_more(db, monkeypatch) -> None:
    monkeypatch.setattr(selectors, "AUDIT_COUNT_LIMIT", 5)
    _entries(7)
    page = audit_search_page({})
    assert page.count == 5 and page.more and page.count_label == "> 5"
    exact = audit_search_page({"action": "test.1"})
    assert exact.count == 2 and not exact.more


def test_user_search_is_case_insensitive_as_before(db, coordinator) -> None:
    audit_log(actor=coordinator, action="case.view")
    audit_log(actor=None, action="case.view", actor_name="someone-else")
    for spelling in (coordinator.username.upper(), f" {coordinator.username} "):
        found = audit_entries_matching({"user": spelling})
        assert [e.actor_name for e in found] == [coordinator.username]
        assert list(found) == list(
            AuditEntry.objects.filter(actor_name__iexact=spelling.strip()).order_by("-id")
        )


def test_the_page_links_older_and_newer_keep_the_filters(client, admin_user_role, monkeypatch):
    monkeypatch.setattr(selectors, "AUDIT_PAGE_SIZE", 3)
    _entries(8)
    log_in(client, admin_user_role)
    first = client.get(reverse("audit_search"), {"action": "test."})
    page = first.context["page"]
    assert page.older is not None and page.newer is None
    assert f"action=test.&amp;before={page.older}".encode() in first.content
    second = client.get(reverse("audit_search"), {"action": "test.", "before": page.older})
    assert second.status_code == 200
    second_page = second.context["page"]
    assert second_page.newer == second_page.entries[0].id
    assert second_page.entries[0].id < page.entries[-1].id
    assert b"after=" in second.content
    # the search itself is logged with its filters only, not the paging
    logged = AuditEntry.objects.filter(action="audit.search").latest("id")
    assert logged.detail == {"action": "test."}
    # a malformed cursor is ignored (the newest page), never an error
    for cursor in ("x1", "²", "9" * 30, "-5"):
        assert client.get(reverse("audit_search"), {"before": cursor}).status_code == 200
        assert client.get(reverse("audit_search"), {"after": cursor}).status_code == 200


def test_unfiltered_first_page_says_how_many(client, admin_user_role) -> None:
    _entries(2)
    log_in(client, admin_user_role)
    response = client.get(reverse("audit_search"))
    assert response.status_code == 200
    # two entries, plus the login's own entries: a small log is counted exactly
    page = response.context["page"]
    assert not page.more and page.count == AuditEntry.objects.count() - 1
