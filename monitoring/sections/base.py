"""What every section builds on: cells as shown, labels, and the builder's helpers, which
read only published cells (a count, "•" when hidden, "/" when never shown at that level)."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext

from cases.models import (
    Group,
    TargetType,
)
from monitoring import disclosure
from monitoring.computation import FigureData
from monitoring.dimensions import (
    BAND_LABELS,
    NOT_APPLICABLE,
    NOT_SHOWN,
    TARGETS,
    UNKNOWN_DISTRICT,
    Window,
    target_node,
)
from monitoring.disclosure import SYMBOL, TOTAL, PublishedTable
from monitoring.durations import durations
from monitoring.tables import Cell, FiguresHeader
from referrals.models import (
    target_for_kind,
)


def count_cell(value: int | None) -> Cell:
    if value is None:
        return Cell(SYMBOL, None, suppressed=True)
    return Cell(str(value), value)


def days_cell(value: float | None, *, population: int | None, threshold: int) -> Cell:
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


def na_cell() -> Cell:
    return Cell(NOT_APPLICABLE, None, numeric=False)


def month_label(window: Window, month: dt.date) -> str:
    label = date_format(month, "F Y")
    if month == window.current:
        return gettext("%(month)s (so far)") % {"month": label}
    return label


def target_label(target: str) -> str:
    return str(TargetType(target).label)


def band_label(band: str) -> str:
    if band in BAND_LABELS:
        return str(BAND_LABELS[band])
    return gettext("grade or age group not yet known")


def group_label(group: str) -> str:
    if group in Group.values:
        return str(Group(group).label)
    return gettext("grade or age group not yet known")


class BuilderBase:
    def __init__(self, data: FigureData, header: FiguresHeader) -> None:
        filters = header.filters
        self.header = header
        self.data, self.filters, self.window = data, filters, data.window
        self.t = data.threshold
        self.names = dict(data.districts)
        self.dsel: Any = ("district", filters.district) if filters.district else TOTAL
        self.targets = [filters.target] if filters.target else TARGETS
        self.tsel: Any = target_node(filters.target) if filters.target else TOTAL
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
        nodes: list[tuple[Any, str]] = [(target_node(t), target_label(t)) for t in self.targets]
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
    def count(cube: PublishedTable, index: tuple[Any, ...]) -> Cell:
        """A count as published: the number, the symbol if hidden, "/" if never shown here."""
        published, shown = cube.look(index)
        if not published:
            return Cell(NOT_SHOWN, None)
        return count_cell(shown)

    @staticmethod
    def nonzero(cube: PublishedTable, index: tuple[Any, ...]) -> bool:
        """Whether a published count is above 0 (a hidden count is: zeros are shown). Never
        looks at a cell that is not published."""
        published, shown = cube.look(index)  # zeros are never hidden: a hidden count is > 0
        return published and (shown is None or shown > 0)

    def days(
        self,
        values: tuple[float | None, float | None],
        cube: PublishedTable,
        index: tuple[Any, ...],
    ) -> list[Cell]:
        """Median and 90th percentile over the children a (published) count counts."""
        if not cube.is_published(index):
            return [Cell(NOT_SHOWN, None), Cell(NOT_SHOWN, None)]
        population = cube.shown(index)
        return [days_cell(v, population=population, threshold=self.t) for v in values]

    # --- sections ---
