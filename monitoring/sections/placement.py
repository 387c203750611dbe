"""The placement section: children registered, placed and waiting per month with medians
and 90th percentiles of days, and its charts; for one district the whole period only."""

from __future__ import annotations

from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext

from monitoring import charts
from monitoring.dimensions import PERIOD_LABELS, TARGETS, month_node, target_node
from monitoring.disclosure import TOTAL
from monitoring.sections.base import BuilderBase, month_label, na_cell, target_label
from monitoring.tables import Row, Section, Table


class PlacementSections(BuilderBase):
    """Children registered, placed and waiting per month (or, for one district, per period)."""

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
            [(self.tsel, target_label(self.filters.target))]
            if self.filters.target
            else [
                (TOTAL, gettext("all target types")),
                *((target_node(t), target_label(t)) for t in TARGETS),
            ]
        )
        tables = []
        for node, label in nodes:
            rows = []
            for month in self.months:
                m = month_node(month)
                a = self.durations.to_placement.get((m, node), (None, None))
                b = self.durations.without_place.get((m, node), (None, None))
                index = (m, TOTAL, node)
                rows.append(
                    Row(
                        month_label(self.window, month),
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
                na_cell(),
                *self.days(a, self.data.placed, index),
                na_cell(),
                na_cell(),
            ],
            total=True,
        )

    def placement_in_district(self) -> Section:
        """One district: the whole period by target type (its months are too small to show)."""
        current = month_node(self.window.current)
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
