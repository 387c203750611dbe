"""Anonymised figures for management: capacity, placement, referrals and their trends.

How the figures are made
------------------------
* Every count comes from an aggregate query (``values()`` + ``annotate(Count/Sum)``) over plain
  columns: target type, grade or age group, district, dates, states. No encrypted column is
  read, nothing is decrypted, no case is loaded as an object.
* The counts of children and referrals go into ``disclosure.Cube``s over *all* districts,
  target types and the whole 12-month window, and are protected together (primary and
  secondary suppression, ``coordination/disclosure.py``). The page, the filters and every
  export only *select* cells of these protected cubes, so filtering never shows a cell the
  unfiltered page hides and two filtered pages cannot be subtracted from each other.
* Each cube publishes only some of its cells: single districts by target type and age band
  for whole periods; single months, grades and decline reasons for the whole city. Per target
  type, the district (and month) breakdown is only as detailed as it costs none of the city's
  figures (``_detail``); what is left out is shown as "/".
* Medians and 90th percentiles of days are computed in the database with PostgreSQL's
  ``percentile_cont``; on SQLite (development) from a list of day counts, plain integers.
  They are shown only over a published count of at least the threshold.
* Free and reserved places describe institutions, not children, and are shown in full.
* The protected cubes take seconds to compute at state scale (hundreds of districts), so no
  request waits for them: the worker computes them (``refresh_figures``, every few minutes
  from beat, or queued by ``figures_header_kept_fresh`` when the figures are missing or older
  than ``CACHE_SECONDS``) and keeps them for ``KEEP_SECONDS``; until a fresh set is ready the
  page shows the last one, with the time it was computed. Only when none is cached at all does
  the page say that the figures are being prepared. Exports and the print view compute
  missing figures themselves.
* Pages and exports are cached under a key holding the date, the thresholds, the districts,
  the filters, the language and the time the figures were computed. ``figures_header`` is
  cheap (no figure computed), so a cached page fragment or export never loads the page object.
* A state has hundreds of districts: the page shows them ``DISTRICTS_PER_PAGE`` at a time
  (in alphabetical order, the totals always for all of them); the exports and the print view
  hold every district. Paging only selects rows of the same protected cubes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache, partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models import DateField as DateFieldType
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from cases.models import (
    WAITING_STATES,
    Case,
    CloseReason,
    Group,
    TargetType,
    groups_for_target,
)
from coordination import charts, disclosure
from coordination.disclosure import SYMBOL, TOTAL, Cube, Dimension
from coordination.forms import database_ids
from coordination.models import District, OfficeSettings
from coordination.workdays import working_days_between
from referrals.models import (
    DeclineReason,
    Institution,
    InstitutionKind,
    Places,
    Referral,
    ReferralState,
    target_for_kind,
)

logger = logging.getLogger(__name__)

# Figures older than this are recomputed (in the background; beat refreshes them sooner).
CACHE_SECONDS = 300
# Computed figures are kept, and shown while a fresh set is computed, this long.
KEEP_SECONDS = 3600
# At most one computation at a time; the lock expires should a worker die in the middle.
COMPUTE_LOCK_SECONDS = 900
# Pages and exports of one computation: a newer one is there after CACHE_SECONDS.
PAGE_SECONDS = 2 * CACHE_SECONDS
# After a computation failed, the next one is queued no sooner than this.
FAILED_BACKOFF_SECONDS = 300
# Districts per page of the figures page (the exports and the print view hold all of them).
DISTRICTS_PER_PAGE = 25
WINDOW_MONTHS = 12
PERIODS = ("12", "6", "3")
NOT_APPLICABLE = "\u2013"  # en dash: none or not applicable
NOT_SHOWN = "/"  # not broken down this far (too few children), as in official statistics
CACHE_VERSION = "v3"

PERIOD_LABELS = {
    "12": _("last 12 months"),
    "6": _("last 6 months"),
    "3": _("last 3 months"),
}

# Node names of the cube dimensions: (kind, value) pairs, so a node says what it stands for.
P6 = ("period", "6")
P3 = ("period", "3")
EARLY_BLOCK = ("block", "months 1-6")
MIDDLE_BLOCK = ("block", "months 7-9")
UNKNOWN_DISTRICT = ("district", None)
ACCEPTED = ("outcome", "accepted")
DECLINED = ("outcome", "declined")
EXPIRED = ("outcome", "expired")
WITHDRAWN = ("outcome", "withdrawn")
TARGETS = [t.value for t in TargetType]
GROUP_TARGET = {g: t for t in TARGETS for g in groups_for_target(t)}


def _month_node(month: dt.date) -> tuple[str, str]:
    return ("month", month.strftime("%Y-%m"))


def _target_node(target: str) -> tuple[str, str]:
    return ("target", target)


def _group_node(target: str, group: str) -> tuple[str, str]:
    if GROUP_TARGET.get(group) != target:
        group = f"{target}:?"
    return ("group", group)


def _leaf_group(target: str, group: str) -> str:
    return group if GROUP_TARGET.get(group) == target else f"{target}:?"


def _reason_node(reason: str) -> tuple[str, str]:
    return ("reason", reason if reason in DeclineReason.values else DeclineReason.OTHER.value)


# --- filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureFilters:
    """What the reader narrowed the page to: a period, a district, a target type."""

    period: str = "12"
    district: int | None = None
    target: str = ""

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (only those that are set)."""
        params = {"period": self.period}
        if self.district is not None:
            params["district"] = str(self.district)
        if self.target:
            params["target"] = self.target
        return params

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "district": self.district, "target": self.target}

    @property
    def key(self) -> str:
        return f"{self.period}:{self.district or '-'}:{self.target or '-'}"


def parse_filters(params: Mapping[str, Any]) -> FigureFilters:
    """Filters from query parameters; an unknown value falls back to "all"."""
    period = str(params.get("period") or "12")
    target = str(params.get("target") or "")
    raw_district = str(params.get("district") or "")
    return FigureFilters(
        period=period if period in PERIODS else "12",
        district=next(iter(database_ids([raw_district])), None),
        target=target if target in TARGETS else "",
    )


# --- the window of months -----------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The last 12 months up to today, oldest first; the last one is the current month."""

    today: dt.date
    months: tuple[dt.date, ...]

    @classmethod
    def ending(cls, today: dt.date) -> Window:
        first = today.replace(day=1)
        months = []
        for back in range(WINDOW_MONTHS - 1, -1, -1):
            year, month = divmod(first.year * 12 + first.month - 1 - back, 12)
            months.append(dt.date(year, month + 1, 1))
        return cls(today=today, months=tuple(months))

    @property
    def start(self) -> dt.date:
        return self.months[0]

    @property
    def current(self) -> dt.date:
        return self.months[-1]

    def month_end(self, month: dt.date) -> dt.date:
        """The last day of a month, or today for the current month."""
        if month == self.current:
            return self.today
        year, m = divmod(month.year * 12 + month.month, 12)
        return dt.date(year, m + 1, 1) - dt.timedelta(days=1)

    def months_of(self, period: str) -> tuple[dt.date, ...]:
        return self.months[-int(period) :]

    def period_node(self, period: str) -> Any:
        return {"12": TOTAL, "6": P6, "3": P3}[period]

    def block_of(self, month: dt.date) -> tuple[str, str]:
        position = self.months.index(month)
        if position < 6:
            return EARLY_BLOCK
        return MIDDLE_BLOCK if position < 9 else P3


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _month_dimension(window: Window) -> Dimension:
    """Months with the periods as subtotals: 12 = 1-6 + (6 = 7-9 + (3 = 10-12))."""
    m = [_month_node(d) for d in window.months]
    return Dimension("month", {TOTAL: [*m[:6], P6], P6: [*m[6:9], P3], P3: m[9:]})


