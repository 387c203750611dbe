"""The figures' protection in independent parts (monitoring/protection.py): a part reused
from an earlier computation, or protected in another process, hides exactly the cells a full
computation in one process hides; only the parts whose counts changed are protected again."""

from __future__ import annotations

import datetime as dt
import random
from functools import partial
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.utils import translation

from coordination.models import District
from monitoring import cache as figure_cache
from monitoring import computation, exports, protection, publication
from monitoring.dimensions import (
    PERIODS,
    TARGETS,
    FigureFilters,
    Window,
    month_dimension,
    target_dimension,
)
from monitoring.disclosure import Cube, Dimension, protect
from monitoring.publication import DISTRICTS, MONTHS, flow_published, uniform_depth
from tests.monitoring.test_summaries import NOW, place, ready, world  # noqa: F401 - fixture

ALL_PARTS = {
    "waiting",
    "pending",
    "registered",
    "placed",
    "referrals",
    "answered_on_time",
    "offer_registrations",
}
TABLES = ("waiting", "pending", "registered", "placed", "stock", "referrals", "on_time", "offers")


@pytest.fixture(autouse=True)
def empty_cache():  # type: ignore[no-untyped-def]
    cache.clear()
    yield
    cache.clear()


def compute(*, processes: int = 1, reuse: bool = True) -> computation.FigureData:
    districts = list(District.objects.order_by("name").values_list("id", "name"))
    with time_machine.travel(NOW, tick=False):
        data = computation.compute_data(
            Window.ending(NOW.date()), 3, 5, districts, processes=processes, reuse=reuse
        )
    data.computed_at = NOW
    return data


def differences(a: computation.FigureData, b: computation.FigureData) -> list[str]:
    """Every table, cell by cell: its cells and true counts, which are hidden, which primary."""
    found = []
    for name in TABLES:
        x, y = getattr(a, name), getattr(b, name)
        for attribute in ("dimensions", "nodes", "counts", "hidden", "primary"):
            if getattr(x, attribute) != getattr(y, attribute):
                found.append(f"{name}.{attribute}")
    return found


def csv_exports(data: computation.FigureData) -> dict[str, str]:
    """The CSV export of every period and target type, read from one computed set."""
    cache.clear()
    key = figure_cache.figures_data_key(NOW.date(), 3, 5, data.districts)
    cache.set(key, data, figure_cache.KEEP_SECONDS)
    cache.set(f"{key}:stamp", data.computed_at, figure_cache.KEEP_SECONDS)
    found = {}
    with time_machine.travel(NOW, tick=False), translation.override("en"):
        for period in PERIODS:
            for target in ["", *TARGETS]:
                filters = FigureFilters(period=period, target=target)
                found[f"{period}/{target}"] = str(exports.export(filters, "csv", today=NOW.date()))
    cache.clear()
    return found


@pytest.fixture
def busy_world(world):  # type: ignore[no-untyped-def]  # noqa: F811
    """Children registered over several months in both districts, some of them placed."""
    for month, north, south in [(dt.date(2025, 10, 6), 4, 1), (dt.date(2026, 1, 12), 2, 5)]:
        for _ in range(north):
            ready(world, "north", when=month)
        for _ in range(south):
            ready(world, "south", when=month, group="g03")
    placed = ready(world, "north", when=dt.date(2025, 11, 3))
    place(world, placed, registered=dt.date(2025, 11, 4), placed=dt.date(2025, 12, 1))
    ready(world, "south", target="kita", group="kita_3", when=dt.date(2026, 2, 2))
    return world


def test_a_second_computation_reuses_every_part_and_hides_the_same_cells(busy_world) -> None:  # type: ignore[no-untyped-def]
    first = compute()
    assert set(first.computed_parts) == ALL_PARTS
    again = compute()
    assert again.computed_parts == []
    assert differences(again, compute(reuse=False)) == []


def test_a_change_in_one_district_and_month_protects_only_its_parts_again(busy_world) -> None:  # type: ignore[no-untyped-def]
    compute()
    # One child registered today in the north: today's waiting children and the month's
    # registrations change, nothing else.
    ready(busy_world, "north", when=NOW.date())
    incremental = compute()
    assert set(incremental.computed_parts) == {"waiting", "registered"}
    full = compute(reuse=False)
    assert differences(incremental, full) == []
    # What a reader gets: every period and target type as CSV, cell by cell.
    assert csv_exports(incremental) == csv_exports(full)


def test_a_change_that_hides_a_new_cell_is_not_hidden_by_a_kept_part(busy_world) -> None:  # type: ignore[no-untyped-def]
    compute()
    # A single kita child in the north this month: a new small count, to be hidden.
    ready(busy_world, "north", target="kita", group="kita_3", when=NOW.date())
    incremental = compute()
    assert "registered" in incremental.computed_parts
    assert incremental.registered.hidden, "the new small count is hidden"
    assert differences(incremental, compute(reuse=False)) == []


def test_parallel_processes_hide_the_same_cells_as_one(busy_world) -> None:  # type: ignore[no-untyped-def]
    serial = compute(processes=1, reuse=False)
    parallel = compute(processes=2, reuse=False)
    assert set(parallel.computed_parts) == ALL_PARTS
    assert differences(serial, parallel) == []


