"""The figures page: its header (cheap: filters, choices, cache key) and the page itself.

Pages and exports are cached under a key holding the date, the thresholds, the districts,
the filters, the language and the time the figures were computed. ``figures_header`` is
cheap (no figure computed), so a cached page fragment or export never loads the page object.
A state has hundreds of districts: the page shows them ``DISTRICTS_PER_PAGE`` at a time (in
alphabetical order, the totals always for all of them); exports and the print view hold every
district. Paging only selects rows of the same protected tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from django.core.cache import cache
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext

from coordination.models import OfficeSettings
from monitoring import disclosure
from monitoring.cache import PAGE_SECONDS, district_list, figures_data_key
from monitoring.computation import figure_data
from monitoring.dimensions import PERIOD_LABELS, PERIODS, TARGETS, FigureFilters, Window
from monitoring.sections import PageBuilder
from monitoring.sections.base import target_label
from monitoring.tables import DISTRICTS_PER_PAGE, FiguresHeader, FiguresPage


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
            target_label(filters.target) if filters.target else gettext("all"),
        ),
    ]
    pages = max(1, -(-len(districts) // DISTRICTS_PER_PAGE))
    if filters.district is not None or district_page is None or pages == 1:
        district_page = None
    else:
        district_page = min(max(1, district_page), pages)
    data_key = figures_data_key(today, threshold, office.reminder_1_days, districts)
    return FiguresHeader(
        title=gettext("Figures"),
        as_of=today,
        filters=filters,
        filter_labels=labels,
        threshold=threshold,
        period_choices=[(p, str(PERIOD_LABELS[p])) for p in PERIODS],
        district_choices=districts,
        target_choices=[(t, target_label(t)) for t in TARGETS],
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
        page = PageBuilder(data, header).build()
        if keep:
            cache.set(header.cache_key, page, PAGE_SECONDS)
    return page


# Above this many districts the figures filter asks for a name instead of listing them all
# (a nationwide installation has thousands: the list alone was 200 KiB of every page).
DISTRICT_LIST_LIMIT = 300


def district_named(name: str) -> int | None:
    """The district called ``name`` (any case; a unique beginning of a name will do)."""
    wanted = name.strip().casefold()
    if not wanted:
        return None
    districts = district_list()
    exact = [pk for pk, label in districts if label.casefold() == wanted]
    if exact:
        return exact[0]
    starting = [pk for pk, label in districts if label.casefold().startswith(wanted)]
    return starting[0] if len(starting) == 1 else None
