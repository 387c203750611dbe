"""Statistical disclosure control on hand-made tables (monitoring/disclosure).

Every test that claims "cannot be worked out" checks it by brute force: it enumerates every
table an attacker would find consistent with what is published (published cells, all totals,
hidden cells at least 1) and asserts each hidden cell still has two or more possible values.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monitoring.disclosure import (
    SYMBOL,
    TOTAL,
    Cube,
    Dimension,
    PublishedTable,
    UnpublishedCell,
    effective_threshold,
    percentile,
    protect,
    protect_grid,
    publish,
    statistic_visible,
)
from monitoring.disclosure.search import _Faces

H = None  # a hidden cell in an expected grid


Domain = dict[tuple, tuple[int, int]]
Sum = tuple[tuple[tuple, ...], int, bool]  # unknowns, total, exact (else: at least)


def _propagate(domains: Domain, sums: list[Sum]) -> Domain | None:
    """Tighten the bounds of the unknowns until nothing changes; None if impossible."""
    changed = True
    while changed:
        changed = False
        for terms, total, exact in sums:
            low = sum(domains[v][0] for v in terms)
            high = sum(domains[v][1] for v in terms)
            if high < total or (exact and low > total):
                return None
            for v in terms:
                v_low, v_high = domains[v]
                new_low = max(v_low, total - (high - v_high))
                new_high = min(v_high, total - (low - v_low)) if exact else v_high
                if new_low > new_high:
                    return None
                if (new_low, new_high) != (v_low, v_high):
                    domains[v] = (new_low, new_high)
                    low += new_low - v_low
                    high += new_high - v_high
                    changed = True
    return domains


def _solvable(domains: Domain, sums: list[Sum]) -> bool:
    tightened = _propagate(dict(domains), sums)
    if tightened is None:
        return False
    open_ = [v for v, (low, high) in tightened.items() if low < high]
    if not open_:
        return True
    v = min(open_, key=lambda u: tightened[u][1] - tightened[u][0])
    low, high = tightened[v]
    return any(_solvable({**tightened, v: (x, x)}, sums) for x in range(low, high + 1))


def attacker_values(cube: Cube, *, bound: int = 8) -> dict[tuple, set[int]]:
    """For every hidden cell, the values an attacker cannot rule out (searched exhaustively
    up to ``bound`` per detail cell; finding a second value proves the cell is protected).

    The unknowns are the detail cells that are hidden (at least 1) or never published (at
    least 0); every published cell is an exact sum of them, every hidden one at least 1.
    """
    dims = cube.dims
    leaves = [[n for n in d.nodes if d.is_leaf(n)] for d in dims]
    hidden = cube.suppressed_cells()
    cells = cube.cells()
    detail = list(itertools.product(*leaves))
    unknown = {c for c in detail if c in hidden or not cube.is_published(c)}
    ancestors = [
        {n: [d.nodes[p] for p in d.ancestors_or_self(d.position(n))] for n in d.nodes} for d in dims
    ]

    def under(cell: tuple) -> list[tuple]:
        """The detail cells a cell adds up."""
        return [c for c in detail if all(cell[k] in ancestors[k][c[k]] for k in range(len(dims)))]

    sums: list[Sum] = []
    terms_of: dict[tuple, tuple[tuple, ...]] = {}
    known_of: dict[tuple, int] = {}
    for cell in itertools.product(*(d.nodes for d in dims)):
        parts = under(cell)
        terms_of[cell] = tuple(c for c in parts if c in unknown)
        known_of[cell] = sum(cells.get(c, 0) for c in parts if c not in unknown)
        if not cube.is_published(cell):
            continue
        if cell in hidden:
            sums.append((terms_of[cell], 1 - known_of[cell], False))
        elif terms_of[cell]:
            sums.append((terms_of[cell], cells.get(cell, 0) - known_of[cell], True))
    domains = {c: (1 if c in hidden else 0, bound) for c in unknown}
    # Hidden cells, and small cells that are never published (they could still be derived).
    small = {c for c, v in cells.items() if v < cube.threshold and not cube.is_published(c)}
    found: dict[tuple, set[int]] = {}
    for h in hidden | small:
        true = cells.get(h, 0)
        values = {true}
        for w in sorted(range(0, bound * len(detail) + 1), key=lambda x: abs(x - true)):
            if w == true or w - known_of[h] < 0 or (h in hidden and w < 1):
                continue
            if _solvable(domains, [*sums, (terms_of[h], w - known_of[h], True)]):
                values.add(w)
                break
        found[h] = values
    return found


def assert_protected(cube: Cube, *, bound: int = 8) -> None:
    possible = attacker_values(cube, bound=bound)
    for cell, values in possible.items():
        assert len(values) >= 2, f"hidden cell {cell} can be worked out: {values}"


def test_the_audit_finds_a_cell_that_only_primary_suppression_leaves_open() -> None:
    # Without secondary suppression the total gives the single hidden child away: the
    # exhaustive check used by the other tests must see that.
    cube = Cube("children", [Dimension("d", ["a", "b", "c"])], {("a",): 1, ("b",): 5, ("c",): 4})
    assert cube.suppressed_cells() == {("a",)}
    assert attacker_values(cube) == {("a",): {1}}
    with pytest.raises(AssertionError, match="can be worked out"):
        assert_protected(cube)


def grid_cube(values: Sequence[Sequence[int]], *, threshold: int = 3) -> Cube:
    rows = Dimension("row", list(range(len(values))))
    cols = Dimension("column", list(range(len(values[0]))))
    counts = {(r, c): v for r, row in enumerate(values) for c, v in enumerate(row)}
    cube = Cube("children", [rows, cols], counts, threshold=threshold)
    protect(cube)
    return cube


# --- primary suppression and zeros -------------------------------------------------------


def test_counts_below_the_threshold_are_hidden_and_true_zeros_shown() -> None:
    shown = protect_grid([[0, 7, 1], [0, 9, 6]])
    assert shown[0][0] == 0 and shown[1][0] == 0, "true zeros are shown"
    assert shown[0][2] is H, "1 child is hidden"
    assert shown[2][0] == 0, "a column of zeros has a zero total"


@pytest.mark.parametrize(("configured", "applied"), [(None, 3), (1, 3), (2, 3), (3, 3), (5, 5)])
def test_threshold_is_never_below_three(configured: int | None, applied: int) -> None:
    assert effective_threshold(configured) == applied
    cube = Cube(
        "children", [Dimension("d", ["a", "b"])], {("a",): 2, ("b",): 9}, threshold=configured or 0
    )
    assert cube.threshold == applied
    assert cube.is_primary(("a",))


def test_sensitive_breakdown_hides_counts_below_five() -> None:
    dim = Dimension("language", ["ar", "uk", "fa", "tr"])
    cube = Cube("children", [dim], {("ar",): 4, ("uk",): 12, ("fa",): 3, ("tr",): 9}, threshold=5)
    protect(cube)
    assert cube.shown(("ar",)) is None and cube.shown(("fa",)) is None
    assert cube.shown(("uk",)) == 12 and cube.shown((TOTAL,)) == 28
    assert_protected(cube, bound=14)


# --- secondary suppression in rows and columns ----------------------------------------------


def test_one_hidden_cell_in_a_row_hides_the_next_smallest() -> None:
    shown = protect_grid([[1, 5, 4]])
    assert shown[0] == [H, 5, H, 10], "the 1 and the next-smallest 4 are hidden; total stays"


def test_hidden_cell_plus_next_smallest_must_leave_two_possibilities() -> None:
    # Two 1s next to each other: published 1+1 = 2 would give both away; a third goes too.
    cube = grid_cube([[1, 1, 8]])
    assert cube.suppressed_cells() >= {(0, 0), (0, 1), (0, 2)}
    assert_protected(cube, bound=10)


def test_secondary_suppression_in_rows_and_columns_of_a_table() -> None:
    values = [[1, 4, 5], [6, 2, 7], [3, 3, 3]]
    cube = grid_cube(values)
    hidden = cube.suppressed_cells()
    assert {(0, 0), (1, 1)} <= hidden
    for r in [0, 1, 2, TOTAL]:
        in_row = [c for c in [0, 1, 2, TOTAL] if (r, c) in hidden]
        assert len(in_row) != 1, f"row {r} would give its hidden cell away"
    for c in [0, 1, 2, TOTAL]:
        in_col = [r for r in [0, 1, 2, TOTAL] if (r, c) in hidden]
        assert len(in_col) != 1, f"column {c} would give its hidden cell away"
    assert_protected(cube, bound=8)


def test_totals_are_the_true_sums_even_when_cells_are_hidden() -> None:
    shown = protect_grid([[1, 4, 5], [6, 2, 7], [3, 3, 3]])
    assert [row[3] for row in shown[:3]] == [10, 15, 9]
    assert shown[3][3] == 34


def test_a_small_total_is_hidden_with_the_cell_it_would_reveal() -> None:
    shown = protect_grid([[1, 0, 0], [4, 5, 6]])
    assert shown[0] == [H, 0, 0, H], "the only child of the row: its total is hidden too"
    cube = grid_cube([[1, 0, 0], [4, 5, 6]])
    assert_protected(cube, bound=10)


def test_a_table_of_ones_hides_even_the_grand_total() -> None:
    # All cells 1, all margins 2: any published total pins every cell to 1.
    assert protect_grid([[1, 1], [1, 1]]) == [[H, H, H], [H, H, H], [H, H, H]]
    assert_protected(grid_cube([[1, 1], [1, 1]]), bound=6)


def test_a_table_without_small_counts_is_published_in_full() -> None:
    assert protect_grid([[3, 4], [0, 5]]) == [[3, 4, 7], [0, 5, 5], [3, 9, 12]]


# --- hierarchies, several dimensions, separate tables ---------------------------------------


def test_subtotals_of_a_hierarchy_cannot_reveal_a_hidden_group() -> None:
    groups = Dimension(
        "group", {TOTAL: ["school", "kita"], "school": ["g1", "g2", "g3"], "kita": ["u3", "o3"]}
    )
    districts = Dimension("district", ["north", "south"])
    counts = {
        ("north", "g1"): 1,
        ("north", "g2"): 6,
        ("north", "g3"): 4,
        ("north", "u3"): 3,
        ("north", "o3"): 5,
        ("south", "g1"): 5,
        ("south", "g2"): 2,
        ("south", "g3"): 7,
        ("south", "u3"): 0,
        ("south", "o3"): 4,
    }
    cube = Cube("waiting", [districts, groups], counts)
    protect(cube)
    assert cube.shown(("north", "g1")) is None and cube.shown(("south", "g2")) is None
    assert cube.shown(("south", "u3")) == 0
    assert cube.shown((TOTAL, TOTAL)) == 37
    assert_protected(cube, bound=7)


def test_three_dimensions_every_margin_is_respected() -> None:
    months = Dimension("month", ["jan", "feb"])
    districts = Dimension("district", ["north", "south"])
    targets = Dimension("target", ["school", "kita"])
    counts = {
        ("jan", "north", "school"): 1,
        ("jan", "north", "kita"): 4,
        ("jan", "south", "school"): 5,
        ("jan", "south", "kita"): 3,
        ("feb", "north", "school"): 6,
        ("feb", "north", "kita"): 0,
        ("feb", "south", "school"): 4,
        ("feb", "south", "kita"): 5,
    }
    cube = Cube("registered", [months, districts, targets], counts)
    protect(cube)
    assert cube.shown(("jan", "north", "school")) is None
    assert cube.shown(("feb", "north", "kita")) == 0
    assert_protected(cube, bound=7)


def test_a_non_additive_dimension_keeps_its_tables_apart() -> None:
    # Waiting at the end of each month: no total across months, so a box never leaves a month.
    months = Dimension("month", ["jan", "feb"], additive=False)
    districts = Dimension("district", ["north", "south", "east"])
    counts = {
        ("jan", "north"): 1,
        ("jan", "south"): 5,
        ("jan", "east"): 6,
        ("feb", "north"): 7,
        ("feb", "south"): 5,
        ("feb", "east"): 6,
    }
    cube = Cube("waiting", [months, districts], counts)
    protect(cube)
    assert all(month == "jan" for month, _d in cube.suppressed_cells())
    assert cube.shown(("feb", "north")) == 7
    assert_protected(cube, bound=14)


def test_tables_drawn_from_one_cube_hide_the_same_cells() -> None:
    # "By district" (rows) and "by target type" (columns) are two tables of one cube: the
    # total of a target type is one cell, hidden or shown in both the same way.
    districts = Dimension("district", ["north", "south"])
    targets = Dimension("target", ["school", "kita"])
    cube = Cube(
        "waiting",
        [districts, targets],
        {
            ("north", "school"): 1,
            ("south", "school"): 1,
            ("north", "kita"): 5,
            ("south", "kita"): 6,
        },
    )
    protect(cube)
    by_district = {d: cube.shown((d, "school")) for d in ["north", "south", TOTAL]}
    by_target = {t: cube.shown((TOTAL, t)) for t in ["school", "kita", TOTAL]}
    assert by_district[TOTAL] is by_target["school"] is None, "school total 2 is hidden in both"
    # 1 + 1 in the school column: with the kita total 11 and the district totals published,
    # north's school count would follow (6 - kita, 11 - ...), so the kita total goes too.
    assert by_target["kita"] is None
    assert_protected(cube, bound=13)


def test_linked_cubes_hide_a_shared_cell_in_both() -> None:
    # Today's waiting children (by district and grade) and the current month of the
    # "waiting at month end" series describe the same quantity: suppression must agree.
    districts = Dimension("district", ["north", "south", "east"])
    groups = Dimension(
        "group",
        {TOTAL: ["school", "kita"], "school": ["g1", "g2"], "kita": ["u3"]},
        key_names={"school": ("target", "school"), "kita": ("target", "kita")},
    )
    targets = Dimension("target", ["school", "kita"])
    months = Dimension("month", ["may"], additive=False)
    today = {
        ("north", "g1"): 2,
        ("north", "g2"): 2,
        ("north", "u3"): 5,
        ("south", "g1"): 4,
        ("south", "g2"): 3,
        ("south", "u3"): 6,
        ("east", "g1"): 5,
        ("east", "g2"): 4,
        ("east", "u3"): 7,
    }
    stock = {("may", d, "school" if g != "u3" else "kita"): 0 for d, g in today}
    for (d, g), n in today.items():
        stock[("may", d, "school" if g != "u3" else "kita")] += n
    now = Cube("waiting", [districts, groups], today, fixed={"month": "may"})
    series = Cube("waiting", [months, districts, targets], stock)
    protect([now, series])
    for d in ["north", "south", "east", TOTAL]:
        for t in ["school", "kita", TOTAL]:
            assert now.key((d, t)) == series.key(("may", d, t))
            assert now.is_suppressed((d, t)) == series.is_suppressed(("may", d, t)), (d, t)
    assert now.is_suppressed(("north", "g1")), "2 children in grade 1"
    assert_protected(now, bound=9)


def test_linked_cells_must_hold_the_same_number() -> None:
    a = Cube("waiting", [Dimension("district", ["x", "y"])], {("x",): 4, ("y",): 5})
    b = Cube("waiting", [Dimension("district", ["x", "y"])], {("x",): 4, ("y",): 6})
    with pytest.raises(ValueError, match="disagree"):
        protect([a, b])


def test_subtotal_nodes_cannot_be_filled_directly() -> None:
    dim = Dimension("group", {TOTAL: ["school"], "school": ["g1"]})
    with pytest.raises(ValueError, match="subtotal"):
        Cube("x", [dim], {("school",): 3})
    with pytest.raises(ValueError, match="whole numbers"):
        Cube("x", [dim], {("g1",): -1})


def test_cells_that_are_never_published_need_no_hiding_and_cannot_be_shown() -> None:
    # District x grade is never published, only district x school type and the city's grades:
    # one child in grade 3 of district "east" hides east's figures, not the city's.
    districts = Dimension("district", ["north", "south", "east"])
    groups = Dimension(
        "group", {TOTAL: ["school", "kita"], "school": ["g1", "g2", "g3"], "kita": ["u3"]}
    )
    counts = {
        ("north", "g1"): 3,
        ("north", "g2"): 2,
        ("north", "u3"): 4,
        ("south", "g1"): 4,
        ("south", "g3"): 1,
        ("south", "u3"): 3,
        ("east", "g3"): 1,
        ("east", "u3"): 5,
    }

    def published(index: tuple) -> bool:
        district, group = index
        return district == TOTAL or group in (TOTAL, "school", "kita")

    cube = Cube("waiting", [districts, groups], counts, published=published)
    protect(cube)
    assert cube.shown((TOTAL, TOTAL)) == 23 and cube.shown((TOTAL, "school")) == 11
    assert cube.shown((TOTAL, "g1")) == 7, "the city's grades are not touched"
    assert cube.shown(("east", "school")) is None
    with pytest.raises(UnpublishedCell):
        cube.shown(("east", "g3"))
    assert_protected(cube, bound=6)


def test_a_small_difference_of_two_published_totals_is_protected_too() -> None:
    # "Last 12 months" and "last 6 months" are published, "months 1-6" is not: but it is their
    # difference. One child there must not follow from 11 - 10.
    periods = Dimension("period", {TOTAL: ["early", "last6"], "last6": ["mid", "last3"]})
    districts = Dimension("district", ["north", "south"])
    counts = {
        ("early", "north"): 1,
        ("mid", "north"): 4,
        ("last3", "north"): 6,
        ("mid", "south"): 3,
        ("last3", "south"): 5,
    }

    def published(index: tuple) -> bool:
        return index[0] in (TOTAL, "last6", "last3")

    cube = Cube("registered", [periods, districts], counts, published=published)
    protect(cube)
    assert cube.is_suppressed((TOTAL, "north")) or cube.is_suppressed(("last6", "north"))
    assert_protected(cube, bound=8)


# --- statistics --------------------------------------------------------------------------


def test_percentile_interpolates_like_postgresql_percentile_cont() -> None:
    assert percentile([10, 20, 30, 40], 0.5) == 25.0
    assert percentile([10, 20, 30, 40], 0.9) == pytest.approx(37.0)
    assert percentile([7], 0.9) == 7.0
    assert percentile([], 0.5) is None


@pytest.mark.parametrize(
    ("population", "visible"), [(None, False), (0, False), (2, False), (3, True), (40, True)]
)
def test_medians_need_a_published_population_at_the_threshold(
    population: int | None, visible: bool
) -> None:
    assert statistic_visible(population=population, threshold=3) is visible


def test_symbol_is_a_marked_bullet() -> None:
    assert SYMBOL == "•"


# --- the guarantee, on random tables -------------------------------------------------------


@st.composite
def small_cubes(draw: st.DrawFn, *, protected: bool = True) -> Cube:
    shapes = draw(st.sampled_from(["flat", "flat", "tree", "three", "stock"]))
    if shapes == "tree":
        dims = [
            Dimension("d", ["a", "b"]),
            Dimension("g", {TOTAL: ["s", "k"], "s": ["g1", "g2"], "k": ["u3"]}),
        ]
    elif shapes == "three":
        dims = [Dimension("m", [1, 2]), Dimension("d", ["a", "b"]), Dimension("t", ["s"])]
    elif shapes == "stock":
        dims = [Dimension("m", [1, 2], additive=False), Dimension("d", ["a", "b", "c"])]
    else:
        dims = [
            Dimension("r", list(range(draw(st.integers(1, 3))))),
            Dimension("c", list(range(draw(st.integers(1, 3))))),
        ]
    leaves = list(itertools.product(*([n for n in d.nodes if d.is_leaf(n)] for d in dims)))
    counts = {c: draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 6])) for c in leaves}
    published = None
    if len(dims) == 2 and draw(st.booleans()):
        # Never publish the detail of the first dimension crossed with the second.
        _first, second = dims

        def published(index: tuple) -> bool:
            return index[0] == TOTAL or index[1] == TOTAL or not second.is_leaf(index[1])

    cube = Cube("children", dims, counts, published=published)
    if protected:
        protect(cube)
    return cube


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(small_cubes())
def test_no_hidden_cell_can_be_worked_out_on_random_tables(cube: Cube) -> None:
    for cell, value in cube.cells().items():
        if value < cube.threshold and cube.is_published(cell):
            assert cube.is_suppressed(cell), "every count below the threshold is hidden"
    assert all(cube.value(c) > 0 for c in cube.suppressed_cells()), "zeros are never hidden"
    detail = itertools.product(*([n for n in d.nodes if d.is_leaf(n)] for d in cube.dims))
    unknown = [c for c in detail if cube.is_suppressed(c) or not cube.is_published(c)]
    assume(len(unknown) <= 10)  # keeps the exhaustive search small
    assert_protected(cube, bound=max((cube.value(c) for c in unknown), default=0) + 2)


# --- the box search's shortcuts change how fast, never which box ---------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(small_cubes(protected=False))
def test_the_search_skips_only_boxes_that_cannot_win(cube: Cube) -> None:
    # The search judges most boxes by a few of their corners: the changes' own (``_moves``)
    # and those off the cell in two dimensions (``_Faces``). A box it skips must be one that
    # looking at every corner rejects too, at any limit; and the cheapest change found
    # without listing the others must be the first of the full list.
    for cell in sorted(cube._sensitive | cube._suppressed):
        forced = cube._cells[cell] <= (1 if cube._is_published(cell) else 0)
        options = [cube._moves(k, cell, forced) for k in range(len(cube.dims))]
        for k, full in enumerate(options):
            first = cube._moves(k, cell, forced, first=True)
            assert first == full or first == full[:1]
        positions = [[p for _c, p, _s in o] for o in options]
        signs = [[s for _c, _p, s in o] for o in options]
        faces = _Faces(cube, cell, forced, positions, signs)
        for ranks in itertools.product(*(range(len(o)) for o in options)):
            box_positions = [positions[k][r] for k, r in enumerate(ranks)]
            box_signs = [signs[k][r] for k, r in enumerate(ranks)]
            bound = sum(options[k][r][0] for k, r in enumerate(ranks))
            found = cube._evaluate_split(box_positions, box_signs, float("inf"))
            if found is not None:
                assert bound <= found[0], "a change's own corners cost no more than the box"
            # The search compares with a limit only once it has a box that costs something.
            limits = [float("inf"), 1, 2, 5, 20, *([found[0], found[0] + 1] if found else [])]
            for limit in [limit for limit in limits if limit > 0]:
                if faces.hopeless(ranks, bound, limit):
                    assert cube._evaluate_split(box_positions, box_signs, limit) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cubes())
def test_the_published_table_reads_like_the_protected_cube_and_is_immutable(
    cube: Cube,
) -> None:
    every = list(itertools.product(*(d.nodes for d in cube.dims)))
    published = [i for i in every if cube.is_published(i)]

    def reading(c: Cube | PublishedTable) -> list[object]:
        seen: list[object] = [
            {i: v for i, v in c.cells().items() if i in published},
            {i for i in c.published_cells() if i in published},
            {i for i in c.suppressed_cells() if i in published},
            c.primary_cells(),
            [c.look(index) for index in every],  # unpublished ones too: (False, None)
        ]
        for index in published:
            seen.append((
                index, c.is_published(index), c.value(index), c.is_suppressed(index),
                c.is_primary(index), c.shown(index),
            ))  # fmt: skip
        return seen

    before = reading(cube)
    table = publish(cube)
    assert all(isinstance(cell, int) for cell in table.counts), "cells are packed into numbers"
    assert reading(table) == before
    assert reading(cube) == before, "publishing leaves the cube as it is"
    assert set(table.cells()) <= set(published), "unpublished cells are dropped"
    for index in every:
        if index not in published:
            with pytest.raises(UnpublishedCell):
                table.value(index)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.hidden = frozenset()  # type: ignore[misc]