def _block_dimension() -> Dimension:
    """The same periods without single months (referral outcomes per period)."""
    return Dimension("block", {TOTAL: [EARLY_BLOCK, P6], P6: [MIDDLE_BLOCK, P3]})


def _district_dimension(district_ids: Iterable[int]) -> Dimension:
    return Dimension("district", [*(("district", d) for d in district_ids), UNKNOWN_DISTRICT])


def _target_dimension() -> Dimension:
    return Dimension("target", [_target_node(t) for t in TARGETS])


BAND_LABELS = {
    "kita_u3": _("Kita: under 3"),
    "kita_3": _("Kita: 3 to school entry"),
    "primary": _("Primary (grades 1 to 4)"),
    "lower_secondary": _("Lower secondary (grades 5 to 10)"),
    "upper_secondary": _("Upper secondary (grades 11 to 13)"),
    "vocational": _("Vocational courses"),
}


def band_of(group: str) -> str:
    """The age band of a grade or age group (its own band for Kita groups); unknown groups
    get an unknown band per target type ("school:?")."""
    target = GROUP_TARGET.get(group)
    if target is None:
        return group  # "<target>:?"
    if target == TargetType.KITA:
        return group
    if target == TargetType.VOCATIONAL:
        return "vocational"
    grade = int(group[1:])
    return "primary" if grade <= 4 else "lower_secondary" if grade <= 10 else "upper_secondary"


def _groups(target: str) -> list[str]:
    return [*(g for g, t in GROUP_TARGET.items() if t == target), f"{target}:?"]


def _bands(target: str) -> list[str]:
    return list(dict.fromkeys(band_of(g) for g in _groups(target)))


def _group_dimension() -> Dimension:
    """Grade or age group under its age band under its target type (subtotals)."""
    tree: dict[Any, list[Any]] = {TOTAL: [_target_node(t) for t in TARGETS]}
    for target in TARGETS:
        tree[_target_node(target)] = [("band", b) for b in _bands(target)]
        for band in _bands(target):
            tree[("band", band)] = [("group", g) for g in _groups(target) if band_of(g) == band]
    names: dict[Any, tuple[str, Any]] = {
        _target_node(t): ("target", _target_node(t)) for t in TARGETS
    }
    return Dimension("group", tree, key_names=names)


# What each cube publishes. Single districts are shown by target type and age band and for
# whole periods; single grades, single months and decline reasons only for the whole city. How
# deep the districts go is chosen per target type (``Depth``: 2 = age bands, 1 = target type,
# 0 = not at all): as deep as it costs none of the city's figures (see ``_district_detail``).
# The cells left out stay unknown to the reader; the small ones among them are protected too.
Depth = tuple[tuple[str, int], ...]
BAND_TARGET = {band_of(g): t for g, t in GROUP_TARGET.items()} | {f"{t}:?": t for t in TARGETS}


def _depth(depth: Depth, target: Any) -> int:
    """How far single districts are broken down for a target node (TOTAL: the least)."""
    levels = dict(depth)
    return min(levels.values()) if target == TOTAL else levels[target[1]]


def _uniform(level: int) -> Depth:
    return tuple((t, level) for t in TARGETS)


def _waiting_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    district, node = index
    if district == TOTAL:
        return True
    if node == TOTAL or node[0] == "target":
        return _depth(depth, node) >= 1
    if node[0] == "band":
        return _depth(depth, _target_node(BAND_TARGET[node[1]])) >= 2
    return False


MONTHS, DISTRICTS = 1, 2  # detail levels of the flows (registered, placed): bits


def _flow_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    """City periods always; city months for all target types together always, per target
    type with the MONTHS bit; single districts for whole periods with the DISTRICTS bit."""
    month, district, target = index
    period = month == TOTAL or month[0] == "period"
    levels = dict(depth).values() if target == TOTAL else [dict(depth)[target[1]]]
    if district == TOTAL:
        return period or target == TOTAL or all(level & MONTHS for level in levels)
    return period and all(level & DISTRICTS for level in levels)


def _stock_published(current: Any, depth: Depth, index: tuple[Any, ...]) -> bool:
    """Waiting at the end of a month: the city every month, single districts only today."""
    month, district, target = index
    return district == TOTAL or (month == current and _depth(depth, target) >= 1)


def _referrals_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    block, district, target, outcome = index
    if block != TOTAL and block[0] == "block":
        return False
    if district == TOTAL:
        return True
    return _depth(depth, target) >= 1 and (outcome == TOTAL or outcome[0] != "reason")


def _on_time_published(depth: Depth, index: tuple[Any, ...]) -> bool:
    block, district, target = index
    if block != TOTAL and block[0] == "block":
        return False
    return district == TOTAL or _depth(depth, target) >= 1


def _core_hidden(cubes: Sequence[Cube], plain: Depth) -> set[tuple[int, tuple[Any, ...]]]:
    """The hidden cells that the least detailed publication publishes too (the city's
    figures): more detail must not cost any of them."""
    found = set()
    for number, cube in enumerate(cubes):
        rule = cube.published_rule  # partial(rule, ..., depth): the same rule at ``plain``
        assert isinstance(rule, partial)
        plain_rule = partial(rule.func, *rule.args[:-1], plain)
        found |= {(number, i) for i in cube.suppressed_cells() if plain_rule(i)}
    return found


def _detail(build: Any, levels: Sequence[int]) -> list[Cube]:
    """Protect cubes with as much detail per target type as costs none of the city's figures.

    ``build(depth)`` returns protected cubes; ``levels`` go from the most to the least
    detailed publication. A sparse breakdown would otherwise force city totals to be hidden
    (a column of 1s under a published total gives every 1 away); so each target type gets the
    most detailed level whose suppression hides nothing the plainest level shows.
    """
    plain = _uniform(levels[-1])
    full = build(_uniform(levels[0]))
    lost = _core_hidden(full, plain)
    if all(full[number].is_primary(index) for number, index in lost):
        return full  # only small counts themselves are hidden: nothing to gain
    best = build(plain)
    kept = _core_hidden(best, plain)
    if lost <= kept:
        return full
    chosen = dict(plain)
    for target in TARGETS:
        for level in levels[:-1]:
            trial = tuple({**chosen, target: level}.items())
            cubes = build(trial)
            if _core_hidden(cubes, plain) <= kept:
                chosen, best = dict(trial), cubes
                break
    return best


