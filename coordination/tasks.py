"""Celery tasks of the project level: computing the management figures off the request path."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="coordination.tasks.compute_figures", acks_late=True, ignore_result=True)
def compute_figures(token: str) -> int:
    """Compute the figures now, queued by a page that found them missing or stale and took
    the lock (``token``), released here. Returns the number of pages built."""
    return _refresh(token)


def _refresh(token: str) -> int:
    from coordination import summaries

    try:
        built = summaries.refresh_figures()
    except BaseException:
        summaries.release_computation(token, failed=True)
        raise
    summaries.release_computation(token)
    return built


@shared_task(name="coordination.tasks.warm_figures", acks_late=True, ignore_result=True)
def warm_figures() -> int:
    """Recompute the figures and the first page of every period in both languages (beat,
    more often than they go stale), so nobody waits for the disclosure control, which takes
    seconds at state scale. Skipped while another computation runs, and without a shared
    cache (``CACHE_URL``). Returns the number of pages built."""
    from coordination import summaries

    if not summaries.cache_is_shared():
        return 0  # its own cache: no web process would ever read what it computes
    token = summaries.claim_computation()
    if token is None:
        return 0
    return _refresh(token)


@shared_task(name="coordination.tasks.send_audit_head", acks_late=True, ignore_result=True)
def send_audit_head() -> int:
    """Nightly: verify the audit log and send its head to the data-protection officer
    (coordination/audit_head.py). Returns the head entry's id."""
    from coordination.audit_head import audit_head_send

    return audit_head_send().id
