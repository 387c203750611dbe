"""Case list and dashboard: filters, paging, constant queries, only names decrypted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from coordination.models import AuditEntry
from tests.factories import CaseFactory


def make_cases(coordinator, district, count: int, **data) -> list[Case]:
    return [
        CaseFactory(
            coordinator=coordinator,
            district=district,
            given_name=f"Kind{i}",
            arrival_city=timezone.localdate() - dt.timedelta(days=10 + i),
            **data,
        )
        for i in range(count)
    ]


def test_the_list_shows_the_cases_and_logs_one_view_entry(coord_client, coordinator, district):
    cases = make_cases(coordinator, district, 3)
    html = coord_client.get(reverse("cases:list")).content.decode()
    for case in cases:
        assert case.reference in html and case.given_name in html
    entry = AuditEntry.objects.get(action="case.view")
    assert entry.detail == {"view": "list", "references": sorted(c.reference for c in cases)}
    assert entry.fields == ["family_name", "given_name"]


def test_the_list_decrypts_only_the_names(coord_client, coordinator, district, decrypted):
    make_cases(coordinator, district, 3, notes="geheim", health_notes="Asthma")
    decrypted.clear()
    coord_client.get(reverse("cases:list"))
    assert set(decrypted) == {"cases.case.given_name", "cases.case.family_name"}
    assert len(decrypted) == 6


def test_the_dashboard_decrypts_only_the_names(coord_client, coordinator, district, decrypted):
    make_cases(coordinator, district, 3, notes="geheim")
    decrypted.clear()
    coord_client.get(reverse("cases:dashboard"))
    assert set(decrypted) <= {"cases.case.given_name", "cases.case.family_name"}


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["cases:list", "cases:dashboard"])
def test_the_number_of_queries_does_not_grow_with_the_cases(
    coord_client, coordinator, colleague, district, url
):
    url = reverse(url) + ("?sort=newest&waiting=under_target" if url == "cases:list" else "")
    make_cases(coordinator, district, 2)
    coord_client.get(url)  # warm-up: the office settings row and the session are created once
    few = queries_for(coord_client, url)
    make_cases(colleague, district, 60)  # more than a page
    assert queries_for(coord_client, url) == few


def test_list_queries_have_an_upper_bound(
    coord_client, coordinator, district, django_assert_max_num_queries
) -> None:
    make_cases(coordinator, district, 55)
    url = reverse("cases:list") + "?state=intake&age=6-9"
    coord_client.get(url)  # warm-up: the office settings row and the session are created once
    # session, user, roles, shared case ids, count, page, audit entry (+ lock on
    # PostgreSQL), the filter
    # choices, the session save: independent of the number of cases.
    with django_assert_max_num_queries(19):
        coord_client.get(url)
    # The dashboard adds its work queue (issue 17): the shared ids, one query per kind of
    # item (waiting and stuck, follow-ups, duplicates, referrals ended, answers and
    # enrolments), the seen marks and the names shown: still independent of the cases.
    with django_assert_max_num_queries(27):
        coord_client.get(reverse("cases:dashboard"))


def test_paging_by_fifty(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 55)
    first = coord_client.get(reverse("cases:list")).context["page"]
    assert (len(first.object_list), first.paginator.num_pages) == (50, 2)
    second = coord_client.get(reverse("cases:list") + "?page=2").context["page"]
    assert len(second.object_list) == 5
    # The page links keep the filters.
    filtered = coord_client.get(reverse("cases:list"), {"sort": "newest"}).content.decode()
    assert "sort=newest&amp;page=2" in filtered
    assert coord_client.get(reverse("cases:list") + "?page=abc").status_code == 200


def search(client, query: str, **filters):
    """Post the list's search form and follow its redirect (as a browser does)."""
    response = client.post(reverse("cases:list"), {"q": query, **filters})
    assert response.status_code == 303
    assert query not in response["Location"]
    return client.get(response["Location"])


def test_search_and_filters_narrow_the_list(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 3)
    wanted = CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Olena",
        family_name="Kovalenko",
        birth_date=dt.date(2016, 5, 12),
    )
    page = search(coord_client, "Kovalenko 12.05.2016").context["page"]
    assert [hit.case for hit in page.object_list] == [wanted]
    page = search(coord_client, wanted.reference).context["page"]
    assert [hit.case for hit in page.object_list] == [wanted]
    assert search(coord_client, "Kovalenko", state="closed").context["page"].paginator.count == 0


def test_search_rows_say_why_they_matched(coord_client, coordinator, district) -> None:
    CaseFactory(coordinator=coordinator, district=district, given_name="Olena",
                family_name="Kovalenko")  # fmt: skip
    html = search(coord_client, "Kowalenko").content.decode()
    assert "Found by" in html and "Family name spelled differently" in html


def test_a_search_term_in_the_address_is_not_searched(coord_client, coordinator, district):
    CaseFactory(coordinator=coordinator, district=district, family_name="Kovalenko")
    response = coord_client.get(reverse("cases:list") + "?q=Kovalenko")
    assert not response.context["searching"]
    assert "Please enter your search again" in response.content.decode()
    assert 'value="Kovalenko"' not in response.content.decode()


