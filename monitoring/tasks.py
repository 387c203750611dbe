"""Celery tasks of the figures: computing them off the request path.

Thin: they take the computation lock's token (or take the lock) and call
``monitoring.refresh``; the page queues ``compute_figures`` by its name, so this module is
the only one that imports the other way round.
"""

from __future__ import annotations

from celery import shared_task

from monitoring import cache as figure_cache
from monitoring import refresh


@shared_task(name="monitoring.tasks.compute_figures", acks_late=True, ignore_result=True)
def compute_figures(token: str) -> int:
    """Compute the figures now, queued by a page that found them missing or stale and took
    the lock (``token``), released here. Returns the number of pages built."""
    return _refresh(token)


def _refresh(token: str) -> int:
    try:
        with figure_cache.keeping_computation(token):
            built = refresh.refresh_figures()
    except BaseException:
        figure_cache.release_computation(token, failed=True)
        raise
    figure_cache.release_computation(token)
    return built


@shared_task(name="monitoring.tasks.warm_figures", acks_late=True, ignore_result=True)
def warm_figures() -> int:
    """Recompute the figures and the first page of every period in both languages (beat,
    more often than they go stale), so nobody waits for the disclosure control, which takes
    seconds at state scale. Skipped while another computation runs, and without a shared
    cache (``CACHE_URL``). Returns the number of pages built."""
    if not figure_cache.cache_is_shared():
        return 0  # its own cache: no web process would ever read what it computes
    token = figure_cache.claim_computation()
    if token is None:
        return 0
    return _refresh(token)
