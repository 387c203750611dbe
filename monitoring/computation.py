"""The protected figures: computed from the queries, protected, published, cached.

The counts of children and referrals go into ``disclosure.Cube``s over *all* districts,
target types and the whole 12-month window and are protected together (primary and secondary
suppression, ``monitoring/disclosure``). The page, the filters and every export only *select*
cells of these protected tables, so filtering never shows a cell the unfiltered page hides
and two filtered pages cannot be subtracted from each other. What each cube publishes, and
how deep single districts go, is ``monitoring/publication.py``.

The whole set takes seconds at state scale: the worker computes it (``monitoring.refresh``)
and it is kept in the cache for ``KEEP_SECONDS`` (``figure_data``). The protection runs in
independent parts, each reused while its counts stay the same and the others in parallel
(``monitoring.protection``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.cache import cache
from django.utils import timezone

from coordination.heartbeat import FIGURES, heartbeat_record
from coordination.models import OfficeSettings
from monitoring import disclosure, protection
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
from monitoring.disclosure import Dimension, PublishedTable
from monitoring.publication import (
    DISTRICTS,
    MONTHS,
    flow_published,
    offers_published,
    on_time_published,
    referrals_published,
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
    # The parts protected for this set (the others were reused unchanged, see
    # ``monitoring.protection``).
    computed_parts: list[str] = field(default_factory=list)


def figure_data(
    today: dt.date | None = None,
    districts: list[tuple[int, str]] | None = None,
    *,
    refresh: bool = False,
    processes: int = 1,
) -> FigureData:
    """The protected cubes for the 12 months up to ``today``: the cached set, else (or with
    ``refresh``) computed now and cached for ``KEEP_SECONDS`` with the time it was computed.

    ``districts`` (id, name) saves the query when the caller has them already; the worker
    protects them in ``processes`` processes (``monitoring.protection``), a request in its
    own."""
    today = today or timezone.localdate()
    office = OfficeSettings.current()
    threshold = disclosure.effective_threshold(office.suppression_threshold)
    if districts is None:
        districts = district_list()
    key = figures_data_key(today, threshold, office.reminder_1_days, districts)
    data = None if refresh else cache.get(key)
    if data is None:
        data = compute_data(
            Window.ending(today),
            threshold,
            office.reminder_1_days,
            districts,
            processes=processes,
        )
        data.computed_at = timezone.now()
        # The data first, then the stamp that page keys are made of (a page never names a
        # computation that is not stored).
        cache.set(key, data, KEEP_SECONDS)
        # Expires before the data: a page whose stamp is there finds the data too.
        cache.set(f"{key}:stamp", data.computed_at, KEEP_SECONDS - CACHE_SECONDS)
        heartbeat_record(FIGURES, at=data.computed_at)
    return data


def compute_data(
    window: Window,
    threshold: int,
    answer_days: int,
    districts: list[tuple[int, str]],
    *,
    processes: int = 1,
    reuse: bool = True,
) -> FigureData:
    """Query the counts, protect them in linked cubes (as much detail per target type as
    costs none of the city's figures) and publish the tables the pages read.

    The protection runs in independent parts (``monitoring.protection``): a part whose input
    has not changed since a computation kept it is reused (``reuse``), the others are
    protected in ``processes`` processes at once."""
    outcome = protection.protect_parts(
        figure_parts(window, threshold, answer_days, districts), processes=processes, reuse=reuse
    )
    tables = outcome.tables
    now_waiting, stock = tables["waiting"]
    return FigureData(
        window=window,
        threshold=threshold,
        answer_days=answer_days,
        districts=districts,
        waiting=now_waiting,
        pending=tables["pending"][0],
        registered=tables["registered"][0],
        placed=tables["placed"][0],
        stock=stock,
        referrals=tables["referrals"][0],
        on_time=tables["answered_on_time"][0],
        places=place_sums(),
        offers=tables["offer_registrations"][0],
        computed_parts=outcome.computed,
    )


def figure_parts(
    window: Window, threshold: int, answer_days: int, districts: list[tuple[int, str]]
) -> list[protection.Part]:
    """The counts of every cube (the queries), as the independent protection problems."""
    district_ids = [d for d, _name in districts]
    district = district_of(district_ids)
    month_dim, district_dim = month_dimension(window), district_dimension(district_ids)
    target_dim, group_dim = target_dimension(), group_dimension()
    waiting_counts, current_stock = waiting_today(window, district)
    stock = waiting_at_month_ends(window, district, current_stock)
    block_dim = block_dimension()
    month_of_stock = Dimension("month", [month_node(m) for m in window.months], additive=False)
    t = threshold
    flow_dims = [month_dim, district_dim, target_dim]
    flow_levels = [MONTHS | DISTRICTS, MONTHS, DISTRICTS, 0]
    single = protection.single_part
    return [
        protection.waiting_part(
            t,
            district_dim,
            group_dim,
            target_dim,
            month_of_stock,
            month_node(window.current),
            waiting_counts,
            stock,
        ),
        single(
            "pending",
            t,
            [district_dim, group_dim],
            pending_today(district),
            waiting_published,
            [2, 1, 0],
        ),
        single(
            "registered",
            t,
            flow_dims,
            registered_per_month(window, district),
            flow_published,
            flow_levels,
        ),
        single(
            "placed", t, flow_dims, placed_per_month(window, district), flow_published, flow_levels
        ),
        single(
            "referrals",
            t,
            [block_dim, district_dim, target_dim, outcome_dimension()],
            referral_outcomes(window, district),
            referrals_published,
            [1, 0],
        ),
        single(
            "answered_on_time",
            t,
            [block_dim, district_dim, target_dim],
            answered_on_time(window, district, answer_days),
            on_time_published,
            [1, 0],
        ),
        protection.plain_part(
            "offer_registrations",
            t,
            [block_dim, district_dim, offer_kind_dimension(), offer_stage_dimension()],
            offer_registrations(window, district),
            offers_published,
        ),
    ]