def test_search_paging_carries_a_token_not_the_term(coord_client, coordinator, district):
    for i in range(55):
        CaseFactory(coordinator=coordinator, district=district, given_name=f"Kind{i}",
                    family_name="Haddad")  # fmt: skip
    first = search(coord_client, "Haddad")
    assert first.context["page"].paginator.count == 55
    html = first.content.decode()
    assert "page=2" in html and "Haddad" not in first.request["QUERY_STRING"]
    link = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "Haddad" not in link
    second = coord_client.get(reverse("cases:list") + link.replace("&amp;", "&"))
    assert len(second.context["page"].object_list) == 5


def test_an_unknown_or_expired_search_token_shows_the_list(coord_client, coordinator, district):
    make_cases(coordinator, district, 2)
    response = coord_client.get(reverse("cases:list") + "?s=unknown")
    assert response.status_code == 200 and response.context["expired"]
    assert response.context["page"].paginator.count == 2


def test_the_search_term_is_kept_encrypted_in_the_session(coord_client, coordinator, district):
    from django.contrib.sessions.models import Session

    search(coord_client, "Kovalenko")
    for session in Session.objects.all():
        assert "Kovalenko" not in session.session_data
        assert "Kovalenko" not in str(session.get_decoded())


def test_nothing_found_explains_where_it_searched(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 3)
    html = search(coord_client, "Zzyzx").content.decode()
    assert "No cases found. The search looked at 3 cases you may see" in html
    assert "at least 3 letters" in html


def test_the_search_is_audited_without_the_term(coord_client, coordinator, district) -> None:
    wanted = CaseFactory(coordinator=coordinator, district=district, family_name="Kovalenko")
    search(coord_client, "Kowalenko")
    entry = AuditEntry.objects.get(action="case.view", detail__view="search")
    assert entry.detail == {"view": "search", "references": [wanted.reference]}
    assert "owalenko" not in str(AuditEntry.objects.values_list())


def test_the_list_shows_open_cases_by_default(coord_client, coordinator, district) -> None:
    open_case = CaseFactory(coordinator=coordinator, district=district)
    placed = CaseFactory(coordinator=coordinator, district=district)
    Case.objects.filter(pk=placed.pk).update(state="placed")
    closed = CaseFactory(coordinator=coordinator, district=district, closed=True)
    response = coord_client.get(reverse("cases:list"))
    assert list(response.context["page"].object_list) == [open_case]
    html = response.content.decode()
    assert 'aria-current="page">Open cases' in html
    assert "placed and closed ones are left out" in html
    everything = coord_client.get(reverse("cases:list") + "?scope=all")
    assert set(everything.context["page"].object_list) == {open_case, placed, closed}
    assert 'aria-current="page">All cases' in everything.content.decode()
    # A search looks at every state: a placed child must be found, not registered again.
    assert search(coord_client, placed.reference).context["page"].paginator.count == 1


def test_references_do_not_wrap(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 1)
    assert (
        'class="kern-table__cell app-nowrap"'
        in coord_client.get(reverse("cases:list")).content.decode()
    )


def test_invalid_filters_are_reported_and_ignored(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 2)
    response = coord_client.get(reverse("cases:list") + "?state=bogus&district=abc&age=99")
    assert response.status_code == 200
    assert {"state", "district", "age"} <= set(response.context["form"].errors)
    assert response.context["page"].paginator.count == 2


def test_the_dashboard_shows_counts_and_flags(coord_client, coordinator, district) -> None:
    make_cases(coordinator, district, 1)
    CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Lang",
        arrival_city=timezone.localdate() - dt.timedelta(days=120),
    )
    response = coord_client.get(reverse("cases:dashboard"))
    html = response.content.decode()
    assert response.context["totals"]["over_limit"] == 1
    assert "over the legal limit" in html  # a text badge, not colour alone
    assert html.index("Lang") < html.index("Kind0")  # longest waiting first


def test_the_filters_offer_only_districts_and_teams_with_visible_cases(
    coord_client, coordinator, other_coordinator, district
) -> None:
    """In a state-wide installation the choice lists stay short: a district (or team) where
    the coordinator has no case would only filter the list down to nothing."""
    from coordination.models import District

    elsewhere = District.objects.create(name="Anderswo")
    empty = District.objects.create(name="Ohne Fälle")
    make_cases(coordinator, district, 1)
    make_cases(other_coordinator, elsewhere, 1)
    form = coord_client.get(reverse("cases:list")).context["form"]
    assert list(form.fields["district"].queryset) == [district]
    assert list(form.fields["team"].queryset) == [coordinator.team]
    assert empty not in form.fields["district"].queryset
    # Choosing a district outside the list is reported, not a 500.
    response = coord_client.get(reverse("cases:list"), {"district": elsewhere.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["district"]
    # A case shared with the coordinator brings its district (and team) along.
    from cases.services import case_share

    shared = Case.objects.get(district=elsewhere)
    case_share(case=shared, by=other_coordinator, with_user=coordinator)
    form = coord_client.get(reverse("cases:list")).context["form"]
    assert list(form.fields["district"].queryset) == [elsewhere, district]
    assert set(form.fields["team"].queryset) == {coordinator.team, other_coordinator.team}
