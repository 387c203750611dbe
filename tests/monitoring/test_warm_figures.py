"""The figures are computed by the worker: the beat task refreshes them, a page that finds
them missing or stale queues their computation (once) and never computes them itself."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring import cache as figure_cache
from monitoring import (
    computation,
    dimensions,
    pages,
    refresh,
    tasks,
)
from monitoring.tasks import compute_figures, warm_figures
from tests.monitoring.test_figures_views import html_tables
from tests.monitoring.test_summaries import NOW, ready, world  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def empty_cache(settings):  # type: ignore[no-untyped-def]
    # A local-memory cache of this process, whatever CACHE_URL says: these tests travel in
    # time (Redis expiries would not follow) and choose "shared" or "not shared" themselves.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "warm-figures-tests"}
    }  # fmt: skip
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_cache(monkeypatch):  # type: ignore[no-untyped-def]
    """As with CACHE_URL on Redis: the worker and the web processes share the cache."""
    monkeypatch.setattr(figure_cache, "cache_is_shared", lambda: True)


@pytest.fixture
def worker_elsewhere(monkeypatch, shared_cache):  # type: ignore[no-untyped-def]
    """Tasks go to a worker instead of running eagerly: the lock tokens of the queued
    computations (the worker runs ``compute_figures(token)``)."""
    queued: list[str] = []

    def apply_async(args: tuple[str], **options: object) -> None:
        queued.append(args[0])

    monkeypatch.setattr(compute_figures, "apply_async", apply_async)
    return queued


@pytest.fixture
def figures_world(world):  # type: ignore[no-untyped-def]  # noqa: F811
    with time_machine.travel(NOW - dt.timedelta(days=30), tick=False):
        for _ in range(4):
            ready(world, "north")
    return world


def test_warming_fills_the_cache_so_the_page_needs_no_figure_queries(db, shared_cache) -> None:
    from django.db import connection

    assert warm_figures() == 2 * len(dimensions.PERIODS)
    with CaptureQueriesContext(connection) as ctx:
        pages.figures_page(dimensions.parse_filters({"period": "12"}), district_page=1)
    warm = len(ctx.captured_queries)
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        pages.figures_page(dimensions.parse_filters({"period": "12"}), district_page=1)
    assert warm < len(ctx.captured_queries)


def test_the_beat_task_recomputes_figures_that_are_still_cached(
    figures_world, shared_cache
) -> None:
    with time_machine.travel(NOW, tick=False):
        warm_figures()
        assert computation.figure_data().computed_at == NOW
    later = NOW + dt.timedelta(minutes=4)
    with time_machine.travel(later, tick=False):
        assert warm_figures() == 2 * len(dimensions.PERIODS)
        assert computation.figure_data().computed_at == later
        header = pages.figures_header(dimensions.FigureFilters(), district_page=1)
        assert header.computed_at == later
        assert not header.is_stale


def test_the_beat_task_skips_while_another_computation_runs(figures_world, shared_cache) -> None:
    token = figure_cache.claim_computation()
    assert token
    assert warm_figures() == 0
    assert pages.figures_header(dimensions.FigureFilters()).computed_at is None
    figure_cache.release_computation("someone else's token")  # not the owner: still locked
    assert warm_figures() == 0
    figure_cache.release_computation(token)
    assert warm_figures() == 2 * len(dimensions.PERIODS)


def test_a_failed_computation_is_not_retried_at_once(  # type: ignore[no-untyped-def]
    figures_world, shared_cache, monkeypatch
) -> None:
    def broken(today: object = None) -> int:
        raise RuntimeError("database gone")

    monkeypatch.setattr(refresh, "refresh_figures", broken)
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(RuntimeError):
            warm_figures()
        assert figure_cache.claim_computation() is None  # backing off
    later = NOW + dt.timedelta(seconds=figure_cache.FAILED_BACKOFF_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        monkeypatch.undo()
        monkeypatch.setattr(figure_cache, "cache_is_shared", lambda: True)
        assert warm_figures() == 2 * len(dimensions.PERIODS)


def test_a_page_without_figures_queues_one_computation_and_says_so(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, worker_elsewhere
) -> None:
    client.force_login(management_user)
    with time_machine.travel(NOW, tick=False):
        first = client.get(reverse("figures"))
        again = client.get(reverse("figures"), {"period": "3"})
    for response in (first, again):
        assert response.status_code == 200
        assert "werden gerade berechnet" in response.content.decode()
        assert html_tables(response.content.decode()) == []
    assert len(worker_elsewhere) == 1  # the second request found it queued
    assert pages.figures_header(dimensions.FigureFilters()).computed_at is None

    with time_machine.travel(NOW + dt.timedelta(seconds=40), tick=False):
        compute_figures(worker_elsewhere[0])  # the worker
        token = figure_cache.claim_computation()  # the task released its lock
        assert token
        figure_cache.release_computation(token)
        ready_page = client.get(reverse("figures"))
    html = ready_page.content.decode()
    assert "werden gerade berechnet" not in html
    assert html_tables(html)
    assert "berechnet um 10:00 Uhr" in html  # the time of the computation, Berlin time
    assert len(worker_elsewhere) == 1


def test_the_beat_task_does_nothing_without_a_shared_cache(figures_world) -> None:
    assert warm_figures() == 0
    assert pages.figures_header(dimensions.FigureFilters()).computed_at is None


def test_stale_figures_are_shown_while_fresh_ones_are_computed(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, worker_elsewhere
) -> None:
    client.force_login(management_user)
    with time_machine.travel(NOW, tick=False):
        warm_figures()
    stale = NOW + dt.timedelta(seconds=figure_cache.CACHE_SECONDS + 60)
    with time_machine.travel(stale, tick=False):
        response = client.get(reverse("figures"))
        assert html_tables(response.content.decode())
        assert "berechnet um 10:00 Uhr" in response.content.decode()
        assert len(worker_elsewhere) == 1
        compute_figures(worker_elsewhere[0])
        fresh = client.get(reverse("figures"))
    assert "berechnet um 10:06 Uhr" in fresh.content.decode()
    assert len(worker_elsewhere) == 1


def test_without_a_broker_the_page_computes_the_figures_itself(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, monkeypatch, shared_cache
) -> None:
    def broker_down(*args: object, **options: object) -> None:
        raise ConnectionError("no broker")

    monkeypatch.setattr(compute_figures, "apply_async", broker_down)
    client.force_login(management_user)
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("figures"))
    assert html_tables(response.content.decode())
    token = figure_cache.claim_computation()  # not left locked
    assert token
    figure_cache.release_computation(token)
    with time_machine.travel(NOW + dt.timedelta(minutes=20), tick=False):
        stale = client.get(reverse("figures"))
    assert "berechnet um 10:20 Uhr" in stale.content.decode()


def test_with_a_cache_of_its_own_the_page_computes_the_figures_itself(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, monkeypatch
) -> None:
    # Local memory (no CACHE_URL): the worker's figures would never reach the web process.
    assert not figure_cache.cache_is_shared()
    queued: list[object] = []
    monkeypatch.setattr(compute_figures, "apply_async", lambda *a, **kw: queued.append(a))
    client.force_login(management_user)
    with time_machine.travel(NOW, tick=False):
        first = client.get(reverse("figures"))
    with time_machine.travel(NOW + dt.timedelta(minutes=20), tick=False):
        later = client.get(reverse("figures"))
    assert html_tables(first.content.decode())
    assert "berechnet um 10:00 Uhr" in first.content.decode()
    assert "berechnet um 10:20 Uhr" in later.content.decode()
    assert queued == []


def test_a_filter_sent_while_the_figures_are_prepared_replaces_the_whole_page(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, worker_elsewhere
) -> None:
    # The filter form swaps #figures-content, which the waiting page does not have: the
    # response tells htmx to swap the whole main element instead (which then polls).
    client.force_login(management_user)
    response = client.get(reverse("figures"), {"period": "3"}, headers={"HX-Request": "true"})
    assert "werden gerade berechnet" in response.content.decode()
    assert response["HX-Retarget"] == "#main"
    assert response["HX-Reselect"] == "#main"
    assert response["HX-Reswap"] == "outerHTML"
    assert 'hx-trigger="every 5s"' in response.content.decode()


def test_exports_and_the_print_view_compute_missing_figures(  # type: ignore[no-untyped-def]
    client, management_user, figures_world, worker_elsewhere
) -> None:
    client.force_login(management_user)
    csv = client.get(reverse("figures_export"), {"format": "csv"})
    assert csv.status_code == 200
    assert "Nord" in csv.content.decode()
    cache.clear()
    printed = client.get(reverse("figures_print"))
    assert html_tables(printed.content.decode())
    assert worker_elsewhere == []


def test_the_beat_schedule_refreshes_before_the_figures_go_stale(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["warm-figures"]
    assert entry["task"] == "monitoring.tasks.warm_figures"
    assert entry["schedule"] < figure_cache.CACHE_SECONDS
    assert tasks.compute_figures.name == "monitoring.tasks.compute_figures"


def test_a_long_computation_keeps_its_lock_and_lets_it_go_afterwards(monkeypatch) -> None:
    """A nationwide computation outlives COMPUTE_LOCK_SECONDS: the lock is renewed while it
    runs (no second computation starts beside it) and expires normally once it stops."""
    import time

    monkeypatch.setattr(figure_cache, "COMPUTE_LOCK_SECONDS", 1)
    token = figure_cache.claim_computation()
    assert token
    with figure_cache.keeping_computation(token, every=0.2):
        time.sleep(1.6)  # longer than the lock's lifetime
        assert figure_cache.claim_computation() is None  # still held: renewed
    time.sleep(1.3)  # no longer renewed: it expires as a dead worker's would
    assert figure_cache.claim_computation() is not None


def test_the_lock_of_another_computation_is_never_renewed(monkeypatch) -> None:
    import time

    monkeypatch.setattr(figure_cache, "COMPUTE_LOCK_SECONDS", 1)
    assert figure_cache.claim_computation()  # someone else's
    with figure_cache.keeping_computation("not the owner", every=0.2):
        time.sleep(1.6)
        assert figure_cache.claim_computation() is not None  # theirs expired, not extended
