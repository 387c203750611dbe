"""Celery tasks of the project level: keeping the management figures warm."""

from __future__ import annotations

from celery import shared_task
from django.utils import translation


@shared_task(name="coordination.tasks.warm_figures", acks_late=True, ignore_result=True)
def warm_figures() -> int:
    """Compute the unfiltered figures pages (every period, both languages) into the cache.

    The disclosure control takes seconds at state scale; with a shared cache (CACHE_URL on
    Redis, as in docker compose) nobody waits for it. Returns the number of pages warmed.
    """
    from coordination import summaries

    warmed = 0
    for language in ("de", "en"):
        with translation.override(language):
            for period in summaries.PERIODS:
                # The first page of districts, as the figures page opens (the data behind
                # every page and export is cached with it).
                summaries.figures_page(summaries.parse_filters({"period": period}), district_page=1)
                warmed += 1
    return warmed