def _outcome_dimension() -> Dimension:
    reasons = [("reason", r) for r in DeclineReason.values]
    return Dimension(
        "outcome", {TOTAL: [ACCEPTED, DECLINED, EXPIRED, WITHDRAWN], DECLINED: reasons}
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


def _date(value: dt.date) -> Value:
    return Value(value, output_field=DateFieldType())


def use_percentile_cont() -> bool:
    """Whether the database computes percentiles itself (PostgreSQL)."""
    return connection.vendor == "postgresql"


def _cases() -> QuerySet[Case]:
    """Every case that is a real child (duplicates closed as such are left out)."""
    return Case.objects.exclude(close_reason=CloseReason.DUPLICATE).order_by()


def _waiting_at(day: dt.date) -> Q:
    """Registered by ``day``, without a place since then or earlier, neither placed nor
    closed by then."""
    return (
        Q(waiting_since__lte=day, created_at__lt=_start_of_day(day + dt.timedelta(days=1)))
        & (Q(placed_on__isnull=True) | Q(placed_on__gt=day))
        & (Q(closed_on__isnull=True) | Q(closed_on__gt=day))
    )


@lru_cache(maxsize=512)
def _month_start(value: dt.date | dt.datetime) -> dt.date:
    # Cached: called once per aggregate row (tens of thousands in a state), with a dozen
    # distinct months; the time zone conversion was a fifth of the figures' own time.
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.replace(day=1)


# --- the protected cubes ------------------------------------------------------------------


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
            leaf = (target, _leaf_group(target, group))
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


@dataclass
class FigureData:
    """Everything the figures page reads, counts already protected (cached as a whole)."""

    window: Window
    threshold: int
    answer_days: int
    districts: list[tuple[int, str]]
    waiting: Cube  # children waiting today: district x grade/age group under target type
    pending: Cube  # referrals pending today: institution district x grade/age group
    registered: Cube  # month x district x target type
    placed: Cube  # month x district x target type
    stock: Cube  # waiting at the end of each month (separate months) x district x target
    referrals: Cube  # period x institution district x target type x outcome
    on_time: Cube  # period x institution district x target type: answered within target
    # Free and reserved places summed three ways (see ``PlaceSums``).
    places: PlaceSums = field(default_factory=lambda: PlaceSums({}, {}, {}, {}))
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
    key = _data_key(today, threshold, office.reminder_1_days, districts)
    data = None if refresh else cache.get(key)
    if data is None:
        data = _compute_data(Window.ending(today), threshold, office.reminder_1_days, districts)
        data.computed_at = timezone.now()
        # The data first, then the stamp that page keys are made of (a page never names a
        # computation that is not stored).
        cache.set(key, data, KEEP_SECONDS)
        # Expires before the data: a page whose stamp is there finds the data too.
        cache.set(f"{key}:stamp", data.computed_at, KEEP_SECONDS - CACHE_SECONDS)
    return data


_DISTRICTS_KEY = f"figures:{CACHE_VERSION}:districts"


def district_list() -> list[tuple[int, str]]:
    """(id, name) of every district, by name: read on every figures request, so cached for
    a minute (a state has hundreds); saving or deleting a district clears it."""
    districts = cache.get(_DISTRICTS_KEY)
    if districts is None:
        districts = list(District.objects.order_by("name").values_list("id", "name"))
        cache.set(_DISTRICTS_KEY, districts, 60)
    return districts  # type: ignore[no-any-return]


@receiver([post_save, post_delete], sender=District, dispatch_uid="figures_districts")
def _districts_changed(**kwargs: Any) -> None:
    cache.delete(_DISTRICTS_KEY)


def _data_key(
    today: dt.date, threshold: int, answer_days: int, districts: list[tuple[int, str]]
) -> str:
    return (
        f"figures:{CACHE_VERSION}:data:{today.isoformat()}:{threshold}:{answer_days}:"
        f"{_fingerprint(districts)}"
    )


def refresh_figures(today: dt.date | None = None) -> int:
    """Compute the figures afresh and build the first page of every period in both
    languages into the cache (the worker's job). Returns the number of pages built."""
    from django.utils import translation

    today = today or timezone.localdate()
    figure_data(today, refresh=True)
    built = 0
    for language in ("de", "en"):
        with translation.override(language):
            for period in PERIODS:
                figures_page(FigureFilters(period=period), today=today, district_page=1)
                built += 1
    return built


_LOCK_KEY = f"figures:{CACHE_VERSION}:computing"


def claim_computation() -> str | None:
    """Take the lock for one computation of the figures: its owner's token, or None if
    another computation holds it."""
    token = uuid.uuid4().hex
    return token if cache.add(_LOCK_KEY, token, COMPUTE_LOCK_SECONDS) else None


def release_computation(token: str, *, failed: bool = False) -> None:
    """Give the lock back, if it is still ``token``'s (one that expired may be another's
    by now). After a failure it stays for ``FAILED_BACKOFF_SECONDS``: pages keep showing
    what they have (or that the figures are being prepared) instead of queueing the same
    failing computation every few seconds; the error is in the worker's log."""
    if cache.get(_LOCK_KEY) != token:
        return
    if failed:
        cache.set(_LOCK_KEY, token, FAILED_BACKOFF_SECONDS)
    else:
        cache.delete(_LOCK_KEY)


def cache_is_shared() -> bool:
    """Whether the worker sees this process's cache: not Django's local-memory or dummy
    cache (the default without ``CACHE_URL``), which every process keeps for itself."""
    backend = str(settings.CACHES["default"]["BACKEND"])
    return not backend.endswith(("LocMemCache", "DummyCache"))


def figures_header_kept_fresh(
    filters: FigureFilters, *, district_page: int | None = None
) -> FiguresHeader:
    """The header for the figures page; queues a computation of the figures when none are
    cached or they are older than ``CACHE_SECONDS`` (one at a time). The header's
    ``computed_at`` is None while nothing is computed yet: the page then says so.

    With a cache of its own (no ``CACHE_URL``) the worker's figures would never reach this
    process: it computes them itself, as it must without a broker."""
    header = figures_header(filters, district_page=district_page)
    if header.computed_at is not None and not header.is_stale:
        return header
    if not cache_is_shared():
        figure_data(header.as_of, header.district_choices, refresh=True)
        return figures_header(filters, district_page=district_page)
    token = claim_computation()
    if token is not None:
        from coordination.tasks import compute_figures

        try:
            # Not on_commit: this is a read; the task reads committed data only. No retries:
            # the page does not wait for a broker that is down.
            compute_figures.apply_async(args=(token,), retry=False, expires=COMPUTE_LOCK_SECONDS)
        except Exception:
            # No broker, so no worker: this request computes them, holding the lock (other
            # requests meanwhile show what they have).
            logger.exception("figures: could not queue their computation; computing here")
            try:
                figure_data(header.as_of, header.district_choices, refresh=True)
            finally:
                release_computation(token)
    if header.computed_at is None or token is not None:
        # Computed already when tasks run eagerly (development, tests) or just above.
        header = figures_header(filters, district_page=district_page)
    return header


def _fingerprint(districts: list[tuple[int, str]]) -> str:
    """Changes when a district is added, removed or renamed (the cubes list them)."""
    return hashlib.sha256(repr(districts).encode()).hexdigest()[:12]


def _compute_data(
    window: Window, threshold: int, answer_days: int, districts: list[tuple[int, str]]
) -> FigureData:
    district_ids = [d for d, _name in districts]
    known = set(district_ids)

    def district(value: int | None) -> tuple[str, int | None]:
        return ("district", value) if value in known else UNKNOWN_DISTRICT

    month_dim, district_dim = _month_dimension(window), _district_dimension(district_ids)
    target_dim, group_dim = _target_dimension(), _group_dimension()
    in_window = {_month_node(m) for m in window.months}
    window_start = _start_of_day(window.start)

    # Children waiting today, by district and grade / age group.
    waiting_counts: dict[tuple[Any, ...], int] = defaultdict(int)
    current_stock: dict[tuple[Any, ...], int] = defaultdict(int)
    rows: Any = (
        _cases()
        .filter(state__in=WAITING_STATES)
        .values("district_id", "target_type", "wanted_group")
        .annotate(n=Count("id"))
    )
    for row in rows:
        target = row["target_type"] if row["target_type"] in TARGETS else TargetType.SCHOOL
        d = district(row["district_id"])
        waiting_counts[(d, _group_node(target, row["wanted_group"]))] += row["n"]
        current_stock[(_month_node(window.current), d, _target_node(target))] += row["n"]

    # Referrals pending today, by the institution's district and the referral's group.
    pending_counts: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = (
        Referral.objects.filter(state=ReferralState.PENDING)
        .order_by()
        .values("institution__district_id", "group")
        .annotate(n=Count("id"))
    )
    for row in rows:
        target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
        d = district(row["institution__district_id"])
        pending_counts[(d, _group_node(target, row["group"]))] += row["n"]

    # Registered and placed per month.
    registered: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = (
        _cases()
        .filter(created_at__gte=window_start)
        .annotate(month=TruncMonth("created_at"))
        .values("month", "district_id", "target_type")
        .annotate(n=Count("id"))
    )
    for row in rows:
        node = _month_node(_month_start(row["month"]))
        if node in in_window:
            registered[(node, district(row["district_id"]), _target(row))] += row["n"]
    placed: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = (
        _cases()
        .filter(placed_on__gte=window.start, placed_on__lte=window.today)
        .annotate(month=TruncMonth("placed_on"))
        .values("month", "district_id", "target_type")
        .annotate(n=Count("id"))
    )
    for row in rows:
        node = _month_node(_month_start(row["month"]))
        if node in in_window:
            placed[(node, district(row["district_id"]), _target(row))] += row["n"]

    # Children waiting at the end of each past month (the current month is today's count).
    past = window.months[:-1]
    ends = {f"m{i}": window.month_end(m) for i, m in enumerate(past)}
    rows = (
        _cases()
        .filter(
            waiting_since__lte=window.month_end(past[-1]),
            created_at__lt=_start_of_day(window.current),
        )
        .filter(Q(placed_on__isnull=True) | Q(placed_on__gt=window.month_end(past[0])))
        .filter(Q(closed_on__isnull=True) | Q(closed_on__gt=window.month_end(past[0])))
        .values("district_id", "target_type")
        .annotate(**{name: Count("id", filter=_waiting_at(day)) for name, day in ends.items()})
    )
    stock: dict[tuple[Any, ...], int] = defaultdict(int, current_stock)
    for row in rows:
        for i, month in enumerate(past):
            if row[f"m{i}"]:
                stock[(_month_node(month), district(row["district_id"]), _target(row))] += row[
                    f"m{i}"
                ]

    # Referral outcomes and answers within the target time, by period.
    outcomes: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = (
        Referral.objects.filter(created_at__gte=window_start)
        .exclude(state=ReferralState.PENDING)
        .order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month", "institution__district_id", "group", "state", "decline_reason")
        .annotate(n=Count("id"))
    )
    for row in rows:
        month = _month_start(row["month"])
        if month not in window.months:
            continue
        outcome = _outcome_node(row["state"], row["decline_reason"])
        target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
        index = (window.block_of(month), district(row["institution__district_id"]))
        outcomes[(*index, _target_node(target), outcome)] += row["n"]
    on_time: dict[tuple[Any, ...], int] = defaultdict(int)
    rows = (
        Referral.objects.filter(created_at__gte=window_start, answered_at__isnull=False)
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
        month = _month_start(row["month"])
        if month not in window.months:
            continue
        if working_days_between(row["made"], row["answered"]) <= answer_days:
            target = GROUP_TARGET.get(row["group"], TargetType.SCHOOL)
            index = (window.block_of(month), district(row["institution__district_id"]))
            on_time[(*index, _target_node(target))] += row["n"]

    # Places: institutions, not children; summed per kind, district and group.
    places = PlaceSums.of(
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

    block_dim = _block_dimension()
    current = _month_node(window.current)
    month_of_stock = Dimension("month", [_month_node(m) for m in window.months], additive=False)
    t = threshold

    def waiting(depth: Depth) -> list[Cube]:
        cubes = [
            Cube(
                "waiting",
                [district_dim, group_dim],
                waiting_counts,
                threshold=t,
                fixed={"month": current},
                published=partial(_waiting_published, depth),
            ),
            Cube(
                "waiting",
                [month_of_stock, district_dim, target_dim],
                stock,
                threshold=t,
                published=partial(_stock_published, current, depth),
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

    now_waiting, stock_cube = _detail(waiting, [2, 1, 0])
    (pending,) = _detail(
        single("pending", [district_dim, group_dim], pending_counts, _waiting_published),
        [2, 1, 0],
    )
    flow_dims = [month_dim, district_dim, target_dim]
    flow_levels = [MONTHS | DISTRICTS, MONTHS, DISTRICTS, 0]
    (registered_cube,) = _detail(
        single("registered", flow_dims, registered, _flow_published), flow_levels
    )
    (placed_cube,) = _detail(single("placed", flow_dims, placed, _flow_published), flow_levels)
    outcome_dims = [block_dim, district_dim, target_dim, _outcome_dimension()]
    (referrals,) = _detail(
        single("referrals", outcome_dims, outcomes, _referrals_published), [1, 0]
    )
    (answered,) = _detail(
        single(
            "answered_on_time", [block_dim, district_dim, target_dim], on_time, _on_time_published
        ),
        [1, 0],
    )
    data = FigureData(
        window=window,
        threshold=threshold,
        answer_days=answer_days,
        districts=districts,
        waiting=now_waiting,
        pending=pending,
        registered=registered_cube,
        placed=placed_cube,
        stock=stock_cube,
        referrals=referrals,
        on_time=answered,
        places=places,
    )
    for cube in (
        now_waiting,
        stock_cube,
        pending,
        registered_cube,
        placed_cube,
        referrals,
        answered,
    ):
        cube.compact()
    return data


def _target(row: Mapping[str, Any]) -> tuple[str, str]:
    target = row["target_type"]
    return _target_node(target if target in TARGETS else TargetType.SCHOOL)


def _outcome_node(state: str, reason: str) -> Any:
    if state in (ReferralState.ACCEPTED, ReferralState.ENROLLED, ReferralState.NO_SHOW):
        return ACCEPTED
    if state == ReferralState.DECLINED:
        return _reason_node(reason)
    if state == ReferralState.EXPIRED:
        return EXPIRED
    return WITHDRAWN


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
        base = _cases()
        if district is not None:
            base = base.filter(district_id=district)
        compute = _durations_in_database if use_percentile_cont() else _durations_in_python
        result = compute(base, window)
        cache.set(key, result, CACHE_SECONDS)
    return result


def _spans(window: Window) -> list[tuple[Any, dt.date, dt.date]]:
    """Each month and each period of the window with its first and last day."""
    spans = [(_month_node(m), m, window.month_end(m)) for m in window.months]
    for period in PERIODS:
        months = window.months_of(period)
        spans.append((window.period_node(period), months[0], window.today))
    return spans


def _target_filters() -> list[tuple[Any, Q]]:
    return [(TOTAL, Q()), *((_target_node(t), Q(target_type=t)) for t in TARGETS)]


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
        when = Q(state__in=WAITING_STATES) if month == window.current else _waiting_at(day)
        for t, (target, target_q) in enumerate(_target_filters()):
            for f, fraction in enumerate(FRACTIONS):
                name = f"w{i}_{t}_{f}"
                names_b[name] = (_month_node(month), target, f)
                without[name] = PercentileCont(
                    DaysBetween(_date(day), F("waiting_since")), fraction, filter=when & target_q
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
                days[(node, _target_node(target))].append(count)
    to_placement = _percentiles(days)

    ends = {f"d{i}": window.month_end(m) for i, m in enumerate(window.months)}
    annotations = {}
    for i, month in enumerate(window.months):
        day = ends[f"d{i}"]
        when = Q(state__in=WAITING_STATES) if month == window.current else _waiting_at(day)
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
                days_b[(_month_node(month), TOTAL)].append(count)
                days_b[(_month_node(month), _target_node(target))].append(count)
    return Durations(to_placement=to_placement, without_place=_percentiles(days_b))


def _conditional_days(when: Q, day: dt.date) -> Any:
    from django.db.models import Case as When_
    from django.db.models import When

    return When_(
        When(when, then=DaysBetween(_date(day), F("waiting_since"))),
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


# --- the page: tables, charts and notes -------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: ``text`` is what the page, CSV and XLSX show; ``value`` is the
    number behind it (None when hidden or not applicable)."""

    text: str
    value: int | float | None = None
    suppressed: bool = False
    numeric: bool = True


@dataclass
class Row:
    header: str
    cells: list[Cell]
    total: bool = False
    level: int = 0


@dataclass
class Table:
    key: str
    caption: str
    row_label: str
    columns: list[str]
    rows: list[Row]

    @property
    def has_suppressed(self) -> bool:
        return any(c.suppressed for r in self.rows for c in r.cells)


@dataclass
class Section:
    key: str
    title: str
    intro: str
    tables: list[Table]
    charts: list[charts.Chart] = field(default_factory=list)


@dataclass(frozen=True)
class FiguresHeader:
    """What the page shows around its figures (cheap: no figure is computed for it)."""

    title: str
    as_of: dt.date
    filters: FigureFilters
    filter_labels: list[tuple[str, str]]
    threshold: int
    period_choices: list[tuple[str, str]]
    district_choices: list[tuple[int, str]]
    target_choices: list[tuple[str, str]]
    # The key of the computed figures this page reads, and of their time stamp (":stamp").
    data_key: str
    # The cache key without the computation's time (see ``cache_key``).
    key_base: str
    # Which page of districts the page shows (None: every district, as exports do).
    district_page: int | None = None
    district_pages: int = 1
    # When the cached figures were computed; None: none are cached (yet).
    computed_at: dt.datetime | None = None

    @property
    def cache_key(self) -> str:
        """Key of the page and its fragments: a fresh computation makes a new one."""
        stamp = self.computed_at.timestamp() if self.computed_at else "none"
        return f"{self.key_base}:{stamp}"

    @property
    def is_stale(self) -> bool:
        return (
            self.computed_at is not None
            and (timezone.now() - self.computed_at).total_seconds() > CACHE_SECONDS
        )

    @property
    def district_first(self) -> int:
        """Position of the first district shown (1-based), for "districts 26 to 50 of 500"."""
        return ((self.district_page or 1) - 1) * DISTRICTS_PER_PAGE + 1

    @property
    def district_last(self) -> int:
        return min(self.district_first + DISTRICTS_PER_PAGE - 1, len(self.district_choices))

    def shows_district_page(self, districts: list[Any]) -> list[Any]:
        """The districts (in order) this page shows; all of them when not paged."""
        if self.district_page is None:
            return districts
        return districts[self.district_first - 1 : self.district_last]


@dataclass
class FiguresPage:
    """Everything the figures page, its print view and every export show."""

    header: FiguresHeader
    sections: list[Section]
    footnotes: list[str]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def title(self) -> str:
        return self.header.title

    @property
    def as_of(self) -> dt.date:
        return self.header.as_of

    @property
    def filters(self) -> FigureFilters:
        return self.header.filters

    @property
    def filter_labels(self) -> list[tuple[str, str]]:
        return self.header.filter_labels

    @property
    def threshold(self) -> int:
        return self.header.threshold


def figures_header(
    filters: FigureFilters, *, today: dt.date | None = None, district_page: int | None = None
) -> FiguresHeader:
    """The page's title, filters (an unknown district falls back to all) and cache key.

    ``district_page``: show that page of districts (clamped to the pages there are); None, or
    a single district chosen, shows every row (exports, print view).
    """
    today = today or timezone.localdate()
    office = OfficeSettings.current()
    threshold = disclosure.effective_threshold(office.suppression_threshold)
    districts = district_list()
    names = dict(districts)
    if filters.district is not None and filters.district not in names:
        filters = FigureFilters(period=filters.period, target=filters.target)
    months = Window.ending(today).months_of(filters.period)
    period_text = (
        f"{PERIOD_LABELS[filters.period]} ({date_format(months[0], 'F Y')} \u2013 "
        f"{date_format(months[-1], 'F Y')})"
    )
    labels = [
        (gettext("Period"), period_text),
        (gettext("District"), names[filters.district] if filters.district else gettext("all")),
        (
            gettext("Target type"),
            _target_label(filters.target) if filters.target else gettext("all"),
        ),
    ]
    pages = max(1, -(-len(districts) // DISTRICTS_PER_PAGE))
    if filters.district is not None or district_page is None or pages == 1:
        district_page = None
    else:
        district_page = min(max(1, district_page), pages)
    data_key = _data_key(today, threshold, office.reminder_1_days, districts)
    return FiguresHeader(
        title=gettext("Figures"),
        as_of=today,
        filters=filters,
        filter_labels=labels,
        threshold=threshold,
        period_choices=[(p, str(PERIOD_LABELS[p])) for p in PERIODS],
        district_choices=districts,
        target_choices=[(t, _target_label(t)) for t in TARGETS],
        data_key=data_key,
        key_base=f"{data_key}:page:{filters.key}:{get_language()}:{district_page or 'all'}",
        district_page=district_page,
        district_pages=pages,
        computed_at=cache.get(f"{data_key}:stamp"),
    )


def figures_page(
    filters: FigureFilters, *, today: dt.date | None = None, district_page: int | None = None
) -> FiguresPage:
    """The figures page for the filters, in the active language (cached for a few minutes);
    one page of districts, or all of them (``district_page`` None)."""
    return page_for(figures_header(filters, today=today, district_page=district_page), keep=True)


def page_for(header: FiguresHeader, *, keep: bool = False) -> FiguresPage:
    """The figures page a header describes: cached, else built from the computed figures
    (computed now if there are none). ``keep``: cache the page built (the worker does, for
    the pages it warms); the figures page caches its HTML and the exports their files, so
    pickling the page object too would only cost time."""
    page = cache.get(header.cache_key) if header.computed_at else None
    if page is None:
        data = figure_data(header.as_of, header.district_choices)
        if header.computed_at is None:  # computed just now: the page names that computation
            header = replace(header, computed_at=data.computed_at)
        page = _PageBuilder(data, header).build()
        if keep:
            cache.set(header.cache_key, page, PAGE_SECONDS)
    return page


def export(filters: FigureFilters, fmt: str, *, today: dt.date | None = None) -> str | bytes:
    """The page as CSV text or XLSX bytes (cached like the page)."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format {fmt!r}")
    header = figures_header(filters, today=today)
    body = cache.get(f"{header.cache_key}:{fmt}") if header.computed_at else None
    if body is None:
        page = page_for(header)
        body = page_csv(page) if fmt == "csv" else page_xlsx(page)
        cache.set(f"{page.header.cache_key}:{fmt}", body, PAGE_SECONDS)
    return body


def _count(value: int | None) -> Cell:
    if value is None:
        return Cell(SYMBOL, None, suppressed=True)
    return Cell(str(value), value)


def _days(value: float | None, *, population: int | None, threshold: int) -> Cell:
    if population == 0 or (value is None and population is not None and population >= threshold):
        return Cell(NOT_APPLICABLE, None)
    if value is None or not disclosure.statistic_visible(
        population=population, threshold=threshold
    ):
        return Cell(SYMBOL, None, suppressed=True)
    rounded = round(value, 1)
    if float(rounded).is_integer():
        return Cell(str(int(rounded)), int(rounded))
    return Cell(number_format(rounded, decimal_pos=1), rounded)


def _na() -> Cell:
    return Cell(NOT_APPLICABLE, None, numeric=False)


def _month_label(window: Window, month: dt.date) -> str:
    label = date_format(month, "F Y")
    if month == window.current:
        return gettext("%(month)s (so far)") % {"month": label}
    return label


def _target_label(target: str) -> str:
    return str(TargetType(target).label)


def _band_label(band: str) -> str:
    if band in BAND_LABELS:
        return str(BAND_LABELS[band])
    return gettext("grade or age group not yet known")


def _group_label(group: str) -> str:
    if group in Group.values:
        return str(Group(group).label)
    return gettext("grade or age group not yet known")


class _PageBuilder:
    def __init__(self, data: FigureData, header: FiguresHeader) -> None:
        filters = header.filters
        self.header = header
        self.data, self.filters, self.window = data, filters, data.window
        self.t = data.threshold
        self.names = dict(data.districts)
        self.dsel: Any = ("district", filters.district) if filters.district else TOTAL
        self.targets = [filters.target] if filters.target else TARGETS
        self.tsel: Any = _target_node(filters.target) if filters.target else TOTAL
        self.period = self.window.period_node(filters.period)
        self.months = self.window.months_of(filters.period)
        self.durations = durations(self.window, filters.district)

    # --- helpers ---

    def districts(self) -> list[tuple[Any, str]]:
        """(node, name) of the districts this page shows (every table asks)."""
        return list(self._districts)

    @cached_property
    def _districts(self) -> list[tuple[Any, str]]:
        if self.filters.district:
            return [(self.dsel, self.names[self.filters.district])]
        shown = self.header.shows_district_page(self.data.districts)
        rows = [(("district", i), name) for i, name in shown]
        if shown and shown[-1] is not self.data.districts[-1]:
            return rows  # a page before the last: "not yet known" comes at the very end
        return [*rows, (UNKNOWN_DISTRICT, gettext("district not yet known"))]

    def target_nodes(self) -> list[tuple[Any, str]]:
        """(node, label) of each target type shown, then their total unless one is chosen."""
        nodes: list[tuple[Any, str]] = [(_target_node(t), _target_label(t)) for t in self.targets]
        if not self.filters.target:
            nodes.append((TOTAL, gettext("All target types")))
        return nodes

    def in_district(self, district_id: int) -> bool:
        return self.filters.district is None or district_id == self.filters.district

    def places_by(self, key: str) -> dict[Any, tuple[int, int]]:
        """Free and reserved places by target+district or kind+district (of the districts
        this page shows), or target+group (in the district filtered to, if any), of the
        target types shown."""
        sums = self.data.places
        found: dict[Any, tuple[int, int]] = {}
        if key == "group":
            if self.filters.district is None:
                found = dict(sums.by_group)
            else:
                for target, group, free, reserved in sums.district(self.filters.district)["group"]:
                    found[(target, group)] = (free, reserved)
            return {k: v for k, v in found.items() if k[0] in self.targets}
        for node, _name in self._districts:
            district_id = node[1] if node != TOTAL else None
            for name, (free, reserved) in sums.district(district_id)[key].items():
                target = name if key == "target" else target_for_kind(name)
                if target in self.targets:
                    found[(name, district_id)] = (free, reserved)
        return found

    @staticmethod
    def _places_cells(free: int, reserved: int) -> list[Cell]:
        return [Cell(str(free), free), Cell(str(reserved), reserved)]

    @staticmethod
    def count(cube: Cube, index: tuple[Any, ...]) -> Cell:
        """A count as published: the number, the symbol if hidden, "/" if never shown here."""
        published, shown = cube.look(index)
        if not published:
            return Cell(NOT_SHOWN, None)
        return _count(shown)

    @staticmethod
    def nonzero(cube: Cube, index: tuple[Any, ...]) -> bool:
        """Whether a published count is above 0 (a hidden count is: zeros are shown). Never
        looks at a cell that is not published."""
        published, shown = cube.look(index)  # zeros are never hidden: a hidden count is > 0
        return published and (shown is None or shown > 0)

    def days(
        self, values: tuple[float | None, float | None], cube: Cube, index: tuple[Any, ...]
    ) -> list[Cell]:
        """Median and 90th percentile over the children a (published) count counts."""
        if not cube.is_published(index):
            return [Cell(NOT_SHOWN, None), Cell(NOT_SHOWN, None)]
        population = cube.shown(index)
        return [_days(v, population=population, threshold=self.t) for v in values]

    # --- sections ---

    def build(self) -> FiguresPage:
        sections = [self.capacity(), self.placement(), self.referrals()]
        return FiguresPage(header=self.header, sections=sections, footnotes=self.footnotes())

    def capacity(self) -> Section:
        by_district = self.places_by("target")
        columns = [
            gettext("Free places"),
            gettext("Reserved places"),
            gettext("Children waiting"),
            gettext("Referrals pending"),
        ]
        tables = []
        for target in self.targets:
            node = _target_node(target)
            rows = []
            for d, name in self.districts():
                district_id = d[1]
                free, reserved = by_district.get((target, district_id), (0, 0))
                index = (d, node)
                used = (
                    free
                    or reserved
                    or self.nonzero(self.data.waiting, index)
                    or self.nonzero(self.data.pending, index)
                )
                if not used and not self.filters.district:
                    continue
                rows.append(
                    Row(
                        name,
                        [
                            *self._places_cells(free, reserved),
                            self.count(self.data.waiting, index),
                            self.count(self.data.pending, index),
                        ],
                    )
                )
            if not self.filters.district:
                free, reserved = self.data.places.by_target.get(target, (0, 0))
                rows.append(
                    Row(
                        gettext("Total"),
                        [
                            *self._places_cells(free, reserved),
                            self.count(self.data.waiting, (TOTAL, node)),
                            self.count(self.data.pending, (TOTAL, node)),
                        ],
                        total=True,
                    )
                )
            tables.append(
                Table(
                    key=f"capacity-{target}",
                    caption=gettext("Places and demand by district: %(target)s")
                    % {"target": _target_label(target)},
                    row_label=gettext("District"),
                    columns=columns,
                    rows=rows,
                )
            )

        tables.append(self.groups_table(columns))
        tables.append(self.kinds_table())
        if self.filters.district:
            tables.append(self.institutions_table())
        tables.append(self.waiting_days_table())
        return Section(
            key="capacity",
            title=gettext("Places and children waiting today"),
            intro=gettext(
                "Free and reserved places as the institutions report them; children whose case "
                "is open and who have no place yet; referrals still waiting for an answer."
            ),
            tables=tables,
        )

    def _demand_row(self, label: str, node: Any, places: list[int], **kwargs: Any) -> Row:
        return Row(
            label,
            [
                *self._places_cells(*places),
                self.count(self.data.waiting, (self.dsel, node)),
                self.count(self.data.pending, (self.dsel, node)),
            ],
            **kwargs,
        )

    def groups_table(self, columns: list[str]) -> Table:
        """Target type, age band and (for the whole city) grade or age group."""
        by_group = self.places_by("group")

        def places(groups: Iterable[str]) -> list[int]:
            wanted = set(groups)
            return [sum(v[i] for (_t, g), v in by_group.items() if g in wanted) for i in (0, 1)]

        def empty(node: Any, numbers: list[int]) -> bool:
            return (
                not any(numbers)
                and not self.nonzero(self.data.waiting, (self.dsel, node))
                and not self.nonzero(self.data.pending, (self.dsel, node))
            )

        rows = []
        for target in self.targets:
            target_places = places(_groups(target))
            rows.append(
                self._demand_row(
                    _target_label(target), _target_node(target), target_places, total=True
                )
            )
            for band in _bands(target):
                groups = [g for g in _groups(target) if band_of(g) == band]
                band_places = places(groups)
                if empty(("band", band), band_places):
                    continue
                rows.append(
                    self._demand_row(_band_label(band), ("band", band), band_places, level=1)
                )
                if self.filters.district or len(groups) == 1:
                    continue  # grades are shown for the whole city only
                for group in groups:
                    group_places = places([group])
                    if not empty(("group", group), group_places):
                        rows.append(
                            self._demand_row(
                                _group_label(group), ("group", group), group_places, level=2
                            )
                        )
        if not self.filters.target:
            rows.append(
                self._demand_row(
                    gettext("All target types"), TOTAL, places(GROUP_TARGET), total=True
                )
            )
        caption = (
            gettext("Places and demand by age band")
            if self.filters.district
            else gettext("Places and demand by age band and grade or age group")
        )
        return Table(
            key="capacity-groups",
            caption=caption,
            row_label=gettext("Age band, grade or age group"),
            columns=columns,
            rows=rows,
        )

    def kinds_table(self) -> Table:
        kinds = [k for k in InstitutionKind.values if target_for_kind(k) in self.targets]
        by_kind = self.places_by("kind")
        rows = []
        for d, name in self.districts():
            district_id = d[1]
            if not any((k, district_id) in by_kind for k in kinds):
                continue
            values = [by_kind.get((k, district_id), (0, 0))[0] for k in kinds]
            values.append(sum(values))
            rows.append(Row(name, [Cell(str(v), v) for v in values]))
        # The total of every district, also when the page shows only some of them.
        totals = [self.data.places.by_kind_total.get(k, (0, 0))[0] for k in kinds]
        totals.append(sum(totals))
        if not self.filters.district and rows:
            rows.append(Row(gettext("Total"), [Cell(str(v), v) for v in totals], total=True))
        return Table(
            key="free-places-kinds",
            caption=gettext("Free places by institution kind and district"),
            row_label=gettext("District"),
            columns=[*(str(InstitutionKind(k).label) for k in kinds), gettext("Total")],
            rows=rows,
        )

    def institutions_table(self) -> Table:
        """Places per institution (figures about institutions, not children)."""
        kinds = [k for k in InstitutionKind.values if target_for_kind(k) in self.targets]
        district = self.filters.district or 0
        stale_days = OfficeSettings.current().places_stale_days
        stale_before = timezone.now() - dt.timedelta(days=stale_days)
        institutions = (
            Institution.objects.filter(is_active=True, district_id=district, kind__in=kinds)
            .order_by("name")
            .values("name", "kind")
            .annotate(
                free=Coalesce(Sum("places__free"), 0),
                reserved=Coalesce(Sum("places__reserved"), 0),
                updated=Max("places__updated_at"),
            )
        )
        rows = []
        for item in institutions:
            updated = item["updated"]
            if updated is None:
                when = gettext("no figures yet")
            else:
                when = date_format(timezone.localtime(updated).date(), "SHORT_DATE_FORMAT")
                if updated < stale_before:
                    when = gettext("%(date)s (out of date)") % {"date": when}
            rows.append(
                Row(
                    item["name"],
                    [
                        Cell(str(InstitutionKind(item["kind"]).label), None, numeric=False),
                        *self._places_cells(item["free"], item["reserved"]),
                        Cell(when, None, numeric=False),
                    ],
                )
            )
        return Table(
            key="free-places-institutions",
            caption=gettext("Free places per institution in %(district)s")
            % {"district": self.names[self.filters.district or 0]},
            row_label=gettext("Institution"),
            columns=[
                gettext("Kind"),
                gettext("Free places"),
                gettext("Reserved places"),
                gettext("Figures updated"),
            ],
            rows=rows,
        )

    def waiting_days_table(self) -> Table:
        current = _month_node(self.window.current)
        rows = []
        for node, label in self.target_nodes():
            index = (self.dsel, node)
            values = self.durations.without_place.get((current, node), (None, None))
            cells = [
                self.count(self.data.waiting, index),
                *self.days(values, self.data.waiting, index),
            ]
            rows.append(Row(label, cells, total=node == TOTAL))
        return Table(
            key="waiting-days",
            caption=gettext("Days without a place: children waiting today"),
            row_label=gettext("Target type"),
            columns=[
                gettext("Children waiting"),
                gettext("Median days"),
                gettext("90th percentile of days"),
            ],
            rows=rows,
        )

    def placement(self) -> Section:
        if self.filters.district:
            return self.placement_in_district()
        columns = [
            gettext("Registered"),
            gettext("Placed"),
            gettext("Waiting at the end of the month"),
            gettext("Median days from registration to placement"),
            gettext("90th percentile of days from registration to placement"),
            gettext("Median days without a place (waiting at the end of the month)"),
            gettext("90th percentile of days without a place"),
        ]
        nodes = (
            [(self.tsel, _target_label(self.filters.target))]
            if self.filters.target
            else [
                (TOTAL, gettext("all target types")),
                *((_target_node(t), _target_label(t)) for t in TARGETS),
            ]
        )
        tables = []
        for node, label in nodes:
            rows = []
            for month in self.months:
                m = _month_node(month)
                a = self.durations.to_placement.get((m, node), (None, None))
                b = self.durations.without_place.get((m, node), (None, None))
                index = (m, TOTAL, node)
                rows.append(
                    Row(
                        _month_label(self.window, month),
                        [
                            self.count(self.data.registered, index),
                            self.count(self.data.placed, index),
                            self.count(self.data.stock, index),
                            *self.days(a, self.data.placed, index),
                            *self.days(b, self.data.stock, index),
                        ],
                    )
                )
            rows.append(self._period_row(node))
            tables.append(
                Table(
                    key=f"placement-{'all' if node == TOTAL else node[1]}",
                    caption=gettext("Children registered, placed and waiting per month: %(target)s")
                    % {"target": label},
                    row_label=gettext("Month"),
                    columns=columns,
                    rows=rows,
                )
            )
        return Section(
            key="placement",
            title=gettext("Placement by month"),
            intro=gettext(
                "Children registered and placed per month, children still without a place at "
                "the end of each month, and how long it took."
            ),
            tables=tables,
            charts=self.placement_charts(tables[0]),
        )

    def _period_row(self, node: Any) -> Row:
        index = (self.period, TOTAL, node)
        a = self.durations.to_placement.get((self.period, node), (None, None))
        label = gettext("Total: %(period)s") % {"period": PERIOD_LABELS[self.filters.period]}
        return Row(
            label,
            [
                self.count(self.data.registered, index),
                self.count(self.data.placed, index),
                _na(),
                *self.days(a, self.data.placed, index),
                _na(),
                _na(),
            ],
            total=True,
        )

    def placement_in_district(self) -> Section:
        """One district: the whole period by target type (its months are too small to show)."""
        current = _month_node(self.window.current)
        rows = []
        for node, label in self.target_nodes():
            flow, today = (self.period, self.dsel, node), (current, self.dsel, node)
            a = self.durations.to_placement.get((self.period, node), (None, None))
            b = self.durations.without_place.get((current, node), (None, None))
            rows.append(
                Row(
                    label,
                    [
                        self.count(self.data.registered, flow),
                        self.count(self.data.placed, flow),
                        *self.days(a, self.data.placed, flow),
                        self.count(self.data.stock, today),
                        *self.days(b, self.data.stock, today),
                    ],
                    total=node == TOTAL,
                )
            )
        district = self.names[self.filters.district or 0]
        table = Table(
            key="placement-district",
            caption=gettext("Children registered and placed in %(district)s: %(period)s")
            % {"district": district, "period": PERIOD_LABELS[self.filters.period]},
            row_label=gettext("Target type"),
            columns=[
                gettext("Registered"),
                gettext("Placed"),
                gettext("Median days from registration to placement"),
                gettext("90th percentile of days from registration to placement"),
                gettext("Waiting today"),
                gettext("Median days without a place (waiting today)"),
                gettext("90th percentile of days without a place"),
            ],
            rows=rows,
        )
        return Section(
            key="placement",
            title=gettext("Placement in %(district)s") % {"district": district},
            intro=gettext(
                "For a single district the figures cover the whole period: its months are too "
                "small to show without revealing children. The monthly trend is shown for the "
                "whole city (choose all districts)."
            ),
            tables=[table],
        )

    def placement_charts(self, table: Table) -> list[charts.Chart]:
        categories = [date_format(m, "M y") for m in self.months]
        body = [r for r in table.rows if not r.total]

        def column(i: int) -> list[float | None]:
            return [r.cells[i].value for r in body]

        note = gettext(
            "The numbers are in the table “%(table)s”. A hidden value is marked • and not drawn."
        ) % {"table": table.caption}
        return [
            charts.bar_chart(
                key="chart-flow",
                title=gettext("Children registered and placed per month"),
                description=note,
                categories=categories,
                series=[
                    charts.Series(gettext("Registered"), column(0)),
                    charts.Series(gettext("Placed"), column(1)),
                ],
            ),
            charts.bar_chart(
                key="chart-waiting",
                title=gettext("Children waiting at the end of each month"),
                description=note,
                categories=categories,
                series=[charts.Series(gettext("Waiting"), column(2))],
            ),
            charts.line_chart(
                key="chart-days",
                title=gettext("Median days per month"),
                description=note,
                categories=categories,
                series=[
                    charts.Series(gettext("Registration to placement"), column(3)),
                    charts.Series(gettext("Without a place (end of month)"), column(5)),
                ],
            ),
        ]

    def referrals(self) -> Section:
        reasons = [
            (("reason", r), gettext("Declined: %(reason)s") % {"reason": DeclineReason(r).label})
            for r in DeclineReason.values
        ]
        main = [(ACCEPTED, gettext("Accepted"))]
        rest = [
            (DECLINED, gettext("Declined in total")),
            (EXPIRED, gettext("Expired without an answer")),
            (WITHDRAWN, gettext("Withdrawn")),
            (TOTAL, gettext("Total")),
        ]
        on_time_label = gettext("Answered within %(days)s working days") % {
            "days": self.data.answer_days
        }
        cube, on_time = self.data.referrals, self.data.on_time

        def table_for(
            key: str,
            caption: str,
            row_label: str,
            with_reasons: bool,
            rows: list[tuple[str, Any, Any, bool]],
        ) -> Table:
            outcomes = [*main, *(reasons if with_reasons else []), *rest]
            body = []
            for label, district, target, total in rows:
                cells = [self.count(cube, (self.period, district, target, o)) for o, _l in outcomes]
                cells.append(self.count(on_time, (self.period, district, target)))
                body.append(Row(label, cells, total=total))
            columns = [label for _node, label in outcomes] + [on_time_label]
            return Table(key=key, caption=caption, row_label=row_label, columns=columns, rows=body)

        district_rows = [
            (name, d, self.tsel, False)
            for d, name in self.districts()
            if self.filters.district or self.nonzero(cube, (self.period, d, self.tsel, TOTAL))
        ]
        if not self.filters.district:
            district_rows.append((gettext("Total"), TOTAL, self.tsel, True))
        target_text = (
            _target_label(self.filters.target)
            if self.filters.target
            else gettext("all target types")
        )
        by_district = table_for(
            "referrals-districts",
            gettext("Referrals by the institution's district and outcome: %(target)s")
            % {"target": target_text},
            gettext("District"),
            False,
            district_rows,
        )
        target_rows: list[tuple[str, Any, Any, bool]] = [
            (_target_label(t), self.dsel, _target_node(t), False) for t in self.targets
        ]
        if not self.filters.target:
            target_rows.append((gettext("All target types"), self.dsel, TOTAL, True))
        where = (
            self.names[self.filters.district]
            if self.filters.district
            else gettext("the whole city")
        )
        by_target = table_for(
            "referrals-targets",
            gettext("Referrals by target type and outcome: %(where)s") % {"where": where},
            gettext("Target type"),
            not self.filters.district,
            target_rows,
        )
        return Section(
            key="referrals",
            title=gettext("Referrals made in the period"),
            intro=gettext(
                "Referrals made in the period by their outcome so far; referrals still pending "
                "are counted under places and demand. Decline reasons are shown for the whole "
                "city only."
            ),
            tables=[by_district, by_target],
        )

    def footnotes(self) -> list[str]:
        return [
            gettext(
                "%(symbol)s hidden: fewer than %(threshold)s children, or hidden so that such a "
                "number cannot be worked out from totals or from other tables on this page."
            )
            % {"symbol": SYMBOL, "threshold": self.t},
            gettext(
                "%(symbol)s not shown at this level: too few children to break a single "
                "district down this far without hiding the city's figures."
            )
            % {"symbol": NOT_SHOWN},
            gettext(
                "Medians and percentiles are shown only where at least %(threshold)s children "
                "are counted and their number is shown; %(na)s: none or not applicable."
            )
            % {"threshold": self.t, "na": NOT_APPLICABLE},
            gettext(
                "Free and reserved places are figures about institutions, not about children, "
                "and are shown in full."
            ),
            gettext(
                "Waiting: the case is open and the child has no place yet (intake to referred, "
                "or on hold). Days without a place count from the arrival in the city (or the "
                "registration); days to placement from the registration to the first day "
                "attended."
            ),
            gettext(
                "Referrals are counted by the month they were made and by the district of the "
                "institution; answered means accepted or declined."
            ),
            gettext(
                "Single districts are shown by target type and age band and for the whole "
                "period; single months, grades and decline reasons for the whole city only, so "
                "that no filter narrows a table down to a few children."
            ),
            gettext(
                "Figures as of %(date)s, computed at %(time)s; they are recomputed every "
                "few minutes."
            )
            % {
                "date": date_format(self.window.today, "SHORT_DATE_FORMAT"),
                "time": date_format(
                    timezone.localtime(self.data.computed_at or timezone.now()), "TIME_FORMAT"
                ),
            },
        ]


# --- exports ---------------------------------------------------------------------------------


def _head(page: FiguresPage) -> list[list[str]]:
    rows = [[page.title], [gettext("As of"), date_format(page.as_of, "SHORT_DATE_FORMAT")]]
    rows += [[label, value] for label, value in page.filter_labels]
    return rows


def page_rows(page: FiguresPage) -> list[list[Any]]:
    """The page as rows of cells: heading, every table (caption, header, rows), footnotes.
    Cells are :class:`Cell` inside tables and plain text elsewhere."""
    rows: list[list[Any]] = [*_head(page), []]
    for table in page.tables:
        rows.append([table.caption])
        rows.append([table.row_label, *table.columns])
        for row in table.rows:
            rows.append([row.header, *row.cells])
        if not table.rows:
            rows.append([gettext("No figures.")])
        rows.append([])
    rows += [[note] for note in page.footnotes]
    return rows


def page_csv(page: FiguresPage) -> str:
    """CSV (semicolon-separated, as German spreadsheets expect) of exactly what the page shows;
    hidden cells are the symbol."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in page_rows(page):
        writer.writerow([c.text if isinstance(c, Cell) else c for c in row])
    return out.getvalue()


def page_xlsx(page: FiguresPage) -> bytes:
    """An XLSX workbook with the same rows as the CSV; numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Figures")[:31]
    bold = Font(bold=True)
    captions = {t.caption for t in page.tables}
    headers = {(t.row_label, *t.columns) for t in page.tables}
    for r, row in enumerate(page_rows(page), start=1):
        texts = tuple(c.text if isinstance(c, Cell) else c for c in row)
        for c, item in enumerate(row, start=1):
            if isinstance(item, Cell):
                value: Any = item.value if item.value is not None else item.text
            else:
                value = item
            cell = sheet.cell(row=r, column=c, value=value)
            if (len(row) == 1 and item in captions) or texts in headers or r == 1:
                cell.font = bold
    sheet.column_dimensions["A"].width = 42
    book.properties.creator = "Ankommen"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def log_export(*, actor: Any, fmt: str, filters: FigureFilters, via: str) -> None:
    """Record an export (or print view) of the figures in the audit log."""
    from coordination.audit import audit_log

    audit_log(
        actor=actor,
        action="figures.export",
        detail={"format": fmt, "filters": filters.as_dict(), "via": via},
    )
