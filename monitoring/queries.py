"""The figures' queries: one function per cube, counts by leaf categories, nothing else.

Every count comes from an aggregate query (``values()`` + ``annotate(Count/Sum)``) over plain
columns: target type, grade or age group, district, dates, states. No encrypted column is
read, nothing is decrypted, no case is loaded as an object. The counts go into the cubes of
``monitoring.computation``, which protects them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models import DateField as DateFieldType
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from cases.models import (
    WAITING_STATES,
    Case,
    CloseReason,
    TargetType,
)
from coordination.workdays import working_days_between
from monitoring.dimensions import (
    ACCEPTED,
    EXPIRED,
    GROUP_TARGET,
    OFFER_CONFIRMED_ONLY,
    OFFER_DECLINED,
    OFFER_REQUESTED,
    OFFER_STARTED,
    OFFER_WITHDRAWN,
    TARGETS,
    UNKNOWN_DISTRICT,
    WITHDRAWN,
    Window,
    group_node,
    leaf_group,
    month_node,
    offer_kind_node,
    reason_node,
    start_of_day,
    target_node,
)
from offers.models import OfferRegistration, RegistrationState
from referrals.models import (
    Places,
    Referral,
    ReferralState,
    target_for_kind,
)

# --- database expressions -----------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class DaysBetween(Func):
    """Whole days from ``start`` to ``end`` (two dates)."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = IntegerField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra,
        )


def date_value(value: dt.date) -> Value:
    return Value(value, output_field=DateFieldType())


def use_percentile_cont() -> bool:
    """Whether the database computes percentiles itself (PostgreSQL)."""
    return connection.vendor == "postgresql"


def counted_cases() -> QuerySet[Case]:
    """Every case that is a real child (duplicates closed as such are left out)."""
    return Case.objects.exclude(close_reason=CloseReason.DUPLICATE).order_by()


def waiting_at(day: dt.date) -> Q:
    """Registered by ``day``, without a place since then or earlier, neither placed nor
    closed by then."""
    return (
        Q(waiting_since__lte=day, created_at__lt=start_of_day(day + dt.timedelta(days=1)))
        & (Q(placed_on__isnull=True) | Q(placed_on__gt=day))
        & (Q(closed_on__isnull=True) | Q(closed_on__gt=day))
    )


@lru_cache(maxsize=512)
def month_start(value: dt.date | dt.datetime) -> dt.date:
    # Cached: called once per aggregate row (tens of thousands in a state), with a dozen
    # distinct months; the time zone conversion was a fifth of the figures' own time.
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.replace(day=1)


@dataclass
class PlaceSums:
    """Free and reserved places of active institutions, summed once when the figures are
    computed (a state has tens of thousands of rows; a page only reads sums).

    Per district the sums are one JSON text each (``district``): a page reads a few
    districts, and hundreds of texts load from the cache many times faster than the
    thousands of small tuples they stand for."""

    by_group: dict[tuple[str, str], tuple[int, int]]  # (target type, group), every district
    by_target: dict[str, tuple[int, int]]  # every district
    by_kind_total: dict[str, tuple[int, int]]  # every district
    # district id -> {"target": {t: [free, reserved]}, "kind": {k: [...]}, "group": [[t, g, f, r]]}
    per_district: dict[int | None, str]

    def district(self, district_id: int | None) -> dict[str, Any]:
        text = self.per_district.get(district_id)
        return json.loads(text) if text else {"target": {}, "kind": {}, "group": []}

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int | None, str, int, int]]) -> PlaceSums:
        """From (kind, district, group, free, reserved) rows."""
        every: tuple[dict[Any, list[int]], ...] = tuple(
            defaultdict(lambda: [0, 0]) for _ in range(3)
        )
        per: dict[Any, tuple[dict[Any, list[int]], ...]] = defaultdict(
            lambda: tuple(defaultdict(lambda: [0, 0]) for _ in range(3))
        )
        target_of: dict[str, str] = {}
        for kind, district_id, group, free, reserved in rows:
            target = target_of.get(kind) or target_of.setdefault(kind, target_for_kind(kind))
            leaf = (target, leaf_group(target, group))
            mine = per[district_id]
            for sink, key in (
                (every[0], leaf),
                (every[1], target),
                (every[2], kind),
                (mine[0], target),
                (mine[1], kind),
                (mine[2], leaf),
            ):
                sink[key][0] += free
                sink[key][1] += reserved

        def frozen(d: Mapping[Any, list[int]]) -> dict[Any, tuple[int, int]]:
            return {k: (v[0], v[1]) for k, v in d.items()}

        return cls(
            by_group=frozen(every[0]),
            by_target=frozen(every[1]),
            by_kind_total=frozen(every[2]),
            per_district={
                d: json.dumps(
                    {
                        "target": t,
                        "kind": k,
                        "group": [[*leaf, *v] for leaf, v in g.items()],
                    }
                )
                for d, (t, k, g) in per.items()
            },
        )


