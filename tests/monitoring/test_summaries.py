"""The figures agree with cases and referrals made through the services (tests/factories.py),
small counts stay hidden on every page and filter, and no personal field is ever decrypted."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from cases.services import case_transition
from coordination import crypto
from coordination.models import OfficeSettings
from monitoring import computation, dimensions, durations, exports, pages, queries, tables
from monitoring.disclosure import SYMBOL, TOTAL
from referrals.services import (
    referral_accept,
    referral_create,
    referral_decline,
    referral_enrol,
    referral_expire,
)
from tests.factories import (
    CaseFactory,
    DistrictFactory,
    InstitutionFactory,
    PlacesFactory,
    UserFactory,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 3, 18, 10, 0, tzinfo=BERLIN)  # a Wednesday; window April 2025 - March
ALL = dimensions.FigureFilters()
NA = dimensions.NOT_APPLICABLE
NS = dimensions.NOT_SHOWN


def at(day: dt.date, hour: int = 10) -> time_machine.travel:
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour), tzinfo=BERLIN), tick=False)


def table(page: tables.FiguresPage, key: str) -> tables.Table:
    return next(t for t in page.tables if t.key == key)


def row(page: tables.FiguresPage, key: str, header: str) -> list[str]:
    found = [r for r in table(page, key).rows if r.header == header]
    assert found, f"no row {header!r} in {key}: {[r.header for r in table(page, key).rows]}"
    return [c.text for c in found[0].cells]


def figures(filters: dimensions.FigureFilters = ALL) -> tables.FiguresPage:
    with time_machine.travel(NOW, tick=False), translation.override("en"):
        return pages.figures_page(filters)


@pytest.fixture
def world(db, coordinator):  # type: ignore[no-untyped-def]
    """Two districts with a primary school and a Kita each, and their staff."""
    north, south = DistrictFactory(name="Nord"), DistrictFactory(name="Süd")
    schools = {d: InstitutionFactory(name=f"GS {d.name}", district=d) for d in (north, south)}
    kitas = {
        d: InstitutionFactory(kita=True, name=f"Kita {d.name}", district=d) for d in (north, south)
    }
    staff = UserFactory(role="institution_staff", institutions=[*schools.values(), *kitas.values()])
    for school in schools.values():
        PlacesFactory(institution=school, group="g02", free=9)
        PlacesFactory(institution=school, group="g03", free=4)
    for kita in kitas.values():
        PlacesFactory(institution=kita, group="kita_3", free=1)
    return {
        "north": north,
        "south": south,
        "schools": schools,
        "kitas": kitas,
        "staff": staff,
        "coordinator": coordinator,
    }


def ready(
    world: dict,
    district: str,
    *,
    group: str = "g02",
    target: str = "school",
    when: dt.date = dt.date(2026, 3, 2),
):  # type: ignore[no-untyped-def]
    with at(when):
        return CaseFactory(
            coordinator=world["coordinator"],
            district=world[district],
            ready=True,
            target_type=target,
            wanted_group=group,
        )


def place(world: dict, case, *, registered: dt.date, placed: dt.date) -> None:  # type: ignore[no-untyped-def]
    institution = world["schools"][case.district]
    with at(registered, 11):
        referral = referral_create(case=case, institution=institution, by=world["coordinator"])
        referral = referral_accept(referral=referral, by=world["staff"])
    with at(placed):
        referral_enrol(referral=referral, by=world["staff"], first_day=placed)


# --- capacity and demand today ---------------------------------------------------------------


def test_children_waiting_by_district_and_group_agree_with_the_cases(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        ready(world, "north", group="g02")
    for _ in range(3):
        ready(world, "south", group="g03")
    for _ in range(5):
        ready(world, "south", group="kita_3", target="kita")
    page = figures()
    assert row(page, "capacity-school", "Nord")[2:] == ["4", "0"]
    assert row(page, "capacity-school", "Süd")[2:] == ["3", "0"]
    assert row(page, "capacity-school", "Total") == ["26", "0", "7", "0"]
    assert row(page, "capacity-kita", "Süd") == ["1", "0", "5", "0"]
    assert row(page, "capacity-groups", "Grade 2")[2] == "4"
    assert row(page, "capacity-groups", "Grade 3")[2] == "3"
    assert row(page, "capacity-groups", "All target types")[2] == "12"
    assert row(page, "waiting-days", "School") == ["7", "46", "46"], "arrived 30 days before"


def test_free_places_are_institution_figures_and_shown_in_full(world) -> None:  # type: ignore[no-untyped-def]
    page = figures()
    assert row(page, "capacity-kita", "Nord")[:2] == ["1", "0"], "1 free place is not hidden"
    assert row(page, "free-places-kinds", "Süd") == ["1", "13", "0", "0", "0", "0", "0", "14"]
    north = dimensions.FigureFilters(district=world["north"].pk)
    institutions = table(figures(north), "free-places-institutions")
    assert [r.header for r in institutions.rows] == ["GS Nord", "Kita Nord"]
    assert [c.text for c in institutions.rows[1].cells][1:3] == ["1", "0"]


def test_referrals_pending_and_places_reserved_today(world) -> None:  # type: ignore[no-untyped-def]
    cases = [ready(world, "north") for _ in range(4)]
    with at(dt.date(2026, 3, 10)):
        referrals = [
            referral_create(
                case=c, institution=world["schools"][world["north"]], by=world["coordinator"]
            )
            for c in cases
        ]
        referral_accept(referral=referrals[0], by=world["staff"])
    page = figures()
    # 3 pending referrals, 1 place reserved; the 4 children are still waiting.
    assert row(page, "capacity-school", "Nord") == ["12", "1", "4", "3"]


# --- suppression on the page and after filtering ------------------------------------------------


def assert_no_lonely_hidden_cell(page: tables.FiguresPage) -> None:
    """In a table whose last row is a published total, no column has exactly one hidden
    cell above it (it would be the total minus the others)."""
    for t in page.tables:
        if not t.rows or not t.rows[-1].total:
            continue
        body = [r for r in t.rows[:-1] if not r.total]
        for i, total in enumerate(t.rows[-1].cells):
            if total.suppressed or total.value is None:
                continue
            hidden = [r.header for r in body if r.cells[i].suppressed]
            assert len(hidden) != 1, f"{t.key}, column {t.columns[i]}: {hidden} can be computed"


def child_counts(page: tables.FiguresPage) -> list[str]:
    """The texts of every cell that counts children or referrals (not places, not days)."""
    place_columns = {"Free places", "Reserved places", "Kind", "Figures updated"}
    texts = []
    for t in page.tables:
        if t.key.startswith("free-places"):
            continue
        for r in t.rows:
            for column, cell in zip(t.columns, r.cells, strict=True):
                if column not in place_columns and "days" not in column.lower():
                    texts.append(cell.text)
    return texts


def test_a_single_child_is_hidden_and_cannot_be_computed_from_totals(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        ready(world, "north")
    ready(world, "south", group="g03")  # the only child in Süd
    page = figures()
    assert row(page, "capacity-school", "Süd")[2] == SYMBOL
    assert row(page, "capacity-groups", "Grade 3")[2] == SYMBOL
    assert "1" not in {c.text for c in table(page, "capacity-school").rows[1].cells[2:]}
    assert_no_lonely_hidden_cell(page)


def test_a_filter_cannot_narrow_a_table_down_to_one_child(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        ready(world, "north")
    ready(world, "south", group="g03")
    south = figures(dimensions.FigureFilters(district=world["south"].pk, target="school"))
    assert row(south, "capacity-school", "Süd")[2] == SYMBOL
    assert row(south, "capacity-groups", "School")[2] == SYMBOL
    assert row(south, "capacity-groups", "Primary (grades 1 to 4)")[2] == SYMBOL
    assert "Grade 3" not in [r.header for r in table(south, "capacity-groups").rows], (
        "single grades are shown for the whole city only"
    )
    assert row(south, "waiting-days", "School") == [SYMBOL, SYMBOL, SYMBOL]
    in_south = row(south, "placement-district", "School")
    assert in_south[0] == in_south[4] == SYMBOL, "registered and waiting: 1 child"
    assert {"1", "2"}.isdisjoint(child_counts(south)), "no count of 1 or 2 children anywhere"


def test_filtered_pages_only_select_cells_of_the_unfiltered_protection(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        ready(world, "north")
    for _ in range(2):
        ready(world, "south", group="g03")
    ready(world, "south", group="kita_3", target="kita")
    everything = figures()
    for district in ("north", "south"):
        name = world[district].name
        filtered = figures(dimensions.FigureFilters(district=world[district].pk))
        for key in ("capacity-school", "capacity-kita"):
            assert row(filtered, key, name) == row(everything, key, name), (district, key)


def test_a_breakdown_that_would_cost_the_city_total_is_not_shown(world) -> None:  # type: ignore[no-untyped-def]
    # One vocational pupil in each of three districts: showing "•" for each district under a
    # published city total of 3 would give every 1 away, so either the city's total goes or
    # the districts do. The page keeps the city's figure and shows "/" for the districts.
    third = DistrictFactory(name="Ost")
    world["third"] = third
    bbs = InstitutionFactory(name="BBS Nord", kind="bbs", district=world["north"])
    PlacesFactory(institution=bbs, group="bvj", free=6)
    for district in ("north", "south", "third"):
        ready(world, district, group="bvj", target="vocational")
    for _ in range(4):
        ready(world, "north")
        ready(world, "south")
    page = figures()
    assert row(page, "capacity-vocational", "Total") == ["6", "0", "3", "0"]
    assert row(page, "capacity-vocational", "Nord") == ["6", "0", NS, "0"], "places stay"
    shown_rows = [r.header for r in table(page, "capacity-vocational").rows]
    assert shown_rows == ["Nord", "Total"], "no row appears just because a child is there"
    assert row(page, "capacity-school", "Nord")[2] == "4", "school keeps its districts"
    assert any(dimensions.NOT_SHOWN in note for note in page.footnotes)


def test_tables_sharing_a_total_hide_it_the_same_way(world) -> None:  # type: ignore[no-untyped-def]
    ready(world, "north", group="kita_3", target="kita")
    ready(world, "south", group="kita_3", target="kita")
    for _ in range(6):
        ready(world, "north")
    page = figures()
    by_district = row(page, "capacity-kita", "Total")[2]
    by_group = row(page, "capacity-groups", "Kita (daycare)")[2]
    today = row(page, "waiting-days", "Kita (daycare)")[0]
    this_month = row(page, "placement-kita", "March 2026 (so far)")[2]
    assert by_district == by_group == today == this_month == SYMBOL


def test_the_current_month_and_today_show_the_same_waiting_children(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        ready(world, "north")
    page = figures()
    assert (
        row(page, "placement-all", "March 2026 (so far)")[2]
        == row(page, "waiting-days", "All target types")[0]
        == "4"
    )


def test_threshold_comes_from_the_office_settings(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        ready(world, "north")
    for _ in range(6):
        ready(world, "south")
    assert row(figures(), "capacity-school", "Nord")[2] == "4"
    office = OfficeSettings.current()
    office.suppression_threshold = 5
    office.save()
    page = figures()
    assert page.threshold == 5
    assert row(page, "capacity-school", "Nord")[2] == SYMBOL


# --- placement by month ------------------------------------------------------------------------


def test_registered_placed_and_waiting_per_month_with_days(world) -> None:  # type: ignore[no-untyped-def]
    january = [ready(world, "north", when=dt.date(2026, 1, 12)) for _ in range(3)]
    for _ in range(4):
        ready(world, "north", when=dt.date(2026, 2, 9))
    for case, day in zip(january, (11, 16, 21), strict=True):
        place(world, case, registered=dt.date(2026, 1, 12), placed=dt.date(2026, 2, day))
    page = figures()
    # January: 3 registered, none placed; 3 waiting at 31 January for 49 days (since
    # arrival on 13 December).
    assert row(page, "placement-school", "January 2026") == ["3", "0", "3", NA, NA, "49", "49"]
    # February: 4 registered, 3 placed after 30, 35 and 40 days; the 4 new ones wait.
    assert row(page, "placement-school", "February 2026") == [
        "4",
        "3",
        "4",
        "35",
        "39",
        "49",
        "49",
    ]
    assert row(page, "placement-school", "Total: last 12 months") == [
        "7",
        "3",
        NA,
        "35",
        "39",
        NA,
        NA,
    ]
    assert row(page, "placement-all", "February 2026")[:3] == ["4", "3", "4"]
    three = figures(dimensions.FigureFilters(period="3"))
    assert [r.header for r in table(three, "placement-all").rows] == [
        "January 2026",
        "February 2026",
        "March 2026 (so far)",
        "Total: last 3 months",
    ]


def test_medians_over_fewer_children_than_the_threshold_are_not_shown(world) -> None:  # type: ignore[no-untyped-def]
    cases = [ready(world, "north", when=dt.date(2026, 1, 12)) for _ in range(2)]
    for case in cases:
        place(world, case, registered=dt.date(2026, 1, 12), placed=dt.date(2026, 2, 11))
    february = row(figures(), "placement-school", "February 2026")
    assert february[1] == SYMBOL and february[3] == february[4] == SYMBOL


def test_duplicates_are_not_children(world) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        ready(world, "north")
    duplicate = ready(world, "north")
    with at(dt.date(2026, 3, 3)):
        case_transition(
            case=duplicate, by=world["coordinator"], transition="close", reason="duplicate"
        )
    assert row(figures(), "placement-school", "March 2026 (so far)")[0] == "3"


# --- referrals --------------------------------------------------------------------------------


def refer_all(world: dict, day: dt.date, count: int) -> list:  # type: ignore[type-arg]
    school = world["schools"][world["north"]]
    cases = [ready(world, "north", when=day) for _ in range(count)]
    with at(day):
        return [referral_create(case=c, institution=school, by=world["coordinator"]) for c in cases]


def outcome_cells(page: tables.FiguresPage) -> dict[str, str]:
    t = table(page, "referrals-targets")
    return dict(zip(t.columns, row(page, "referrals-targets", "School"), strict=True))


def test_referral_outcomes_by_reason_and_answers_within_the_target_time(world) -> None:  # type: ignore[no-untyped-def]
    day = dt.date(2026, 2, 2)  # a Monday
    referrals = refer_all(world, day, 13)
    with at(day, 15):
        for r in referrals[:3]:
            referral_accept(referral=r, by=world["staff"])
        for r in referrals[3:6]:
            referral_decline(referral=r, by=world["staff"], reason="no_place")
    with at(dt.date(2026, 2, 20)):  # 14 working days later: too late
        for r in referrals[6:9]:
            referral_decline(referral=r, by=world["staff"], reason="catchment")
    with at(dt.date(2026, 3, 5)):
        for r in referrals[9:12]:
            referral_expire(referral=r)
    cells = outcome_cells(figures())
    assert cells["Accepted"] == "3"
    assert cells["Declined: no free place"] == "3"
    assert cells["Declined: outside the catchment area"] == "3"
    assert cells["Declined: wrong school type"] == "0"
    assert cells["Declined in total"] == "6"
    assert cells["Expired without an answer"] == "3"
    assert cells["Total"] == "12", "the referral still pending is counted under demand"
    assert cells["Answered within 5 working days"] == "6"
    assert row(figures(), "capacity-school", "Nord")[3] == SYMBOL, "1 pending referral"


def test_a_single_outcome_is_hidden_with_a_second_cell(world) -> None:  # type: ignore[no-untyped-def]
    referrals = refer_all(world, dt.date(2026, 2, 2), 5)
    with at(dt.date(2026, 2, 2), 15):
        for r in referrals[:4]:
            referral_accept(referral=r, by=world["staff"])
    with at(dt.date(2026, 3, 5)):
        referral_expire(referral=referrals[4])
    cells = outcome_cells(figures())
    assert cells["Expired without an answer"] == SYMBOL
    hidden = [k for k, v in cells.items() if v == SYMBOL]
    assert len(hidden) >= 2, "the total minus the others would give the expired one away"
    data = computation.figure_data(NOW.date())
    assert data.referrals.value((TOTAL, TOTAL, TOTAL, dimensions.EXPIRED)) == 1


# --- no decryption, constant queries, cache ---------------------------------------------------


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the figures must never touch the key ring")


def test_summaries_never_touch_the_key_ring(world) -> None:  # type: ignore[no-untyped-def]
    cases = [ready(world, "north", when=dt.date(2026, 1, 12)) for _ in range(4)]
    place(world, cases[0], registered=dt.date(2026, 1, 12), placed=dt.date(2026, 2, 11))
    with (
        mock.patch.object(crypto, "get_keyring", refuse),
        mock.patch("coordination.fields.get_keyring", refuse),
        mock.patch.object(crypto.Keyring, "decrypt", refuse),
    ):
        for filters in (ALL, dimensions.FigureFilters(district=world["north"].pk, period="3")):
            page = figures(filters)
            assert exports.page_csv(page)
            assert exports.page_xlsx(page)


def page_queries(filters: dimensions.FigureFilters = ALL) -> int:
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        figures(filters)
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_data(world) -> None:  # type: ignore[no-untyped-def]
    OfficeSettings.current()
    ready(world, "north")
    small = page_queries(), page_queries(dimensions.FigureFilters(district=world["north"].pk))
    for month in (1, 2):
        for district in ("north", "south"):
            cases = [ready(world, district, when=dt.date(2026, month, 5)) for _ in range(3)]
            place(
                world, cases[0], registered=dt.date(2026, month, 5), placed=dt.date(2026, month, 20)
            )
    extra = DistrictFactory(name="Ost")
    InstitutionFactory(name="GS Ost", district=extra)
    large = page_queries(), page_queries(dimensions.FigureFilters(district=world["north"].pk))
    assert small == large


def test_figures_are_cached_by_filters(world) -> None:  # type: ignore[no-untyped-def]
    ready(world, "north")
    figures()
    with CaptureQueriesContext(connection) as ctx:
        figures()
    assert len(ctx.captured_queries) <= 1, "the second page comes from the cache"
    with CaptureQueriesContext(connection) as ctx:
        figures(dimensions.FigureFilters(district=world["north"].pk))
    assert ctx.captured_queries, "another filter is another cache entry"


def test_unknown_filter_values_fall_back_to_all() -> None:
    assert dimensions.parse_filters({"period": "7", "district": "x", "target": "zoo"}) == ALL
    assert dimensions.parse_filters({"period": "3", "district": "12", "target": "kita"}) == (
        dimensions.FigureFilters(period="3", district=12, target="kita")
    )


@pytest.mark.postgres
def test_postgresql_percentiles_agree_with_the_python_fallback(world) -> None:  # type: ignore[no-untyped-def]
    cases = [ready(world, "north", when=dt.date(2026, 1, day)) for day in (5, 7, 12, 14)]
    for case, (registered, placed) in zip(
        cases, [(5, 20), (7, 28), (12, 40), (14, 41)], strict=True
    ):
        place(
            world,
            case,
            registered=dt.date(2026, 1, registered),
            placed=dt.date(2026, 1, 1) + dt.timedelta(days=placed),
        )
    for _ in range(3):
        ready(world, "south", when=dt.date(2025, 11, 3))
    window = dimensions.Window.ending(NOW.date())
    with time_machine.travel(NOW, tick=False):
        base = queries.counted_cases()
        in_db = durations._durations_in_database(base, window)
        in_python = durations._durations_in_python(base, window)
    assert in_db.to_placement.keys() >= {k for k, v in in_python.to_placement.items() if v[0]}
    for key, values in in_python.to_placement.items():
        assert in_db.to_placement[key] == pytest.approx(values), key
    for key, values in in_python.without_place.items():
        assert in_db.without_place[key] == pytest.approx(values), key
