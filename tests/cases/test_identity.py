"""cases/identity.py: folding, keys and match kinds; the labelled set's figures; the intake
warning with its kind and the cross-team rule; the duplicate report; merging; the backfill."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.urls import reverse

from benchmarks.identity import (
    benchmark_people,
    demo_people,
    evaluate_labelled,
    flagged_pairs,
    format_report,
)
from cases.identity import (
    IDENTITY_VERSION,
    MatchKind,
    family_skeleton,
    is_placeholder,
    match_would_flag,
    normalise,
    phonetic,
    skeleton,
    swapped,
)
from cases.models import Case, CaseEvent, CloseReason, Guardian, State
from cases.selectors import case_duplicate_pairs, cases_matching_identity
from cases.services import case_merge
from coordination.exceptions import DomainError, NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory, ReferralFactory, UserFactory
from tests.second_factor import log_in

BIRTH = dt.date(2016, 3, 14)
pytestmark = pytest.mark.usefixtures("english")

# --- normalisation and the Kölner key (moved here from coordination/crypto.py) ------------


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("Müller", "mueller"),
        ("MUELLER", "mueller"),
        ("  Müller-Lüdenscheidt ", "mueller luedenscheidt"),
        ("Straße", "strasse"),
        ("Şahin", "sahin"),
        ("Yılmaz", "yilmaz"),  # noqa: RUF001 - the Turkish dotless i on purpose
        ("Олександр", "oleksandr"),
        ("\uff28\uff21\uff24\uff24\uff21\uff24", "haddad"),  # full-width letters (NFKC)
        ("Ionuț", "ionut"),
    ],
)
def test_normalise_folds_case_accents_and_scripts(variant: str, canonical: str) -> None:
    assert normalise(variant) == canonical


def test_arabic_script_is_transliterated_not_dropped() -> None:
    assert normalise("محمد") != ""


def test_the_koelner_key_still_joins_particles() -> None:
    assert len({phonetic(n) for n in ("Al-Hassan", "Al Hasan", "Alhassan")}) == 1
    assert phonetic("Haddad") != phonetic("Kovalenko")
    assert phonetic("") == ""


# --- one unit test per variant kind ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "group"),
    [
        (
            "cyrillic ICAO / Duden: sh/sch, ch/tsch, v/w",
            ("Shevchenko", "Schewtschenko", "Шевченко"),
        ),
        ("cyrillic ch/tsch", ("Kovalchuk", "Kowaltschuk")),
        ("cyrillic shch/schtsch", ("Shcherbak", "Schtscherbak")),
        ("cyrillic zh/sch", ("Zhuravel", "Schurawel")),
        ("cyrillic kh/ch", ("Kharchenko", "Chartschenko")),
        ("cyrillic ts/z", ("Kravets", "Krawez")),
        ("cyrillic y/j, ia/ja", ("Yaroslav", "Jaroslaw", "Iaroslav")),
        ("cyrillic iu/yu/ju", ("Iurii", "Yurii", "Jurij")),
        ("cyrillic zgh", ("Zghurskyi", "Zhurskyi", "Shurskyj")),
        ("arabic", ("Mohammed", "Muhammad", "Mohamad", "Mohammad")),
        ("arabic", ("Hussein", "Husain", "Hussain")),
        ("arabic", ("Aisha", "Aischa", "Ayesha")),
        ("arabic compound", ("Abdulrahman", "Abdul Rahman", "Abd al-Rahman", "Abderrahmane")),
        ("dari/farsi", ("Hosseini", "Husseini", "Hoseini")),
        ("pashto", ("Yousafzai", "Yusufzai", "Yousufzay")),
        ("kurdish", ("Xalid", "Khalid", "Chalid")),
        ("tigrinya", ("Gebremedhin", "Ghebremedhin", "Gebre-Medhin")),
        ("turkish diacritics", ("Şahin", "Sahin", "Schahin")),
        ("turkish diacritics", ("Öztürk", "Ozturk")),
        ("romanian diacritics", ("Ștefan", "Stefan", "Ştefan")),
        ("doubled letters", ("Hassan", "Hasan")),
        ("vowel length", ("Rasheed", "Rashid", "Noor", "Nur")[:2]),
        ("vowel length ou/u", ("Youssef", "Yusuf")),
        ("compound given names", ("Anna-Maria", "Anna Maria", "Annamaria")),
    ],
)
def test_spelling_variants_fold_to_one_skeleton(kind: str, group: tuple[str, ...]) -> None:
    assert len({skeleton(name) for name in group}) == 1, (kind, [skeleton(n) for n in group])


def test_particles_are_dropped_from_family_names() -> None:
    keys = {
        family_skeleton(n) for n in ("Al-Hassan", "Al Hasan", "Alhassan", "El-Hassan", "Hassan")
    }
    assert len(keys) == 1
    assert family_skeleton("Alina") != family_skeleton("Ina")  # al + vowel is no article


def test_different_names_keep_different_skeletons() -> None:
    assert skeleton("Mohammed") != skeleton("Muhannad")
    assert skeleton("Omar") != skeleton("Mar")
    assert family_skeleton("Kovalenko") != family_skeleton("Kovalchuk")


def test_placeholder_and_swapped_dates() -> None:
    assert is_placeholder(dt.date(2015, 1, 1)) and not is_placeholder(dt.date(2015, 1, 2))
    assert swapped(dt.date(2015, 3, 4)) == dt.date(2015, 4, 3)
    assert swapped(dt.date(2015, 3, 14)) is None  # no 14th month
    assert swapped(dt.date(2015, 5, 5)) is None  # the same date


@pytest.mark.parametrize(
    ("typed", "stored", "kind"),
    [
        (("Amina", "Haddad", BIRTH), ("amina", "HADDAD", BIRTH), MatchKind.EXACT),
        (("Taras", "Shevchenko", BIRTH), ("Taras", "Schewtschenko", BIRTH), MatchKind.SPELLING),
        (("Haddad", "Amina", BIRTH), ("Amina", "Haddad", BIRTH), MatchKind.NAMES_SWAPPED),
        (
            ("Amina", "Haddad", dt.date(2016, 3, 4)),
            ("Amina", "Haddad", dt.date(2016, 4, 3)),
            MatchKind.DATE_SWAPPED,
        ),
        (("Farid", "Ahmadi", dt.date(2016, 1, 1)), ("Farid", "Ahmadi", BIRTH), MatchKind.YEAR_ONLY),
        (("Farid", "Ahmadi", BIRTH), ("Farid", "Ahmadi", dt.date(2016, 1, 1)), MatchKind.YEAR_ONLY),
        (
            ("Farid", "Ahmadi", dt.date(2016, 1, 1)),
            ("Farid", "Ahmadi", dt.date(2016, 1, 1)),
            MatchKind.YEAR_ONLY,
        ),
    ],
)
def test_the_match_kind_says_which_key_matched(typed, stored, kind) -> None:
    assert match_would_flag(typed, stored) == kind


def test_a_real_date_in_another_year_or_month_is_no_match() -> None:
    assert (
        match_would_flag(("Farid", "Ahmadi", BIRTH), ("Farid", "Ahmadi", dt.date(2017, 1, 1)))
        is None
    )
    assert (
        match_would_flag(("Farid", "Ahmadi", BIRTH), ("Farid", "Ahmadi", dt.date(2016, 3, 15)))
        is None
    )


# --- the figures: labelled set and random pairs ----------------------------------------------


def test_recall_on_the_labelled_set_is_at_least_097() -> None:
    result = evaluate_labelled()
    print(format_report({
        "pairs": result.pairs, "same": result.same, "recall": result.recall,
        "precision": result.precision, "different": result.different,
        "flagged_different": result.flagged_different, "by_kind": result.by_kind,
        "misses": result.misses, "false_hits": result.false_hits,
    }))  # fmt: skip
    assert result.pairs >= 300
    assert result.recall >= 0.97, result.misses
    assert result.precision >= 0.95, result.false_hits
    # Every kind of variant is in the set and found at least mostly.
    for kind, (hit, total) in result.by_kind.items():
        if not kind.startswith("different"):
            assert hit / total >= 0.8, (kind, hit, total)


@pytest.mark.parametrize("placeholders", [0.0, 0.1, 1.0])
def test_random_different_children_are_flagged_less_than_once_in_1000_pairs(placeholders) -> None:
    flagged, total, kinds = flagged_pairs(benchmark_people(3000, placeholders=placeholders))
    print(f"placeholders {placeholders:.0%}: {flagged} of {total} pairs flagged {dict(kinds)}")
    assert flagged / total <= 1 / 1000


def test_the_demo_children_are_not_flagged_as_each_others_duplicates() -> None:
    flagged, total, _kinds = flagged_pairs(demo_people())
    assert flagged / total <= 1 / 1000


# --- the database: keys, selector, intake, report, merge, backfill ---------------------------


@pytest.fixture
def taras(coordinator, district):
    return CaseFactory(
        coordinator=coordinator, district=district, given_name="Taras",
        family_name="Shevchenko", birth_date=dt.date(2015, 3, 4),
    )  # fmt: skip


def test_new_cases_get_every_key_at_the_current_version(taras) -> None:
    assert taras.identity_version == IDENTITY_VERSION
    assert taras.bidx_id_ordered and taras.bidx_id_sorted and taras.bidx_id_swapped
    assert taras.bidx_id_year and taras.bidx_id_vague is None
    assert "shevchenko" not in taras.bidx_id_ordered


@pytest.mark.parametrize(
    ("given", "family", "birth", "kind"),
    [
        ("Taras", "Shevchenko", dt.date(2015, 3, 4), MatchKind.EXACT),
        ("Taras", "Schewtschenko", dt.date(2015, 3, 4), MatchKind.SPELLING),
        ("Schewtschenko", "Taras", dt.date(2015, 3, 4), MatchKind.NAMES_SWAPPED),
        ("Taras", "Schewtschenko", dt.date(2015, 4, 3), MatchKind.DATE_SWAPPED),
        ("Taras", "Shevchenko", dt.date(2015, 1, 1), MatchKind.YEAR_ONLY),
    ],
)
def test_cases_matching_identity_names_the_kind(taras, given, family, birth, kind) -> None:
    found = list(cases_matching_identity(given_name=given, family_name=family, birth_date=birth))
    assert [(c.pk, c.match_kind) for c in found] == [(taras.pk, kind.value)]


def test_the_intake_warning_shows_the_kind_and_a_weak_hint(coord_client, taras) -> None:
    from tests.cases.test_views_intake import URL, form

    response = coord_client.post(
        URL, form(given_name="Taras", family_name="Schewtschenko", birth_date="2015-04-03")
    )
    html = response.content.decode()
    assert taras.reference in html
    assert str(MatchKind.DATE_SWAPPED.label) in html
    assert "weaker hint" in html  # the whole warning says it is a weaker one
    assert Case.objects.count() == 1


def test_the_cross_team_warning_names_the_team_and_the_kind_only(
    coord_client, other_coordinator, district
) -> None:
    from tests.cases.test_views_intake import URL, form

    foreign = CaseFactory(
        coordinator=other_coordinator, district=district, given_name="Taras",
        family_name="Shevchenko", birth_date=dt.date(2015, 3, 4),
    )  # fmt: skip
    response = coord_client.post(
        URL, form(given_name="Taras", family_name="Schewtschenko", birth_date="2015-03-04")
    )
    html = response.content.decode()
    assert other_coordinator.team.name in html and str(MatchKind.SPELLING.label) in html
    assert foreign.reference not in html
    assert reverse("cases:detail", args=[foreign.pk]) not in html
    assert not AuditEntry.objects.filter(detail__references=[foreign.reference]).exists()


def test_the_duplicate_report_lists_pairs_across_teams(
    client, admin_user_role, taras, other_coordinator, district
) -> None:
    twin = CaseFactory(
        coordinator=other_coordinator, district=district, given_name="Shevchenko",
        family_name="Taras", birth_date=dt.date(2015, 3, 4),
    )  # fmt: skip
    other = CaseFactory(coordinator=other_coordinator, district=district)  # no match
    pairs, total = case_duplicate_pairs()
    assert total == 1
    assert {pairs[0]["first"].pk, pairs[0]["second"].pk} == {taras.pk, twin.pk}
    assert pairs[0]["kind"] == MatchKind.NAMES_SWAPPED and not pairs[0]["same_team"]
    log_in(client, admin_user_role)
    html = client.get(reverse("cases:duplicates")).content.decode()
    assert taras.reference in html and twin.reference in html and other.reference not in html
    assert "Taras" not in html  # references and teams only


def test_the_duplicate_report_finds_swapped_and_placeholder_dates(
    coordinator, district, taras
) -> None:
    swap = CaseFactory(coordinator=coordinator, district=district, given_name="Taras",
                       family_name="Shevchenko", birth_date=dt.date(2015, 4, 3))  # fmt: skip
    vague = CaseFactory(coordinator=coordinator, district=district, given_name="Taras",
                        family_name="Schewtschenko", birth_date=dt.date(2015, 1, 1))  # fmt: skip
    pairs, _total = case_duplicate_pairs()
    kinds = {frozenset((p["first"].pk, p["second"].pk)): p["kind"] for p in pairs}
    assert kinds[frozenset((taras.pk, swap.pk))] == MatchKind.DATE_SWAPPED
    assert kinds[frozenset((taras.pk, vague.pk))] == MatchKind.YEAR_ONLY
    assert kinds[frozenset((swap.pk, vague.pk))] == MatchKind.YEAR_ONLY


def test_merge_moves_history_contacts_and_referrals_and_closes_the_duplicate(
    coordinator, district, institution, taras
) -> None:
    duplicate = CaseFactory(coordinator=coordinator, district=district, given_name="Taras",
                            family_name="Schewtschenko", birth_date=dt.date(2015, 3, 4),
                            ready=True)  # fmt: skip
    Guardian.objects.create(family=duplicate.family, relation="mother", name="Halyna")
    staff = UserFactory(role="institution_staff", institutions=[institution])
    referral = ReferralFactory(coordinator=coordinator, institution=institution, staff=staff,
                               case=duplicate, declined=True)  # fmt: skip
    events_before = set(duplicate.events.values_list("pk", flat=True))
    moved = case_merge(survivor=taras, duplicate=duplicate, by=coordinator)
    duplicate.refresh_from_db()
    referral.refresh_from_db()
    assert duplicate.state == State.CLOSED and duplicate.close_reason == CloseReason.DUPLICATE
    assert referral.case_id == taras.pk
    assert events_before <= set(taras.events.values_list("pk", flat=True))
    assert duplicate.family_id == taras.family_id
    assert "Halyna" in [g.name for g in Guardian.objects.filter(family=taras.family)]
    assert moved["referrals.referral"] == 1
    assert taras.events.filter(kind=CaseEvent.Kind.MERGED).exists()
    assert duplicate.events.filter(reason=CloseReason.DUPLICATE).exists()
    assert AuditEntry.objects.filter(action="case.merge").count() == 2
    # The report no longer lists a pair with a case closed as duplicate.
    assert case_duplicate_pairs()[1] == 0


def test_an_open_referral_blocks_the_merge(coordinator, district, institution, taras) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    with pytest.raises(DomainError, match="open referral"):
        case_merge(survivor=taras, duplicate=referral.case, by=coordinator)
    referral.case.refresh_from_db()
    assert referral.case.state == State.REFERRED


def test_only_a_coordinator_of_the_owning_team_merges(
    coordinator, other_coordinator, district, taras
) -> None:
    foreign = CaseFactory(coordinator=other_coordinator, district=district)
    with pytest.raises(NotAllowed):
        case_merge(survivor=taras, duplicate=foreign, by=coordinator)
    mine = CaseFactory(coordinator=coordinator, district=district)
    with pytest.raises(NotAllowed):
        case_merge(survivor=taras, duplicate=mine, by=other_coordinator)
    with pytest.raises(DomainError):
        case_merge(survivor=taras, duplicate=taras, by=coordinator)


def test_the_merge_page_asks_for_confirmation_first(coord_client, coordinator, district, taras):
    duplicate = CaseFactory(
        coordinator=coordinator, district=district, given_name="Taras",
        family_name="Schewtschenko", birth_date=dt.date(2015, 3, 4),
    )  # fmt: skip
    url = reverse("cases:merge", args=[taras.pk])
    page = coord_client.get(url).content.decode()
    assert duplicate.reference in page  # suggested as a likely duplicate
    response = coord_client.post(url, {"duplicate": duplicate.reference.lower()})
    assert response.status_code == 200 and "Confirm the merge" in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.state != State.CLOSED
    response = coord_client.post(url, {"duplicate": duplicate.reference, "confirm": "on"})
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.close_reason == CloseReason.DUPLICATE


def test_the_merge_page_refuses_an_unknown_reference(coord_client, other_coordinator, taras):
    foreign = CaseFactory(coordinator=other_coordinator)
    url = reverse("cases:merge", args=[taras.pk])
    for value in (foreign.reference, "NZ-1999-00001", taras.reference, "x" * 40, "\x00"):
        response = coord_client.post(url, {"duplicate": value, "confirm": "on"})
        assert response.status_code == 200
        assert "duplicate" in response.context["form"].errors
    foreign.refresh_from_db()
    assert foreign.state != State.CLOSED


def test_refresh_identity_keys_backfills_old_rows_in_batches(coordinator, district) -> None:
    cases = [CaseFactory(coordinator=coordinator, district=district) for _ in range(5)]
    expected = {c.pk: c.bidx_id_sorted for c in cases}
    Case.objects.update(identity_version=0, bidx_id_sorted=None, bidx_id_year=None)
    with pytest.raises(SystemExit):
        call_command("refresh_identity_keys", "--check")
    call_command("refresh_identity_keys", "--batch-size", "2")
    call_command("refresh_identity_keys", "--check")  # nothing left: no SystemExit
    for case in Case.objects.all():
        assert case.identity_version == IDENTITY_VERSION
        assert case.bidx_id_sorted == expected[case.pk] and case.bidx_id_year
