"""The figures' vocabulary: filters, the window of months, and the cube dimensions.

Nodes of the cube dimensions are (kind, value) pairs, so a node says what it stands for;
``TOTAL`` is the root of every dimension.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import (
    TargetType,
    groups_for_target,
)
from coordination.forms import database_ids
from monitoring.disclosure import TOTAL, Dimension
from offers.models import OfferKind
from referrals.models import (
    DeclineReason,
)

WINDOW_MONTHS = 12
PERIODS = ("12", "6", "3")
NOT_APPLICABLE = "\u2013"  # en dash: none or not applicable
NOT_SHOWN = "/"  # not broken down this far (too few children), as in official statistics

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


def month_node(month: dt.date) -> tuple[str, str]:
    return ("month", month.strftime("%Y-%m"))


def target_node(target: str) -> tuple[str, str]:
    return ("target", target)


def group_node(target: str, group: str) -> tuple[str, str]:
    if GROUP_TARGET.get(group) != target:
        group = f"{target}:?"
    return ("group", group)


def leaf_group(target: str, group: str) -> str:
    return group if GROUP_TARGET.get(group) == target else f"{target}:?"


def reason_node(reason: str) -> tuple[str, str]:
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


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def month_dimension(window: Window) -> Dimension:
    """Months with the periods as subtotals: 12 = 1-6 + (6 = 7-9 + (3 = 10-12))."""
    m = [month_node(d) for d in window.months]
    return Dimension("month", {TOTAL: [*m[:6], P6], P6: [*m[6:9], P3], P3: m[9:]})


def block_dimension() -> Dimension:
    """The same periods without single months (referral outcomes per period)."""
    return Dimension("block", {TOTAL: [EARLY_BLOCK, P6], P6: [MIDDLE_BLOCK, P3]})


def district_dimension(district_ids: Iterable[int]) -> Dimension:
    return Dimension("district", [*(("district", d) for d in district_ids), UNKNOWN_DISTRICT])


def target_dimension() -> Dimension:
    return Dimension("target", [target_node(t) for t in TARGETS])


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


def groups_of(target: str) -> list[str]:
    return [*(g for g, t in GROUP_TARGET.items() if t == target), f"{target}:?"]


def bands_of(target: str) -> list[str]:
    return list(dict.fromkeys(band_of(g) for g in groups_of(target)))


def group_dimension() -> Dimension:
    """Grade or age group under its age band under its target type (subtotals)."""
    tree: dict[Any, list[Any]] = {TOTAL: [target_node(t) for t in TARGETS]}
    for target in TARGETS:
        tree[target_node(target)] = [("band", b) for b in bands_of(target)]
        for band in bands_of(target):
            tree[("band", band)] = [("group", g) for g in groups_of(target) if band_of(g) == band]
    names: dict[Any, tuple[str, Any]] = {
        target_node(t): ("target", target_node(t)) for t in TARGETS
    }
    return Dimension("group", tree, key_names=names)


def outcome_dimension() -> Dimension:
    reasons = [("reason", r) for r in DeclineReason.values]
    return Dimension(
        "outcome", {TOTAL: [ACCEPTED, DECLINED, EXPIRED, WITHDRAWN], DECLINED: reasons}
    )


# Offer registrations: requested, confirmed (not started yet), started (attending, ended or
# dropped out), declined, withdrawn; "confirmed" in the tables is the subtotal of the
# confirmed and the started ones. One additive dimension, so that "registered",
# "confirmed" and "started" are cells of one protected cube and cannot be subtracted from
# each other to reveal a hidden count.
OFFER_REQUESTED = ("stage", "requested")
OFFER_CONFIRMED = ("stage", "confirmed")  # the subtotal: confirmed, then maybe started
OFFER_CONFIRMED_ONLY = ("stage", "confirmed_only")
OFFER_STARTED = ("stage", "started")
OFFER_DECLINED = ("stage", "declined")
OFFER_WITHDRAWN = ("stage", "withdrawn")


def offer_kind_node(kind: str) -> tuple[str, str]:
    return ("offer_kind", kind if kind in OfferKind.values else OfferKind.OTHER.value)


def offer_kind_dimension() -> Dimension:
    return Dimension("offer_kind", [offer_kind_node(k) for k in OfferKind.values])


def offer_stage_dimension() -> Dimension:
    return Dimension(
        "stage",
        {
            TOTAL: [OFFER_REQUESTED, OFFER_CONFIRMED, OFFER_DECLINED, OFFER_WITHDRAWN],
            OFFER_CONFIRMED: [OFFER_CONFIRMED_ONLY, OFFER_STARTED],
        },
    )
