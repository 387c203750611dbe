"""The offers section: registrations for education offers made in the period, confirmed and
started, by kind of offer (the whole city) and by the offer's district (all kinds)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from monitoring.dimensions import NOT_APPLICABLE, OFFER_CONFIRMED, OFFER_STARTED, offer_kind_node
from monitoring.disclosure import TOTAL
from monitoring.sections.base import BuilderBase
from monitoring.tables import Cell, Row, Section, Table
from offers.models import OfferKind


class OfferSections(BuilderBase):
    """Registrations of children for offers (not places: a child may have several)."""

    def offers(self) -> Section:
        cube = self.data.offers
        stages = [
            (TOTAL, gettext("Registered")),
            (OFFER_CONFIRMED, gettext("Confirmed")),
            (OFFER_STARTED, gettext("Started")),
        ]
        columns = [label for _node, label in stages]

        def cells(district: Any, kind: Any) -> list[Cell]:
            if cube is None:
                return [Cell(NOT_APPLICABLE, None) for _ in stages]
            return [self.count(cube, (self.period, district, kind, s)) for s, _l in stages]

        kind_rows = [
            Row(str(label).capitalize(), cells(TOTAL, offer_kind_node(value)))
            for value, label in OfferKind.choices
        ]
        kind_rows.append(Row(gettext("All kinds"), cells(TOTAL, TOTAL), total=True))
        by_kind = Table(
            key="offers-kinds",
            caption=gettext("Registrations for offers by kind of offer: the whole city"),
            row_label=gettext("Kind of offer"),
            columns=columns,
            rows=kind_rows,
        )
        district_rows = [
            Row(name, cells(d, TOTAL))
            for d, name in self.districts()
            if self.filters.district
            or cube is None
            or self.nonzero(cube, (self.period, d, TOTAL, TOTAL))
        ]
        if not self.filters.district:
            district_rows.append(Row(gettext("Total"), cells(TOTAL, TOTAL), total=True))
        by_district = Table(
            key="offers-districts",
            caption=gettext("Registrations for offers by the offer's district: all kinds"),
            row_label=gettext("District"),
            columns=columns,
            rows=district_rows,
        )
        return Section(
            key="offers",
            title=gettext("Education offers"),
            intro=gettext(
                "Registrations of children for education offers (German courses, homework "
                "help, holiday programmes and more) made in the period: registered, confirmed "
                "by the provider, and started. An offer is not a school or Kita place; a child "
                "can be registered for several. Kinds of offer are shown for the whole city "
                "only; the target type filter does not apply here."
            ),
            tables=[by_kind, by_district],
        )
