"""The page's sections, built from the computed figures: tables, charts and notes.

``PageBuilder`` puts together the sections (``capacity.py``: places and children waiting
today; ``placement.py``: registered, placed and waiting per month; ``outcomes.py``: referral
outcomes; ``offers.py``: registrations for education offers) on the helpers of ``base.py``,
which read only published cells.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from monitoring.dimensions import NOT_APPLICABLE, NOT_SHOWN
from monitoring.disclosure import SYMBOL
from monitoring.sections.capacity import CapacitySections
from monitoring.sections.offers import OfferSections
from monitoring.sections.outcomes import OutcomeSections
from monitoring.sections.placement import PlacementSections
from monitoring.tables import FiguresPage


class PageBuilder(CapacitySections, PlacementSections, OutcomeSections, OfferSections):
    """Builds the page for one header from the computed figures: its sections and notes."""

    def build(self) -> FiguresPage:
        sections = [self.capacity(), self.placement(), self.referrals(), self.offers()]
        return FiguresPage(header=self.header, sections=sections, footnotes=self.footnotes())

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
