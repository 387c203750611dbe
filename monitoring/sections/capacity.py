"""The capacity section: free and reserved places, children waiting and referrals pending
today, by district, by age band and grade or age group, by institution kind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import (
    Max,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from coordination.models import OfficeSettings
from monitoring.dimensions import (
    GROUP_TARGET,
    band_of,
    bands_of,
    groups_of,
    month_node,
    target_node,
)
from monitoring.disclosure import TOTAL
from monitoring.sections.base import BuilderBase, band_label, group_label, target_label
from monitoring.tables import Cell, Row, Section, Table
from referrals.models import (
    Institution,
    InstitutionKind,
    target_for_kind,
)


class CapacitySections(BuilderBase):
    """Places and children waiting today: by district, age band and group, institution kind."""

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
            node = target_node(target)
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
                    % {"target": target_label(target)},
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
            target_places = places(groups_of(target))
            rows.append(
                self._demand_row(
                    target_label(target), target_node(target), target_places, total=True
                )
            )
            for band in bands_of(target):
                groups = [g for g in groups_of(target) if band_of(g) == band]
                band_places = places(groups)
                if empty(("band", band), band_places):
                    continue
                rows.append(
                    self._demand_row(band_label(band), ("band", band), band_places, level=1)
                )
                if self.filters.district or len(groups) == 1:
                    continue  # grades are shown for the whole city only
                for group in groups:
                    group_places = places([group])
                    if not empty(("group", group), group_places):
                        rows.append(
                            self._demand_row(
                                group_label(group), ("group", group), group_places, level=2
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
        current = month_node(self.window.current)
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
