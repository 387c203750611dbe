"""Keeping the figures fresh: the worker's computation and the page's request for one.

The protected figures take seconds at state scale, so no request waits for them: the worker
computes them (``refresh_figures``: every few minutes from beat, or queued by
``figures_header_kept_fresh`` when they are missing or older than ``CACHE_SECONDS``, one
computation at a time under the lock of ``monitoring.cache``). Until a fresh set is ready the
page shows the last one with the time it was computed; only when none is cached does it say
that the figures are being prepared.

The computation is queued by its task name (``queue_computation``): this module does not
import ``monitoring.tasks`` (which imports this one), so there is no import cycle.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from celery import current_app
from django.utils import timezone

from monitoring import cache as figure_cache
from monitoring import protection
from monitoring.cache import COMPUTE_LOCK_SECONDS
from monitoring.computation import figure_data
from monitoring.dimensions import PERIODS, FigureFilters
from monitoring.pages import figures_header, figures_page
from monitoring.tables import FiguresHeader

logger = logging.getLogger(__name__)

COMPUTE_FIGURES_TASK = "monitoring.tasks.compute_figures"


def queue_computation(token: str) -> None:
    """Queue ``compute_figures(token)`` for the worker (raises when the broker is down).

    Looked up by name in the app's registry (``MonitoringConfig.ready`` registers the tasks),
    so eager mode (tests, development) runs it at once. Not on_commit: a page is a read, and
    the task reads committed data only. No retries: the page does not wait for a broker that
    is down."""
    task = current_app.tasks[COMPUTE_FIGURES_TASK]
    task.apply_async(args=(token,), retry=False, expires=COMPUTE_LOCK_SECONDS)


def refresh_figures(today: dt.date | None = None) -> int:
    """Compute the figures afresh and build the first page of every period in both
    languages into the cache (the worker's job). Returns the number of pages built."""
    from django.utils import translation

    today = today or timezone.localdate()
    figure_data(today, refresh=True, processes=protection.default_processes())
    built = 0
    for language in ("de", "en"):
        with translation.override(language):
            for period in PERIODS:
                figures_page(FigureFilters(period=period), today=today, district_page=1)
                built += 1
    return built


def figures_header_kept_fresh(
    filters: FigureFilters, *, district_page: int | None = None
) -> FiguresHeader:
    """The header for the figures page; queues a computation of the figures when none are
    cached or they are older than ``CACHE_SECONDS`` (one at a time). The header's
    ``computed_at`` is None while nothing is computed yet: the page then says so.

    With a cache of its own (no ``CACHE_URL``) the worker's figures would never reach this
    process: it computes them itself, as it must without a broker. With a shared cache that
    does not answer, the header says ``compute_here``: the page computes them in the request.
    """
    header = figures_header(filters, district_page=district_page)
    if header.computed_at is not None and not header.is_stale:
        return header
    if not figure_cache.cache_is_shared():
        figure_data(header.as_of, header.district_choices, refresh=True)
        return figures_header(filters, district_page=district_page)
    token = figure_cache.claim_computation()
    if token is None and header.computed_at is None and not figure_cache.computation_running():
        # The cache does not answer (down: nothing read, no lock taken): nothing the worker
        # computes could reach this page, so the page computes the figures itself, as without
        # a shared cache, instead of saying "being prepared" for as long as the outage lasts.
        return replace(header, compute_here=True)
    if token is not None:
        try:
            queue_computation(token)
        except Exception:
            # No broker, so no worker: this request computes them, holding the lock (other
            # requests meanwhile show what they have).
            logger.exception("figures: could not queue their computation; computing here")
            try:
                figure_data(header.as_of, header.district_choices, refresh=True)
            finally:
                figure_cache.release_computation(token)
    if header.computed_at is None or token is not None:
        # Computed already when tasks run eagerly (development, tests) or just above.
        header = figures_header(filters, district_page=district_page)
    return header