# --- one function per cube: counts by leaf categories --------------------------------------

Counts = dict[tuple[Any, ...], int]
# Maps a district id to its node (ids not in the figures' list of districts: "not yet known").
DistrictOf = Callable[[int | None], tuple[str, int | None]]


def district_of(districts: Iterable[int]) -> DistrictOf:
    """The district node of an id; one the figures do not list is "not yet known"."""
    known = set(districts)

    def district(value: int | None) -> tuple[str, int | None]:
        return ("district", value) if value in known else UNKNOWN_DISTRICT

    return district


def waiting_today(window: Window, district: DistrictOf) -> tuple[Counts, Counts]:
    """Children waiting today: by district and grade / age group, and (the current month of
    the stock) by district and target type."""
    waiting_counts: Counts = defaultdict(int)
    current_stock: Counts = defaultdict(int)
    rows: Any = (
        counted_cases()
        .filter(state__in=WAITING_STATES)
        .values("district_id", "target_type", "wanted_group")
        .annotate(n=Count("id"))
    )
    for row in rows:
        target = row["target_type"] if row["target_type"] in TARGETS else TargetType.SCHOOL
        d = district(row["district_id"])
        waiting_counts[(d, group_node(target, row["wanted_group"]))] += row["n"]
        current_stock[(month_node(window.current), d, target_node(target))] += row["n"]
    return waiting_counts, current_stock


def pending_today(district: DistrictOf) -> Counts:
    """Referrals pending today, by the institution's district and the referral's group."""
    pending_counts: Counts = defaultdict(int)
    rows = (
        Referral.objects.filter(state=ReferralState.PENDING)
        .order_by()
        .values("institution__district_id", "group")
        .annotate(n=Count("id"))
    )
    for row in rows:
        target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
        d = district(row["institution__district_id"])
        pending_counts[(d, group_node(target, row["group"]))] += row["n"]
    return pending_counts


def registered_per_month(window: Window, district: DistrictOf) -> Counts:
    """Children registered, by month, district and target type."""
    in_window = {month_node(m) for m in window.months}
    registered: Counts = defaultdict(int)
    rows = (
        counted_cases()
        .filter(created_at__gte=start_of_day(window.start))
        .annotate(month=TruncMonth("created_at"))
        .values("month", "district_id", "target_type")
        .annotate(n=Count("id"))
    )
    for row in rows:
        node = month_node(month_start(row["month"]))
        if node in in_window:
            registered[(node, district(row["district_id"]), target_of_row(row))] += row["n"]
    return registered


def placed_per_month(window: Window, district: DistrictOf) -> Counts:
    """Children placed (first day attended), by month, district and target type."""
    in_window = {month_node(m) for m in window.months}
    placed: Counts = defaultdict(int)
    rows = (
        counted_cases()
        .filter(placed_on__gte=window.start, placed_on__lte=window.today)
        .annotate(month=TruncMonth("placed_on"))
        .values("month", "district_id", "target_type")
        .annotate(n=Count("id"))
    )
    for row in rows:
        node = month_node(month_start(row["month"]))
        if node in in_window:
            placed[(node, district(row["district_id"]), target_of_row(row))] += row["n"]
    return placed


def waiting_at_month_ends(window: Window, district: DistrictOf, current_stock: Counts) -> Counts:
    """Children waiting at the end of each past month, by district and target type; the
    current month is today's count (``current_stock`` from ``waiting_today``)."""
    past = window.months[:-1]
    ends = {f"m{i}": window.month_end(m) for i, m in enumerate(past)}
    rows: Any = (
        counted_cases()
        .filter(
            waiting_since__lte=window.month_end(past[-1]),
            created_at__lt=start_of_day(window.current),
        )
        .filter(Q(placed_on__isnull=True) | Q(placed_on__gt=window.month_end(past[0])))
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gt=window.month_end(past[0])))
        .values("district_id", "target_type")
        .annotate(**{name: Count("id", filter=waiting_at(day)) for name, day in ends.items()})
    )
    stock: Counts = defaultdict(int, current_stock)
    for row in rows:
        for i, month in enumerate(past):
            if row[f"m{i}"]:
                stock[(month_node(month), district(row["district_id"]), target_of_row(row))] += row[
                    f"m{i}"
                ]
    return stock


