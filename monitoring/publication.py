"""What each cube publishes, and how deep single districts go.

Single districts are shown by target type and age band and for whole periods; single months,
grades and decline reasons for the whole city. Per target type, the district (and month)
breakdown is only as detailed as it costs none of the city's figures (``choose_detail``);
what is left out is shown as "/".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from monitoring.dimensions import GROUP_TARGET, TARGETS, band_of, target_node
from monitoring.disclosure import TOTAL, Cube

# What each cube publishes. Single districts are shown by target type and age band and for
# whole periods; single grades, single months and decline reasons only for the whole city. How
# deep the districts go is chosen per target type (``Depth``: 2 = age bands, 1 = target type,
# 0 = not at all): as deep as it costs none of the city's figures (see ``_district_detail``).
# The cells left out stay unknown to the reader; the small ones among them are protected too.
Depth = tuple[tuple[str, int], ...]
BAND_TARGET = {band_of(g): t for g, t in GROUP_TARGET.items()} | {f"{t}:?": t for t in TARGETS}


def depth_of(depth: Depth, target: Any) -> int:
    """How far single districts are broken down for a target node (TOTAL: the least)."""
    levels = dict(depth)
    return min(levels.values()) if target == TOTAL else levels[target[1]]


def uniform_depth(level: int) -> Depth:
    return tuple((t, level) for t in TARGETS)


def waiting_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    district, node = index
    if district == TOTAL:
        return True
    if node == TOTAL or node[0] == "target":
        return depth_of(depth, node) >= 1
    if node[0] == "band":
        return depth_of(depth, target_node(BAND_TARGET[node[1]])) >= 2
    return False


MONTHS, DISTRICTS = 1, 2  # detail levels of the flows (registered, placed): bits


def flow_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    """City periods always; city months for all target types together always, per target
    type with the MONTHS bit; single districts for whole periods with the DISTRICTS bit."""
    month, district, target = index
    period = month == TOTAL or month[0] == "period"
    levels = dict(depth).values() if target == TOTAL else [dict(depth)[target[1]]]
    if district == TOTAL:
        return period or target == TOTAL or all(level & MONTHS for level in levels)
    return period and all(level & DISTRICTS for level in levels)


def stock_published(current: Any, depth: Depth, index: tuple[Any, ...]) -> bool:
    """Waiting at the end of a month: the city every month, single districts only today."""
    month, district, target = index
    return district == TOTAL or (month == current and depth_of(depth, target) >= 1)


def referrals_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    block, district, target, outcome = index
    if block != TOTAL and block[0] == "block":
        return False
    if district == TOTAL:
        return True
    return depth_of(depth, target) >= 1 and (outcome == TOTAL or outcome[0] != "reason")


def on_time_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    block, district, target = index
    if block != TOTAL and block[0] == "block":
        return False
    return district == TOTAL or depth_of(depth, target) >= 1


def core_hidden(cubes: Sequence[Cube], plain: Depth) -> set[tuple[int, tuple[Any, ...]]]:
    """The hidden cells that the least detailed publication publishes too (the city's
    figures): more detail must not cost any of them."""
    found = set()
    for number, cube in enumerate(cubes):
        rule = cube.published_rule  # partial(rule, ..., depth): the same rule at ``plain``
        assert isinstance(rule, partial)
        plain_rule = partial(rule.func, *rule.args[:-1], plain)
        found |= {(number, i) for i in cube.suppressed_cells() if plain_rule(i)}
    return found


def choose_detail(build: Any, levels: Sequence[int]) -> list[Cube]:
    """Protect cubes with as much detail per target type as costs none of the city's figures.

    ``build(depth)`` returns protected cubes; ``levels`` go from the most to the least
    detailed publication. A sparse breakdown would otherwise force city totals to be hidden
    (a column of 1s under a published total gives every 1 away); so each target type gets the
    most detailed level whose suppression hides nothing the plainest level shows.
    """
    plain = uniform_depth(levels[-1])
    # Each depth is protected once: a trial may come back to a depth protected already (the
    # last target type's trial is the most detailed one when every other took it), and the
    # protection is a function of the depth alone, so it is looked up, not repeated.
    protected: dict[Depth, list[Cube]] = {}

    def built(depth: Depth) -> list[Cube]:
        if depth not in protected:
            protected[depth] = build(depth)
        return protected[depth]

    full = built(uniform_depth(levels[0]))
    lost = core_hidden(full, plain)
    if all(full[number].is_primary(index) for number, index in lost):
        return full  # only small counts themselves are hidden: nothing to gain
    best = built(plain)
    kept = core_hidden(best, plain)
    if lost <= kept:
        return full
    chosen = dict(plain)
    for target in TARGETS:
        for level in levels[:-1]:
            trial = tuple({**chosen, target: level}.items())
            cubes = built(trial)
            if core_hidden(cubes, plain) <= kept:
                chosen, best = dict(trial), cubes
                break
    return best


OFFER_STAGES_SHOWN = {TOTAL, ("stage", "confirmed"), ("stage", "started")}


def offers_published(index: tuple[Any, ...]) -> bool:
    """Whole periods; single districts for all kinds together and single kinds for the whole
    city (never a district by kind); registered, confirmed and started only."""
    block, district, kind, stage = index
    if block != TOTAL and block[0] == "block":
        return False
    return (district == TOTAL or kind == TOTAL) and stage in OFFER_STAGES_SHOWN
