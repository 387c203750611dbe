"""The protected figures: computed from the queries, protected, published, cached.

The counts of children and referrals go into ``disclosure.Cube``s over *all* districts,
target types and the whole 12-month window and are protected together (primary and secondary
suppression, ``monitoring/disclosure``). The page, the filters and every export only *select*
cells of these protected tables, so filtering never shows a cell the unfiltered page hides
and two filtered pages cannot be subtracted from each other. What each cube publishes, and
how deep single districts go, is ``monitoring/publication.py``.

The whole set takes seconds at state scale: the worker computes it (``monitoring.refresh``)
and it is kept in the cache for ``KEEP_SECONDS`` (``figure_data``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from coordination.heartbeat import FIGURES, heartbeat_record
from coordination.models import OfficeSettings
from monitoring import disclosure
from monitoring.cache import CACHE_SECONDS, KEEP_SECONDS, district_list, figures_data_key
from monitoring.dimensions import (
    Window,
    block_dimension,
    district_dimension,
    group_dimension,
    month_dimension,
    month_node,
    offer_kind_dimension,
    offer_stage_dimension,
    outcome_dimension,
    target_dimension,
)
from monitoring.disclosure import Cube, Dimension, PublishedTable, publish
from monitoring.publication import (
    DISTRICTS,
    MONTHS,
    Depth,
    choose_detail,
    flow_published,
    offers_published,
    on_time_published,
    referrals_published,
    stock_published,
    waiting_published,
)
from monitoring.queries import (
    PlaceSums,
    answered_on_time,
    district_of,
    offer_registrations,
    pending_today,
    place_sums,
    placed_per_month,
    referral_outcomes,
    registered_per_month,
    waiting_at_month_ends,
    waiting_today,
)


@dataclass
class FigureData:
    """Everything the figures page reads, counts already protected (cached as a whole)."""

    window: Window
    threshold: int
    answer_days: int
    districts: list[tuple[int, str]]
    waiting: PublishedTable  # children waiting today: district x grade/age group under target type
    pending: PublishedTable  # referrals pending today: institution district x grade/age group
    registered: PublishedTable  # month x district x target type
    placed: PublishedTable  # month x district x target type
    stock: PublishedTable  # waiting at the end of each month (separate months) x district x target
    referrals: PublishedTable  # period x institution district x target type x outcome
    on_time: PublishedTable  # period x institution district x target type: answered within target
    # Free and reserved places summed three ways (see ``PlaceSums``).
    places: PlaceSums = field(default_factory=lambda: PlaceSums({}, {}, {}, {}))
    # Offer registrations: period x offer district x kind of offer x stage (None: computed
    # before the offers app, from an older cache entry).
    offers: PublishedTable | None = None
    computed_at: dt.datetime | None = None


def figure_data(
    today: dt.date | None = None,
    districts: list[tuple[int, str]] | None = None,
    *,
    refresh: bool = False,
) -> FigureData:
    """The protected cubes for the 12 months up to ``today``: the cached set, else (or with
    ``refresh``) computed now and cached for ``KEEP_SECONDS`` with the time it was computed.

    ``districts`` (id, name) saves the query when the caller has them already."""
    today = today or timezone.localdate()
    office = OfficeSettings.current()
    threshold = disclosure.effective_threshold(office.suppression_threshold)
    if districts is None:
        districts = district_list()
    key = figures_data_key(today, threshold, office.reminder_1_days, districts)
    data = None if refresh else cache.get(key)
    if data is None:
        data = compute_data(Window.ending(today), threshold, office.reminder_1_days, districts)
        data.computed_at = timezone.now()
        # The data first, then the stamp that page keys are made of (a page never names a
        # computation that is not stored).
        cache.set(key, data, KEEP_SECONDS)
        # Expires before the data: a page whose stamp is there finds the data too.
        cache.set(f"{key}:stamp", data.computed_at, KEEP_SECONDS - CACHE_SECONDS)
        heartbeat_record(FIGURES, at=data.computed_at)
    return data


def compute_data(
    window: Window, threshold: int, answer_days: int, districts: list[tuple[int, str]]
) -> FigureData:
    """Query the counts, protect them in linked cubes (as much detail per target type as
    costs none of the city's figures) and publish the tables the pages read."""
    district_ids = [d for d, _name in districts]
    district = district_of(district_ids)
    month_dim, district_dim = month_dimension(window), district_dimension(district_ids)
    target_dim, group_dim = target_dimension(), group_dimension()
    waiting_counts, current_stock = waiting_today(window, district)
    stock = waiting_at_month_ends(window, district, current_stock)
    pending_counts = pending_today(district)
    registered = registered_per_month(window, district)
    placed = placed_per_month(window, district)
    outcomes = referral_outcomes(window, district)
    on_time = answered_on_time(window, district, answer_days)
    places = place_sums()
    offer_counts = offer_registrations(window, district)

    block_dim = block_dimension()
    current = month_node(window.current)
    month_of_stock = Dimension("month", [month_node(m) for m in window.months], additive=False)
    t = threshold

    def waiting(depth: Depth) -> list[Cube]:
        cubes = [
            Cube(
                "waiting",
                [district_dim, group_dim],
                waiting_counts,
                threshold=t,
                fixed={"month": current},
                published=partial(waiting_published, depth),
            ),
            Cube(
                "waiting",
                [month_of_stock, district_dim, target_dim],
                stock,
                threshold=t,
                published=partial(stock_published, current, depth),
            ),
        ]
        disclosure.protect(cubes)
        return cubes

    def single(name: str, dims: list[Dimension], counts: Mapping[Any, int], rule: Any) -> Any:
        def build(depth: Depth) -> list[Cube]:
            cube = Cube(name, dims, counts, threshold=t, published=partial(rule, depth))
            disclosure.protect(cube)
            return [cube]

        return build

    now_waiting, stock_cube = choose_detail(waiting, [2, 1, 0])
    (pending,) = choose_detail(
        single("pending", [district_dim, group_dim], pending_counts, waiting_published),
        [2, 1, 0],
    )
    flow_dims = [month_dim, district_dim, target_dim]
    flow_levels = [MONTHS | DISTRICTS, MONTHS, DISTRICTS, 0]
    (registered_cube,) = choose_detail(
        single("registered", flow_dims, registered, flow_published), flow_levels
    )
    (placed_cube,) = choose_detail(single("placed", flow_dims, placed, flow_published), flow_levels)
    outcome_dims = [block_dim, district_dim, target_dim, outcome_dimension()]
    (referrals,) = choose_detail(
        single("referrals", outcome_dims, outcomes, referrals_published), [1, 0]
    )
    (answered,) = choose_detail(
        single(
            "answered_on_time", [block_dim, district_dim, target_dim], on_time, on_time_published
        ),
        [1, 0],
    )
    offers_cube = Cube(
        "offer_registrations",
        [block_dim, district_dim, offer_kind_dimension(), offer_stage_dimension()],
        offer_counts,
        threshold=t,
        published=offers_published,
    )
    disclosure.protect(offers_cube)
    return FigureData(
        window=window,
        threshold=threshold,
        answer_days=answer_days,
        districts=districts,
        waiting=publish(now_waiting),
        pending=publish(pending),
        registered=publish(registered_cube),
        placed=publish(placed_cube),
        stock=publish(stock_cube),
        referrals=publish(referrals),
        on_time=publish(answered),
        places=places,
        offers=publish(offers_cube),
    )
