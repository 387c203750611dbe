"""The referrals section: referrals made in the period by outcome, decline reasons for the
whole city only, and answers within the target time."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from monitoring.dimensions import ACCEPTED, DECLINED, EXPIRED, WITHDRAWN, target_node
from monitoring.disclosure import TOTAL
from monitoring.sections.base import BuilderBase, target_label
from monitoring.tables import Row, Section, Table
from referrals.models import (
    DeclineReason,
)


class OutcomeSections(BuilderBase):
    """Referrals made in the period by their outcome."""

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
            target_label(self.filters.target)
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
            (target_label(t), self.dsel, target_node(t), False) for t in self.targets
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
