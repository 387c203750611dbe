"""The case list search (issue 17.1): finds the child under another spelling, a part of the
name, names swapped, a birth date or year, a reference with or without prefix; ranks and
explains; never looks beyond the cases the user may see; stores nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from cases.search import Level, NameRanker, parse_query, recall_search, remember_search
from cases.selectors import cases_search
from tests.factories import CaseFactory


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def people(coordinator, district):
    def case(given: str, family: str, birth: dt.date = dt.date(2016, 5, 12)):
        return CaseFactory(coordinator=coordinator, district=district, given_name=given,
                           family_name=family, birth_date=birth)  # fmt: skip

    return {
        "olena": case("Olena", "Kovalenko"),
        "youssef": case("Youssef", "Darwish"),
        "yusuf": case("Yusuf", "Rahimi"),
        "omar": case("Omar", "Al-Khatib"),
        "mohammed": case("Mohammed", "Al Hasan"),
        "amina": case("Amina", "Haddad", dt.date(2017, 3, 14)),
        "jonas": case("Jonas", "Müller"),
    }


def hits(user, query: str) -> list:
    return cases_search(user=user, query=query).hits


def found(user, query: str) -> set:
    return {hit.case for hit in hits(user, query)}


@pytest.mark.parametrize(
    ("query", "expected", "reason"),
    [
        ("Kowalenko", {"olena"}, "Family name spelled differently"),
        ("Yousef", {"youssef", "yusuf"}, "Given name spelled differently"),
        ("Alkhatib", {"omar"}, "Family name matches"),
        ("Al-Kha", {"omar"}, "Family name starts with “kha”"),
        ("Kov", {"olena"}, "Family name starts with “kov”"),
        ("Mohamed Al-Hassan", {"mohammed"}, "Given name spelled differently"),
        ("Kovalenko Olena", {"olena"}, "Given and family name swapped"),
        ("Mueller", {"jonas"}, "Family name matches"),
        ("Kovalemko", {"olena"}, "Family name differs by one letter"),
        ("14.03.2017", {"amina"}, "Birth date 14.03.2017"),
        ("2017-03-14", {"amina"}, "Birth date 14.03.2017"),
        ("2017", {"amina"}, "Birth year 2017"),
        ("Haddad 2017", {"amina"}, "Birth year 2017; Family name matches"),
    ],
)
def test_the_issues_examples_are_found_and_explained(
    people, coordinator, query, expected, reason
) -> None:
    result = hits(coordinator, query)
    assert {hit.case for hit in result} == {people[k] for k in expected}
    assert any(reason in hit.reason for hit in result), [h.reason for h in result]


@pytest.mark.parametrize("form", ["{n}", "{n:05d}", "NZ-{year}-{n:05d}", "nz-{year}-{n}"])
def test_a_reference_is_found_with_or_without_prefix_and_zeros(people, coordinator, form):
    case = people["amina"]
    _prefix, year, number = case.reference.split("-")
    query = form.format(n=int(number), year=year)
    result = hits(coordinator, query)
    assert [hit.case for hit in result] == [case]
    assert result[0].reason == "Reference"


def test_exact_comes_before_prefix_before_another_spelling_before_a_typo(
    coordinator, district
) -> None:
    def case(family: str):
        return CaseFactory(coordinator=coordinator, district=district, family_name=family)

    typo, variant, prefix, exact = case("Hadrad"), case("Hadad"), case("Haddadi"), case("Haddad")
    assert [hit.case for hit in hits(coordinator, "Haddad")] == [exact, prefix, variant, typo]


def test_other_teams_cases_never_appear(people, other_coordinator) -> None:
    for query in ("Kovalenko", "Kowalenko", "2017", "14.03.2017", people["amina"].reference):
        assert hits(other_coordinator, query) == []


def test_a_name_search_is_narrowed_by_the_other_filters(people, coordinator) -> None:
    from cases.selectors import cases_filtered

    within = cases_filtered(user=coordinator, filters={"state": "closed"})
    result = cases_search(user=coordinator, query="Kovalenko", within=within)
    assert result.hits == [] and result.searched == 0


def test_the_database_gets_no_name_only_indexed_lookups(people, coordinator) -> None:
    with CaptureQueriesContext(connection) as ctx:
        hits(coordinator, "Kowalenko")
        hits(coordinator, "14.03.2017")
    sql = " ".join(q["sql"] for q in ctx.captured_queries).lower()
    assert "kowalenko" not in sql and "kovalenko" not in sql and " like " not in sql


def test_a_name_search_decrypts_only_the_name_columns(people, coordinator, decrypted) -> None:
    decrypted.clear()
    hits(coordinator, "Kowalenko")
    assert set(decrypted) == {"cases.case.given_name", "cases.case.family_name"}


def test_results_are_capped_and_say_so(coordinator, district) -> None:
    for i in range(4):
        CaseFactory(coordinator=coordinator, district=district, given_name=f"Kind{i}")
    result = cases_search(user=coordinator, query="Haddad", limit=3)
    assert len(result.hits) == 3 and result.matched == 4 and result.truncated


@pytest.mark.parametrize(
    ("query", "words", "birth", "year", "number"),
    [
        ("45", (), None, None, 45),
        ("NZ-2026-00045", (), None, None, 45),
        ("2017", (), None, 2017, 2017),
        ("Al-Kha", ("kha",), None, None, None),
        ("Al", ("al",), None, None, None),
        ("Haddad 14.3.2017", ("haddad",), dt.date(2017, 3, 14), None, None),
        ("Haddad 2017", ("haddad",), None, 2017, None),
        ("31.02.2017", (), None, None, None),
    ],
)
def test_parse_query(query, words, birth, year, number) -> None:
    parsed = parse_query(query, today=dt.date(2026, 12, 3))
    assert (parsed.words, parsed.birth, parsed.year) == (words, birth, year)
    assert (parsed.reference.number if parsed.reference else None) == number


def test_an_impossible_date_is_reported() -> None:
    assert parse_query("31.02.2017").invalid_date


@pytest.mark.parametrize(
    ("query", "given", "family", "level"),
    [
        ("Ali", "Ali", "Rahimi", Level.EXACT),
        ("Ali", "Omar", "Al-Khatib", None),  # the article is not a name
        ("Ola", "Ali", "Nowak", None),  # one skeleton, but not alike
        ("Abdul Rahman", "Abdulrahman", "Saleh", Level.EXACT),
        ("Schewtschenko", "Taras", "Shevchenko", Level.SPELLING),
    ],
)
def test_name_ranker_levels(query, given, family, level) -> None:
    match = NameRanker(parse_query(query)).match(given, family)
    assert (match.level if match else None) == level


def test_a_remembered_search_is_encrypted_and_expires(time_machine) -> None:
    time_machine.move_to(dt.datetime(2026, 12, 3, 10, tzinfo=dt.UTC), tick=False)
    session: dict = {}
    token = remember_search(session, "Kovalenko")
    assert "Kovalenko" not in str(session)
    assert recall_search(session, token) == "Kovalenko"
    assert recall_search(session, "other") is None
    time_machine.shift(dt.timedelta(minutes=31))
    assert recall_search(session, token) is None


def test_only_a_handful_of_searches_are_kept() -> None:
    session: dict = {}
    tokens = [remember_search(session, f"Name{i}") for i in range(8)]
    assert recall_search(session, tokens[0]) is None
    assert recall_search(session, tokens[-1]) == "Name7"