# --- random tables ------------------------------------------------------------------------


def random_part(rng: random.Random, name: str) -> protection.Part:
    """A flow cube (months x districts x target types) with sparse small counts, its district
    detail chosen per target type, as the registrations."""
    window = Window.ending(dt.date(2026, 3, 18))
    districts = Dimension("district", list(range(rng.randint(2, 7))))
    dims = [month_dimension(window), districts, target_dimension()]
    leaves = [[n for n in d.nodes if d.is_leaf(n)] for d in dims]
    counts = {
        (rng.choice(leaves[0]), rng.choice(leaves[1]), rng.choice(leaves[2])): rng.choice(
            [1, 1, 2, 3, 5]
        )
        for _ in range(rng.randint(3, 40))
    }
    levels = [MONTHS | DISTRICTS, MONTHS, DISTRICTS, 0]
    return protection.single_part(name, 3, dims, counts, flow_published, levels)


def same_tables(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(
        (x.counts, x.hidden, x.primary) == (y.counts, y.hidden, y.primary)
        for x, y in zip(a, b, strict=True)
    )


def test_random_parts_are_protected_the_same_in_other_processes() -> None:
    rng = random.Random(21)
    parts = [random_part(rng, f"random{i}") for i in range(12)]
    serial = protection.protect_parts(parts, processes=1, reuse=False)
    parallel = protection.protect_parts(parts, processes=2, reuse=False)
    assert sorted(parallel.computed) == sorted(p.name for p in parts)
    for part in parts:
        assert same_tables(serial.tables[part.name], parallel.tables[part.name]), part.name


def test_the_fingerprint_changes_with_any_count_and_not_with_their_order() -> None:
    rng = random.Random(7)
    part = random_part(rng, "registered")
    dims, counts, rule, levels = part.inputs
    reordered = dict(reversed(list(counts.items())))
    same = protection.single_part("registered", 3, dims, reordered, rule, levels)
    assert protection.fingerprint(same) == protection.fingerprint(part)
    cell = next(iter(counts))
    changed = protection.single_part(
        "registered", 3, dims, {**counts, cell: counts[cell] + 1}, rule, levels
    )
    assert protection.fingerprint(changed) != protection.fingerprint(part)
    stricter = protection.single_part("registered", 4, dims, counts, rule, levels)
    assert protection.fingerprint(stricter) != protection.fingerprint(part)


def test_kept_parts_are_reused_only_for_the_same_input() -> None:
    rng = random.Random(3)
    parts = [random_part(rng, f"random{i}") for i in range(4)]
    protection.protect_parts(parts)
    dims, counts, rule, levels = parts[2].inputs
    cell = next(iter(counts))
    changed = protection.single_part(
        parts[2].name, 3, dims, {**counts, cell: counts[cell] + 2}, rule, levels
    )
    outcome = protection.protect_parts([*parts[:2], changed, parts[3]])
    assert outcome.computed == [changed.name]
    fresh = protection.protect_parts([changed], reuse=False)
    assert same_tables(outcome.tables[changed.name], fresh.tables[changed.name])


def choose_detail_without_lookup(build: Any, levels: list[int]) -> list[Cube]:
    """``choose_detail`` as it was before it looked protected depths up (the reference)."""
    plain = uniform_depth(levels[-1])
    full = build(uniform_depth(levels[0]))
    lost = publication.core_hidden(full, plain)
    if all(full[number].is_primary(index) for number, index in lost):
        return full
    best = build(plain)
    kept = publication.core_hidden(best, plain)
    if lost <= kept:
        return full
    chosen = dict(plain)
    for target in TARGETS:
        for level in levels[:-1]:
            trial = tuple({**chosen, target: level}.items())
            cubes = build(trial)
            if publication.core_hidden(cubes, plain) <= kept:
                chosen, best = dict(trial), cubes
                break
    return best


def counting_build(part: protection.Part, depths: list[Any]) -> Any:
    """``build(depth)`` for ``choose_detail`` over a random part, noting every depth built."""
    dims, counts, _rule, _levels = part.inputs

    def build(depth: Any) -> list[Cube]:
        depths.append(depth)
        cube = Cube("registered", dims, counts, published=partial(flow_published, depth))
        protect(cube)
        return [cube]

    return build


def test_choose_detail_protects_each_depth_once_and_chooses_as_before() -> None:
    rng = random.Random(5)
    for _ in range(25):
        part = random_part(rng, "registered")
        levels = part.inputs[3]
        depths: list[Any] = []
        chosen = publication.choose_detail(counting_build(part, depths), levels)
        assert len(depths) == len(set(depths)), "no depth is protected twice"
        reference = choose_detail_without_lookup(counting_build(part, []), list(levels))
        assert chosen[0].suppressed_cells() == reference[0].suppressed_cells()
        assert chosen[0].published_cells() == reference[0].published_cells()


def test_without_a_process_pool_the_parts_are_protected_here(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(protection, "ProcessPoolExecutor", refuse)
    rng = random.Random(11)
    parts = [random_part(rng, f"random{i}") for i in range(3)]
    fallback = protection.protect_parts(parts, processes=2, reuse=False)
    serial = protection.protect_parts(parts, processes=1, reuse=False)
    for part in parts:
        assert same_tables(fallback.tables[part.name], serial.tables[part.name])
