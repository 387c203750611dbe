"""cases/selectors.py: who sees which case, search through blind indexes, list and dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import Http404
from django.utils import timezone

from cases.models import Case, State
from cases.selectors import (
    case_dashboard,
    case_get_for_user,
    case_transitions_for,
    cases_filtered,
    cases_matching_identity,
    cases_possible_siblings,
    cases_search,
    cases_visible_to,
    teams_visible_to,
)
from cases.services import case_share
from coordination.models import OfficeSettings
from tests.factories import CaseFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.usefixtures("english")
TODAY = timezone.localdate


def ago(days: int) -> dt.date:
    return TODAY() - dt.timedelta(days=days)


# --- visibility ---------------------------------------------------------------------------------


def test_a_coordinator_sees_the_team_and_shared_cases_only(
    coordinator, colleague, other_coordinator, district
):
    own = CaseFactory(coordinator=colleague, district=district)
    foreign = CaseFactory(coordinator=other_coordinator, district=district)
    shared = CaseFactory(coordinator=other_coordinator, district=district)
    case_share(case=shared, by=other_coordinator, with_user=coordinator)
    assert set(cases_visible_to(coordinator)) == {own, shared}
    assert foreign not in cases_visible_to(coordinator)


def test_the_team_filter_lists_the_own_team_and_the_teams_of_shared_cases_only(
    coordinator, other_coordinator, district, django_assert_num_queries
):
    TeamFactory()  # a team with nothing shared: never listed
    CaseFactory(coordinator=other_coordinator, district=district)  # not shared
    assert list(teams_visible_to(coordinator)) == [coordinator.team]
    shared = CaseFactory(coordinator=other_coordinator, district=district)
    case_share(case=shared, by=other_coordinator, with_user=coordinator)
    with django_assert_num_queries(2):  # the shared ids, then the teams
        teams = list(teams_visible_to(coordinator))
    assert sorted(t.pk for t in teams) == sorted([coordinator.team_id, other_coordinator.team_id])


@pytest.mark.parametrize("role", ["institution_staff", "management", "administrator"])
def test_other_roles_see_no_case(coordinator, district, role) -> None:
    CaseFactory(coordinator=coordinator, district=district)
    user = UserFactory(role=role, team=coordinator.team, is_superuser=role == "administrator")
    assert not cases_visible_to(user).exists()


def test_a_case_one_may_not_see_is_a_404(coordinator, other_coordinator, district) -> None:
    case = CaseFactory(coordinator=coordinator, district=district)
    assert case_get_for_user(user=coordinator, pk=case.pk) == case
    for pk in (case.pk, "abc", 999999):
        with pytest.raises(Http404):
            case_get_for_user(user=other_coordinator if pk == case.pk else coordinator, pk=pk)


def test_transitions_offered_depend_on_state_and_user(coordinator, other_coordinator, district):
    case = CaseFactory(coordinator=coordinator, district=district, clarification=True)
    names = [name for name, _label in case_transitions_for(user=coordinator, case=case)]
    assert names == ["mark_ready", "hold", "close"]
    assert case_transitions_for(user=other_coordinator, case=case) == []


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def amina(coordinator, district):
    return CaseFactory(
        coordinator=coordinator,
        district=district,
        given_name="Amina",
        family_name="Haddad",
        birth_date=dt.date(2017, 3, 14),
    )


def found(user, query: str) -> list:
    return [hit.case for hit in cases_search(user=user, query=query).hits]


@pytest.mark.parametrize(
    "query",
    [
        "Amina Haddad",
        "  amina   HADDAD ",
        "Haddad",
        "14.03.2017",
        "2017-03-14",
        "Amina Haddad 14.03.2017",
        "Haddad 2017-03-14",
    ],
)
def test_search_finds_by_exact_name_or_birth_date(amina, coordinator, query) -> None:
    assert found(coordinator, query) == [amina]


def test_search_finds_by_reference(amina, coordinator) -> None:
    assert found(coordinator, amina.reference.lower()) == [amina]


@pytest.mark.parametrize("query", ["Haddad 15.03.2017", "Amina 2016", "Zaid", "Ha"])
def test_search_needs_every_part_to_match(amina, coordinator, query) -> None:
    assert found(coordinator, query) == []


def test_search_never_returns_cases_of_another_team(amina, other_coordinator) -> None:
    assert found(other_coordinator, "Haddad") == []


# --- duplicates and siblings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "family"),
    [("Mohammed", "Al-Hassan"), ("Muhammad", "Al Hasan"), ("Mohamad", "Alhassan")],
)
def test_duplicates_are_found_across_spellings_and_teams(
    other_coordinator, district, given, family
) -> None:
    existing = CaseFactory(
        coordinator=other_coordinator,
        district=district,
        given_name="Mohammed",
        family_name="Al-Hassan",
        birth_date=dt.date(2014, 2, 8),
    )
    found = cases_matching_identity(
        given_name=given, family_name=family, birth_date=dt.date(2014, 2, 8)
    )
    assert list(found) == [existing]


def test_another_birth_date_is_not_a_duplicate(amina) -> None:
    assert not cases_matching_identity(
        given_name="Amina", family_name="Haddad", birth_date=dt.date(2017, 3, 15)
    ).exists()


def test_possible_siblings_sound_alike_and_are_open(coordinator, district) -> None:
    brother = CaseFactory(coordinator=coordinator, district=district, family_name="Müller")
    CaseFactory(coordinator=coordinator, district=district, family_name="Mueller", closed=True)
    CaseFactory(coordinator=coordinator, district=district, family_name="Kovalenko")
    assert list(cases_possible_siblings(family_name="Muller")) == [brother]


# --- list filters and dashboard ---------------------------------------------------------------


@pytest.fixture
def spread(coordinator, colleague, district):
    """Cases of different ages, states and waiting times."""
    return {
        "new": CaseFactory(
            coordinator=coordinator,
            district=district,
            arrival_city=ago(5),
            birth_date=dt.date(TODAY().year - 4, 1, 1),
            target_type="kita",
            wanted_group="kita_3",
            measles_proof=True,
        ),
        "target": CaseFactory(
            coordinator=coordinator, district=district, arrival_city=ago(50), ready=True
        ),
        "limit": CaseFactory(
            coordinator=colleague, district=district, arrival_city=ago(120), clarification=True
        ),
        "closed": CaseFactory(
            coordinator=coordinator, district=district, arrival_city=ago(200), closed=True
        ),
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"waiting": "over_target"}, {"target", "limit"}),
        ({"waiting": "over_limit"}, {"limit"}),
        ({"waiting": "under_target"}, {"new"}),
        ({"state": State.READY}, {"target"}),
        ({"target": "kita"}, {"new"}),
        ({"age": "3-5"}, {"new"}),
        ({"mine": True}, {"new", "target", "closed"}),
        ({"state": State.CLOSED}, {"closed"}),
        ({"scope": "open"}, {"new", "target", "limit"}),
    ],
)
def test_list_filters(spread, coordinator, filters, expected) -> None:
    names = {v.pk: k for k, v in spread.items()}
    assert {names[c.pk] for c in cases_filtered(user=coordinator, filters=filters)} == expected


def test_stuck_filter_uses_the_time_in_the_state(spread, coordinator) -> None:
    Case.objects.filter(pk=spread["target"].pk).update(
        state_changed_at=timezone.now() - dt.timedelta(days=30)
    )
    found = cases_filtered(user=coordinator, filters={"waiting": "stuck"})
    assert list(found) == [spread["target"]]


def test_sorting_by_waiting_time_puts_the_longest_first(spread, coordinator) -> None:
    found = list(cases_filtered(user=coordinator, filters={"sort": "waiting"}))
    assert found[0] == spread["closed"] and found[-1] == spread["new"]


def test_dashboard_counts_flags_and_lists(spread, coordinator) -> None:
    office = OfficeSettings.current()
    office.stuck_target_days = 10
    office.save()
    Case.objects.filter(pk=spread["limit"].pk).update(
        state_changed_at=timezone.now() - dt.timedelta(days=30)
    )
    data = case_dashboard(user=coordinator)
    by_state = {row["state"]: (row["mine"], row["total"]) for row in data["states"]}
    assert by_state["intake"] == (1, 1)
    assert by_state["clarification"] == (0, 1)  # the colleague's
    assert by_state["placed"] == (0, 0)
    assert data["totals"]["total"] == 4
    assert (data["totals"]["over_target"], data["totals"]["over_limit"]) == (2, 1)
    assert data["totals"]["stuck"] == 1
    assert [c.pk for c in data["longest"]] == [
        spread["limit"].pk,
        spread["target"].pk,
        spread["new"].pk,
    ]
    assert [c.pk for c in data["stuck"]] == [spread["limit"].pk]


def test_groups_of_a_target_type_keep_the_order_of_group_in_every_process() -> None:
    import subprocess
    import sys

    from cases.models import Group, TargetType, groups_for_target

    assert groups_for_target(TargetType.KITA) == [Group.KITA_U3, Group.KITA_3]
    assert groups_for_target(TargetType.VOCATIONAL) == [Group.BVJ, Group.VOCATIONAL]
    # A set's order changes with the hash seed, so tables would reorder between processes.
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings');"
        "django.setup(); from cases.models import groups_for_target as g;"
        "print(g('kita'), g('vocational'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }  # fmt: skip
    assert len(outputs) == 1