def referral_outcomes(window: Window, district: DistrictOf) -> Counts:
    """Referrals made in the window and answered or closed, by block of months, the
    institution's district, target type and outcome (decline reasons under declined)."""
    outcomes: Counts = defaultdict(int)
    rows = (
        Referral.objects.filter(created_at__gte=start_of_day(window.start))
        .exclude(state=ReferralState.PENDING)
        .order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month", "institution__district_id", "group", "state", "decline_reason")
        .annotate(n=Count("id"))
    )
    for row in rows:
        month = month_start(row["month"])
        if month not in window.months:
            continue
        outcome = outcome_node(row["state"], row["decline_reason"])
        target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
        index = (window.block_of(month), district(row["institution__district_id"]))
        outcomes[(*index, target_node(target), outcome)] += row["n"]
    return outcomes


def answered_on_time(window: Window, district: DistrictOf, answer_days: int) -> Counts:
    """Referrals made in the window and answered within ``answer_days`` working days, by
    block of months, the institution's district and target type."""
    on_time: Counts = defaultdict(int)
    rows = (
        Referral.objects.filter(
            created_at__gte=start_of_day(window.start), answered_at__isnull=False
        )
        .order_by()
        .annotate(
            month=TruncMonth("created_at"),
            made=TruncDate("created_at"),
            answered=TruncDate("answered_at"),
        )
        .values("month", "made", "answered", "institution__district_id", "group")
        .annotate(n=Count("id"))
    )
    for row in rows:
        month = month_start(row["month"])
        if month not in window.months:
            continue
        if working_days_between(row["made"], row["answered"]) <= answer_days:
            target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
            index = (window.block_of(month), district(row["institution__district_id"]))
            on_time[(*index, target_node(target))] += row["n"]
    return on_time


def place_sums() -> PlaceSums:
    """Free and reserved places of active institutions (institutions, not children), summed
    per kind, district and group."""
    return PlaceSums.of(
        (
            row["institution__kind"],
            row["institution__district_id"],
            row["group"],
            row["free"] or 0,
            row["reserved"] or 0,
        )
        for row in Places.objects.filter(institution__is_active=True)
        .order_by()
        .values("institution__kind", "institution__district_id", "group")
        .annotate(free=Sum("free"), reserved=Sum("reserved"))
    )


def target_of_row(row: Mapping[str, Any]) -> tuple[str, str]:
    target = row["target_type"]
    return target_node(target if target in TARGETS else TargetType.SCHOOL)


def outcome_node(state: str, reason: str) -> Any:
    if state in (ReferralState.ACCEPTED, ReferralState.ENROLLED, ReferralState.NO_SHOW):
        return ACCEPTED
    if state == ReferralState.DECLINED:
        return reason_node(reason)
    if state == ReferralState.EXPIRED:
        return EXPIRED
    return WITHDRAWN


OFFER_STAGE = {
    RegistrationState.REQUESTED: OFFER_REQUESTED,
    RegistrationState.CONFIRMED: OFFER_CONFIRMED_ONLY,
    RegistrationState.STARTED: OFFER_STARTED,
    RegistrationState.ENDED: OFFER_STARTED,
    RegistrationState.DROPPED_OUT: OFFER_STARTED,
    RegistrationState.DECLINED: OFFER_DECLINED,
    RegistrationState.WITHDRAWN: OFFER_WITHDRAWN,
}


def offer_registrations(window: Window, district: DistrictOf) -> Counts:
    """Registrations for offers made in the window, by block of months, the offer's
    district, the kind of offer and how far they got (plain columns only)."""
    counts: Counts = defaultdict(int)
    rows = (
        OfferRegistration.objects.filter(created_at__gte=start_of_day(window.start))
        .exclude(case__close_reason=CloseReason.DUPLICATE)
        .order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month", "offer__district_id", "offer__kind", "state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        month = month_start(row["month"])
        if month not in window.months:
            continue
        index = (window.block_of(month), district(row["offer__district_id"]))
        stage = OFFER_STAGE.get(row["state"], OFFER_WITHDRAWN)
        counts[(*index, offer_kind_node(row["offer__kind"]), stage)] += row["n"]
    return counts
