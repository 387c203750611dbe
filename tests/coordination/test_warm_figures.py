"""The beat task that keeps the management figures in the cache."""

from __future__ import annotations

from django.core.cache import cache
from django.test.utils import CaptureQueriesContext

from coordination import summaries
from coordination.tasks import warm_figures


def test_warming_fills_the_cache_so_the_page_needs_no_figure_queries(db, settings) -> None:
    from django.db import connection

    cache.clear()
    assert warm_figures() == 2 * len(summaries.PERIODS)
    with CaptureQueriesContext(connection) as ctx:
        summaries.figures_page(summaries.parse_filters({"period": "12"}))
    cold = len(ctx.captured_queries)
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        summaries.figures_page(summaries.parse_filters({"period": "12"}))
    assert cold < len(ctx.captured_queries)


def test_the_beat_schedule_warms_more_often_than_the_cache_expires(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["warm-figures"]
    assert entry["task"] == "coordination.tasks.warm_figures"
    assert entry["schedule"] < summaries.CACHE_SECONDS
