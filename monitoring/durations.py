"""Medians and 90th percentiles of days (to placement, without a place).

Computed in the database with PostgreSQL's ``percentile_cont``; on SQLite (development) from
a list of day counts, plain integers. The page shows them only over a published count of at
least the threshold (``disclosure.statistic_visible``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import (
    F,
    IntegerField,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate

from cases.models import (
    WAITING_STATES,
    Case,
)
from monitoring import disclosure
from monitoring.cache import CACHE_SECONDS, CACHE_VERSION
from monitoring.dimensions import PERIODS, TARGETS, Window, month_node, target_node
from monitoring.disclosure import TOTAL
from monitoring.queries import (
    DaysBetween,
    PercentileCont,
    counted_cases,
    date_value,
    use_percentile_cont,
    waiting_at,
)

# --- medians and percentiles ----------------------------------------------------------------

FRACTIONS = (0.5, 0.9)


@dataclass
class Durations:
    """Medians and 90th percentiles of days, by (month or period node, target node)."""

    to_placement: dict[tuple[Any, Any], tuple[float | None, float | None]]
    without_place: dict[tuple[Any, Any], tuple[float | None, float | None]]


def durations(window: Window, district: int | None) -> Durations:
    """Days from registration to placement (children placed in a month or period) and days
    without a place (children waiting at the end of a month, or today), per target type,
    for one district or all (cached)."""
    key = f"figures:{CACHE_VERSION}:durations:{window.today.isoformat()}:{district or '-'}"
    result = cache.get(key)
    if result is None:
        base = counted_cases()
        if district is not None:
            base = base.filter(district_id=district)
        compute = _durations_in_database if use_percentile_cont() else _durations_in_python
        result = compute(base, window)
        cache.set(key, result, CACHE_SECONDS)
    return result


def _spans(window: Window) -> list[tuple[Any, dt.date, dt.date]]:
    """Each month and each period of the window with its first and last day."""
    spans = [(month_node(m), m, window.month_end(m)) for m in window.months]
    for period in PERIODS:
        months = window.months_of(period)
        spans.append((window.period_node(period), months[0], window.today))
    return spans


def _target_filters() -> list[tuple[Any, Q]]:
    return [(TOTAL, Q()), *((target_node(t), Q(target_type=t)) for t in TARGETS)]


def _to_placement_days() -> DaysBetween:
    return DaysBetween(F("placed_on"), TruncDate("created_at"))


def _durations_in_database(base: QuerySet[Case], window: Window) -> Durations:
    to_placement: dict[str, Any] = {}
    names: dict[str, tuple[Any, Any, int]] = {}
    for s, (node, first, last) in enumerate(_spans(window)):
        for t, (target, target_q) in enumerate(_target_filters()):
            for f, fraction in enumerate(FRACTIONS):
                name = f"p{s}_{t}_{f}"
                names[name] = (node, target, f)
                to_placement[name] = PercentileCont(
                    _to_placement_days(),
                    fraction,
                    filter=Q(placed_on__gte=first, placed_on__lte=last) & target_q,
                )
    placed = base.filter(placed_on__gte=window.start, placed_on__lte=window.today)
    result_a = _collect(placed.aggregate(**to_placement), names)

    without: dict[str, Any] = {}
    names_b: dict[str, tuple[Any, Any, int]] = {}
    for i, month in enumerate(window.months):
        day = window.month_end(month)
        when = Q(state__in=WAITING_STATES) if month == window.current else waiting_at(day)
        for t, (target, target_q) in enumerate(_target_filters()):
            for f, fraction in enumerate(FRACTIONS):
                name = f"w{i}_{t}_{f}"
                names_b[name] = (month_node(month), target, f)
                without[name] = PercentileCont(
                    DaysBetween(date_value(day), F("waiting_since")),
                    fraction,
                    filter=when & target_q,
                )
    result_b = _collect(base.aggregate(**without), names_b)
    return Durations(to_placement=result_a, without_place=result_b)


def _collect(
    values: Mapping[str, float | None], names: Mapping[str, tuple[Any, Any, int]]
) -> dict[tuple[Any, Any], tuple[float | None, float | None]]:
    out: dict[tuple[Any, Any], list[float | None]] = defaultdict(lambda: [None, None])
    for name, (node, target, f) in names.items():
        value = values.get(name)
        out[(node, target)][f] = None if value is None else float(value)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _durations_in_python(base: QuerySet[Case], window: Window) -> Durations:
    """SQLite: the same figures from lists of day counts (integers, no personal data)."""
    spans = _spans(window)
    days: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    rows = (
        base.filter(placed_on__gte=window.start, placed_on__lte=window.today)
        .annotate(days=_to_placement_days())
        .values_list("target_type", "placed_on", "days")
    )
    for target, placed_on, count in rows:
        if placed_on is None or count is None:
            continue
        for node, first, last in spans:
            if first <= placed_on <= last:
                days[(node, TOTAL)].append(count)
                days[(node, target_node(target))].append(count)
    to_placement = _percentiles(days)

    ends = {f"d{i}": window.month_end(m) for i, m in enumerate(window.months)}
    annotations = {}
    for i, month in enumerate(window.months):
        day = ends[f"d{i}"]
        when = Q(state__in=WAITING_STATES) if month == window.current else waiting_at(day)
        annotations[f"d{i}"] = _conditional_days(when, day)
    first_end = window.month_end(window.start)
    could_wait = (Q(placed_on__isnull=True) | Q(placed_on__gt=first_end)) & (
        Q(closed_on__isnull=True) | Q(closed_on__gt=first_end)
    )
    waiting_rows = (
        base.filter(waiting_since__lte=window.today)
        .filter(Q(state__in=WAITING_STATES) | could_wait)
        .annotate(**annotations)
        .values_list("target_type", *ends)
    )
    days_b: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for target, *counts in waiting_rows:
        for month, count in zip(window.months, counts, strict=True):
            if count is not None:
                days_b[(month_node(month), TOTAL)].append(count)
                days_b[(month_node(month), target_node(target))].append(count)
    return Durations(to_placement=to_placement, without_place=_percentiles(days_b))


def _conditional_days(when: Q, day: dt.date) -> Any:
    from django.db.models import Case as When_
    from django.db.models import When

    return When_(
        When(when, then=DaysBetween(date_value(day), F("waiting_since"))),
        default=None,
        output_field=IntegerField(),
    )


def _percentiles(
    days: Mapping[tuple[Any, Any], list[int]],
) -> dict[tuple[Any, Any], tuple[float | None, float | None]]:
    return {
        key: (
            disclosure.percentile(values, FRACTIONS[0]),
            disclosure.percentile(values, FRACTIONS[1]),
        )
        for key, values in days.items()
    }
